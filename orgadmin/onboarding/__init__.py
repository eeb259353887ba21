"""Onboarding a customer in one resumable flow: their organization, the partner's connections
shared into it, its first administrators. `flow` holds the rules; `views`, `pages` and `forms`
its pages."""
