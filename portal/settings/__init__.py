"""Settings of the partner organization portal, by topic.

Everything that differs between a laptop and production comes from the environment (or a `.env`
file beside manage.py), read strictly through `portal.environment.PortalEnv`: a value the portal
does not understand stops start-up with a message that names it. `.env.example` lists every
variable, and the README's table says what each does. A variable is named as the setting it sets;
the few that are not, and the names variables had before, are in `portal.settings.variables`.

- `base`: Django itself, the applications and middleware, the database, the cache, static files,
  logging.
- `organizations`: what the portal does to customer organizations: Polytomic's API, the OIDC
  issuer check, four eyes.
- `signin`: sessions, the proxies in front, staff sign-in (django-allauth, django-axes).
- `security`: cookies, HTTPS and the response headers.
- `mail`: the mail the portal sends (the SMTP server, the sender, the portal's address in links);
  off without EMAIL_URL.
"""

from __future__ import annotations

from portal.settings.base import *  # noqa: F403
from portal.settings.mail import *  # noqa: F403
from portal.settings.organizations import *  # noqa: F403
from portal.settings.security import *  # noqa: F403
from portal.settings.signin import *  # noqa: F403
