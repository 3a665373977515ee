"""Building blocks of the MongoDB backend (`eventstate.backends.mongodb`).

- `retry`: which errors are transient, and the bounded tenacity policy.
- `settings`: the store URL (database name, password scrubbing, concerns).
- `documents`: how rows, metadata and the lease look as BSON documents.
- `clock`: the server's clock, measured through `hello`.
- `sessions`: causally consistent sessions and the transaction runner.
- `lock`: the store-wide write lock kept in the store document.
- `sequencing`: version checks and position/hash assignment (pure functions).
- `subscription`: a polling eventsourcing Subscription.
"""
