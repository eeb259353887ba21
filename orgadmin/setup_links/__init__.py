"""Customer setup links: the customer's own IT admin enters their organization's OIDC settings
(issuer, client id, client secret) through a one-time link, so that no one on staff handles the
secret, and nothing they enter reaches Polytomic until another Editor or Admin approves it.

- `links`: a link's life on the staff side (made, its token shown once and kept as a SHA-256;
  mailed; revoked; expired), each step an audit entry naming the link and its maker;
- `customer`: the customer's side (the token found or refused, misses counted per address in the
  shared cache; opened; the issuer checked; the submission, which becomes a change request of kind
  "setup" in the maker's name, so that the maker cannot approve it);
- `views`: the staff page of an organization's links; `public`: the pages under /setup/, with
  their own strict Content Security Policy and no cookie; `forms`: both pages' forms.
"""
