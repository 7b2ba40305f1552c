"""The signer lease: nonces come from one writer, so two anchor replicas (a scaled Deployment,
an operator's second process) never sign competing transactions for the same wallet."""

import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.anchor.tables import SignerLease


class SignerLeaseHolder:
    def __init__(
        self, sessions: sessionmaker[Session], *, sender: str, holder: str, ttl_seconds: float = 30
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._holder = holder
        self._ttl = ttl_seconds
        self._held_until = 0.0  # monotonic; renewed when half the lease is gone

    def held(self) -> bool:
        """True while this process holds the lease; takes or renews it as needed."""
        if time.monotonic() < self._held_until - self._ttl / 2:
            return True
        taken = self._take()
        self._held_until = time.monotonic() + self._ttl if taken else 0.0
        return taken

    def _take(self) -> bool:
        now = datetime.now(UTC)
        expires = now + timedelta(seconds=self._ttl)
        # the comparison happens in SQL, where both backends order timestamps correctly
        with self._sessions.begin() as session:
            # on the connection: a Core UPDATE's result is a cursor result with rowcount
            result = session.connection().execute(
                update(SignerLease)
                .where(
                    SignerLease.sender_address == self._sender,
                    or_(SignerLease.holder == self._holder, SignerLease.expires_at < now),
                )
                .values(holder=self._holder, expires_at=expires)
            )
            if result.rowcount == 1:
                return True
        try:
            with self._sessions.begin() as session:
                session.execute(
                    insert(SignerLease).values(
                        sender_address=self._sender, holder=self._holder, expires_at=expires
                    )
                )
            return True
        except IntegrityError:
            return False  # another replica holds it

    def release(self) -> None:
        with self._sessions.begin() as session:
            session.execute(
                update(SignerLease)
                .where(
                    SignerLease.sender_address == self._sender, SignerLease.holder == self._holder
                )
                .values(expires_at=datetime(1970, 1, 1, tzinfo=UTC))
                .execution_options(synchronize_session=False)
            )
        self._held_until = 0.0
