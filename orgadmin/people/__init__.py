"""A customer organization's people: its users, their roles, invitations and API keys, with their
forms, reads and writes at Polytomic."""
