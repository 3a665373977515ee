"""eventsourcing tracking records: the position an application has processed.

In a transaction a record is written with the events it belongs to. A staged
commit (standalone servers) cannot write two documents atomically, so it puts
the record in the store document (`pending_tracking`) with the same update that
commits the events; it is then applied to `tracking` by the writer, or, if that
one died, by whoever takes the write lock next. Reads take the larger of both.
"""

from __future__ import annotations

import uuid

from eventsourcing.persistence import IntegrityError, Tracking
from pymongo.client_session import ClientSession

from eventstate.backends.mongo.context import Context, Session
from eventstate.backends.mongo.documents import STORE_ID, Doc


class TrackingRecords:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    def value(self, application_name: str, doc: Doc, session: Session) -> int | None:
        """The recorded position (doc: the store document, for a pending record)."""
        values: list[int] = []
        found = self.ctx.tracking.find_one({"_id": application_name}, session=session)
        if found is not None:
            values.append(int(found["notification_id"]))
        pending = doc.get("pending_tracking")
        if pending and pending.get("app") == application_name:
            values.append(int(pending["id"]))
        return max(values) if values else None

    def recorded_by(self, tracking: Tracking, batch: str, session: Session) -> bool:
        """Whether this very write (`batch`) recorded it already (a retry after a
        lost reply)."""
        found = self.ctx.tracking.find_one({"_id": tracking.application_name}, session=session)
        return (
            found is not None
            and found.get("batch") == batch
            and found.get("notification_id") == tracking.notification_id
        )

    def check(self, tracking: Tracking, doc: Doc, session: Session) -> None:
        """Raise unless the record is beyond the recorded one."""
        current = self.value(tracking.application_name, doc, session)
        if current is not None and current >= tracking.notification_id:
            raise IntegrityError(
                f"tracking {tracking.application_name} {tracking.notification_id} is not beyond "
                "the recorded position"
            )

    def write(self, tracking: Tracking, session: Session, batch: str = "") -> None:
        # $max: applying a record twice, or after a later one, changes nothing.
        # (Called after check(), so in a transaction the $max always moves it and
        # `batch` names the write that did.)
        update: Doc = {"$max": {"notification_id": tracking.notification_id}}
        if batch:
            update["$set"] = {"batch": batch}
        self.ctx.tracking.update_one(
            {"_id": tracking.application_name}, update, upsert=True, session=session
        )

    def roll_forward(self, doc: Doc | None) -> Doc:
        """Apply a record a staged commit left pending (idempotent)."""
        ctx = self.ctx
        if doc is None:
            doc = ctx.sessions.run("read the store", lambda s: ctx.store_doc(s))
        pending = doc.get("pending_tracking")
        if not pending:
            return doc
        tracking = Tracking(str(pending["app"]), int(pending["id"]))

        def apply(session: Session) -> None:
            self.write(tracking, session)
            ctx.meta.update_one(
                {
                    "_id": STORE_ID,
                    "pending_tracking.app": tracking.application_name,
                    "pending_tracking.id": tracking.notification_id,
                },
                {"$set": {"pending_tracking": None}},
                session=session,
            )

        ctx.sessions.run("apply a pending tracking record", apply)
        return {**doc, "pending_tracking": None}

    def insert(self, tracking: Tracking) -> None:
        """eventsourcing's insert_tracking: recorded only if beyond the last one."""
        ctx = self.ctx
        if ctx.transactions:
            batch = uuid.uuid4().hex

            def body(session: ClientSession) -> None:
                if self.recorded_by(tracking, batch, session):
                    return
                self.check(tracking, ctx.store_doc(session), session)
                self.write(tracking, session, batch)

            ctx.sessions.transaction("insert tracking", body)
            return
        # Standalone: under the write lock, so a pending record is applied first.
        owner = ctx.lock.new_owner("tracking")
        doc = ctx.lock.take(owner, "tracking")
        try:
            doc = self.roll_forward(doc)

            def write(session: Session) -> None:
                self.check(tracking, doc, session)
                self.write(tracking, session)

            ctx.sessions.run("insert tracking", write)
        finally:
            ctx.lock.release(owner)
