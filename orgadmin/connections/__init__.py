"""The partner's connections, as the portal reads and chooses them: what the onboarding's
connections step shares into a new organization (the sharing itself is a task of the flow,
`orgadmin.onboarding.flow`)."""
