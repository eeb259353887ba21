"""Tools for developing and measuring the portal, never part of production.

Installed only with DEBUG on or PORTAL_DEVTOOLS set, and left out of the production image
(.dockerignore): what is here can write whatever it likes into a database, such as audit entries
chained with the configured key (`seed_audit`).
"""
