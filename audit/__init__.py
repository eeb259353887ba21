"""The audit log: every call to Polytomic and every step of a feature's work, who asked and what came
of it, in an append-only hash chain.

`protocol` is how a feature writes an entry (`AuditContext`, the one `record(...)`,
`AuditUnavailable`); `store` appends and chains; `verification` walks the chain (in parallel
through `worker_pool`); `guard` is the database's refusal of any change; `retention` prunes.
The app imports nothing of the features nor of Polytomic (import-linter's contracts in
pyproject.toml).
"""
