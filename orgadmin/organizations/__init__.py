"""Organizations: the list, an organization's page, create, edit (guarded by the edit guard) and
delete, with their forms, rows, reads and writes at Polytomic."""
