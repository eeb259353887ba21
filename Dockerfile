# The portal in production: gunicorn on PostgreSQL, against the real Polytomic API.
# Build:   docker build -t organization-portal .
# Migrate: docker run --rm --env-file portal.env organization-portal python manage.py migrate
# Run:     docker run --env-file portal.env -p 8000:8000 organization-portal
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PORT=8000 \
    AUDIT_ANCHOR_FILE=/var/lib/portal-audit/audit-anchor

WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt

COPY . .

# Throwaway values: collectstatic needs settings to load, and no secret belongs in an image.
RUN SECRET_KEY=collectstatic-only POLYTOMIC_PARTNER_API_KEY=collectstatic-only AUDIT_CHAIN_KEY=collectstatic-only \
    python manage.py collectstatic --noinput --verbosity 0 \
    && useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin portal \
    && install -d -o 10001 -g 10001 /var/lib/portal-audit
# verify_audit keeps the head it verified here: mount a volume that outlives the container (README).
VOLUME ["/var/lib/portal-audit"]
USER 10001:10001

EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 CMD ["python", "deploy/healthcheck.py"]
CMD ["gunicorn", "--config", "deploy/gunicorn.conf.py", "portal.wsgi"]
