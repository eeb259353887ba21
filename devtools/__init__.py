"""Tools for developing and measuring the portal, never part of production.

The sandbox (a stand-in for Polytomic), and the `demo`, `sandbox`, `bench` and `seed_audit`
commands. Installed only with DEBUG on or PORTAL_DEVTOOLS set, and left out of the production
image (.dockerignore): what is here serves a fake Polytomic, creates accounts with printed
passwords, or writes audit entries chained with the configured key.
"""
