"""Polytomic's partner API, as the portal speaks it. Its modules, each importing only those below it:

- `client`: `PolytomicClient`, the only code that sends requests to Polytomic, one call at a time;
- `recording`: what the audit log records of a call, masked (`record_attempt`, `record_call`), written
  through `audit.protocol.record`;
- `errors`: the exceptions a call raises, and the mapping from answers to them;
- `transport`: sessions, timeouts, retries, each call's deadline, and the bounded read of answers;
- `fields`: the organization's fields, in one table, and `Organization` / `OrganizationInput`;
- `text`: what is done to Polytomic's text before it is shown or stored.

What public material does not settle about the API is marked "(guess)" where the code relies on it.
"""
