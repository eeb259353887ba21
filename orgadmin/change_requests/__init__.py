"""Four eyes: a change that can lock a customer out (PORTAL_APPROVAL_FOR) waits for a second
person before it is sent.

1. `requesting.request_update` / `request_delete`: instead of sending, the portal records a
   `ChangeRequest`: the exact body, the change summary as the requester confirmed it, the
   organization as it was, who asked and why, and when it expires; the typed client secret
   encrypted (`staff.encryption`).
2. `sending.approve`, by anyone who may approve but the requester (the database refuses a
   requester as decider, `change_request_decided_by_another`): a guarded UPDATE takes the request
   from open to executing, with a deadline (`send_deadline`), so two approvers at once send it
   once. The organization is read again: if it changed since the request, the request is void and
   nothing is sent; otherwise the stored body is sent, exactly, with an Idempotency-Key of this
   send, and the outcome recorded. Polytomic refusing it (a 4xx) leaves the request failed, to be
   sent again.
3. A send whose outcome is not known (no answer, a 5xx, an answer that cannot be read, a 404 to a
   DELETE) is found out at once by reading the organization (`resolving.resolve`). A request is
   *unknown* ("Sent — outcome not known") when that read fails too, when the audit log refuses the
   step that ends a send, or when its sender is gone (a killed worker): still executing past its
   deadline. `resolving.check`, by a person, and `resolving.resolve_unknown`, by the expire
   command, read the organization and compare it with the change and with the organization
   before: the change → executed; as before → failed (nothing took effect: send again or reject);
   anything else → void, saying what was found.
4. `requesting.reject`; `requesting.expire_due` for open requests past their time. A decided
   request's secret is erased (a failed or unknown one keeps it until it is sent, checked,
   rejected or expires).

Every step is an audit entry naming both people, chained with the calls it leads to
(`change_request_id`); each step and its entry are one transaction, or neither (`steps`). The one
exception: when the log refuses the entry that ends a send, the request is marked unknown without
one (the write's attempt, committed before it was sent, already stands in the log), so that it is
not left executing; its check is recorded.

`notify` mails, once a step commits, those who may decide a request that starts waiting and its
requester when it is decided (README, "Mail"). `views` and `forms` are its pages.
"""
