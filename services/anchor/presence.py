"""HolderPresence on PostgreSQL: a session advisory lock per anchor replica, named after the
replica (`host:pid`), held on a connection of its own for as long as the process lives. The
server drops a session lock the moment its connection ends — a process killed with SIGKILL
has its socket closed by the kernel — so a lock that can be taken proves its holder is gone.
A holder on a host that vanished (no FIN sent) is seen gone once the server's TCP keepalive
gives up on it (`tcp_keepalives_idle` + count × interval), and never later than the lease's own
expiry. Not through a transaction-pooling proxy (PgBouncer in transaction mode): session locks
need the session."""

import logging
import struct

from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import DBAPIError

from certflow.core.hashing import keccak256
from services.anchor.lease import Presence

log = logging.getLogger(__name__)


def lock_key(holder: str) -> int:
    """The advisory lock's 64-bit key for a holder's name (stable across processes)."""
    (key,) = struct.unpack(">q", keccak256(b"certflow-anchor-holder:" + holder.encode())[:8])
    return int(key)


class PostgresPresence:
    def __init__(self, engine: Engine, holder: str) -> None:
        self._engine = engine
        self._holder = holder
        self._connection: Connection | None = None

    def announce(self) -> Presence:
        if self._connection is not None:
            try:
                self._connection.exec_driver_sql("SELECT 1")
                self._connection.commit()
                return Presence.CONTINUOUS
            except DBAPIError as exc:
                log.warning("the anchor's presence lock was lost with its connection (%s)", exc)
                self._close()
        try:
            connection = self._engine.connect()
        except DBAPIError:
            return Presence.UNAVAILABLE
        try:
            taken = connection.scalar(select(func.pg_try_advisory_lock(lock_key(self._holder))))
            connection.commit()  # the lock is the session's: it outlives the transaction
        except DBAPIError:
            connection.close()
            return Presence.UNAVAILABLE
        if not taken:
            # a stand-by is looking at it this instant (it lets go at once): next pass
            connection.close()
            return Presence.UNAVAILABLE
        self._connection = connection
        return Presence.RESTORED

    def holder_gone(self, holder: str) -> bool:
        key = lock_key(holder)
        with self._engine.connect() as connection:
            taken = bool(connection.scalar(select(func.pg_try_advisory_lock(key))))
            if taken:
                connection.scalar(select(func.pg_advisory_unlock(key)))
            connection.commit()
        return taken

    def release(self) -> None:
        if self._connection is None:
            return
        try:
            self._connection.scalar(select(func.pg_advisory_unlock(lock_key(self._holder))))
            self._connection.commit()
        except DBAPIError:
            pass  # the connection is gone: so is the lock
        self._close()

    def _close(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()  # never back into the pool, lock and all
            finally:
                self._connection = None
