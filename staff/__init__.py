"""Staff sign-in: the company's identity provider, local accounts with a second factor, recent
authentication before changes that can lock a customer out, and each staff member's sessions."""
