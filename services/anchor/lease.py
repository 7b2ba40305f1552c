"""The signer lease: nonces come from one writer, so two anchor replicas (a scaled Deployment,
an operator's second process) never sign competing transactions for the same wallet.

The lease lives in the database (`signer_leases`, behind LeaseStore); this object decides when
to take or renew it, on an injected clock. A holder that dies without releasing it (SIGKILL, a
lost node) blocks its stand-by until the lease runs out (`ttl_seconds`) — unless the stand-by
can prove the holder is gone. On PostgreSQL it can (HolderPresence, services/anchor/presence.py):
every replica holds a session lock named after itself for as long as its database connection
lives, and the server drops the lock when the connection ends; a lock that can be taken means
its holder's process is gone, and the stand-by takes the lease over on its next pass."""

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

log = logging.getLogger(__name__)


class LeaseStore(Protocol):
    def take_lease(self, *, sender: str, holder: str, now: datetime, expires: datetime) -> bool:
        """Takes or renews the wallet's lease for `holder` unless another holds an unexpired
        one; True when `holder` holds it until `expires`."""
        ...

    def release_lease(self, *, sender: str, holder: str) -> None: ...

    def lease_holder(self, *, sender: str) -> str | None:
        """Who holds (or last held) the wallet's lease; None when nobody ever did."""
        ...

    def take_over_lease(
        self, *, sender: str, holder: str, previous: str, expires: datetime
    ) -> bool:
        """Takes the lease from `previous` whatever its expiry; False when `previous` no longer
        holds it (another stand-by was first)."""
        ...


class Presence(StrEnum):
    CONTINUOUS = "continuous"  # our lock is held, on the same connection as before
    RESTORED = "restored"  # it had been lost (the connection ended) and is held again
    UNAVAILABLE = "unavailable"  # it cannot be held now (database unreachable)


class HolderPresence(Protocol):
    def announce(self) -> Presence:
        """Holds this process's own lock (taking it again if its connection ended)."""
        ...

    def holder_gone(self, holder: str) -> bool:
        """True when `holder`'s lock is free: no live process holds it."""
        ...

    def release(self) -> None: ...


class SignerLeaseHolder:
    def __init__(
        self,
        store: LeaseStore,
        *,
        sender: str,
        holder: str,
        ttl_seconds: float = 30,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        presence: HolderPresence | None = None,
    ) -> None:
        self._store = store
        self._sender = sender
        self._holder = holder
        self._ttl = ttl_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._presence = presence
        self._held_until = 0.0  # on `clock`; renewed when half the lease is gone

    def held(self) -> bool:
        """True while this process holds the lease; takes or renews it as needed."""
        if self._presence is not None:
            presence = self._presence.announce()
            if presence is Presence.UNAVAILABLE:
                # without our own lock a stand-by may rightly think us gone: hold nothing
                self._held_until = 0.0
                return False
            if presence is Presence.RESTORED:
                self._held_until = 0.0  # a stand-by may have taken over meanwhile: ask again
        if self._clock() < self._held_until - self._ttl / 2:
            return True
        started = self._clock()
        now = self._wall_clock()
        expires = now + timedelta(seconds=self._ttl)
        taken = self._store.take_lease(
            sender=self._sender, holder=self._holder, now=now, expires=expires
        )
        if not taken:
            taken = self._take_over_if_holder_gone(expires)
        self._held_until = started + self._ttl if taken else 0.0
        return taken

    def _take_over_if_holder_gone(self, expires: datetime) -> bool:
        if self._presence is None:
            return False
        previous = self._store.lease_holder(sender=self._sender)
        if previous is None or previous == self._holder or not self._presence.holder_gone(previous):
            return False
        taken = self._store.take_over_lease(
            sender=self._sender, holder=self._holder, previous=previous, expires=expires
        )
        if taken:
            log.warning(
                "signer lease of %s taken over from %s: its database session has ended",
                self._sender,
                previous,
            )
        return taken

    def release(self) -> None:
        """On a clean stop: a restarted replica need not wait the lease out."""
        self._store.release_lease(sender=self._sender, holder=self._holder)
        self._held_until = 0.0
        if self._presence is not None:
            self._presence.release()
