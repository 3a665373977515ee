"""Building blocks of the MongoDB backend (`eventstate.backends.mongodb`).

- `settings`: the store URL (database name, password scrubbing, default concerns).
- `retry`: which errors are transient, and the bounded tenacity policy.
- `sessions`: causally consistent sessions and the transaction runner.
- `clock`: the server's clock, measured through `hello`.
- `documents`: how rows, metadata and the lease look as BSON documents.
- `context`: what the parts share (collections, sessions, lock, clock, small queries).
- `lock`: the store-wide write lock kept in the store document.
- `sequencing`: the version rules of appends (pure functions).
- `writer`: the transactional and the staged write paths, and recovery.
- `tracking`: eventsourcing tracking records.
- `lease`: the upgrade lease.
- `subscription`: a polling eventsourcing Subscription.
"""
