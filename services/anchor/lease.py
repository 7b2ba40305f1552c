"""The signer lease: nonces come from one writer, so two anchor replicas (a scaled Deployment,
an operator's second process) never sign competing transactions for the same wallet.

The lease lives in the database (`signer_leases`, behind LeaseStore); this object decides when
to take or renew it, on an injected clock."""

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol


class LeaseStore(Protocol):
    def take_lease(self, *, sender: str, holder: str, now: datetime, expires: datetime) -> bool:
        """Takes or renews the wallet's lease for `holder` unless another holds an unexpired
        one; True when `holder` holds it until `expires`."""
        ...

    def release_lease(self, *, sender: str, holder: str) -> None: ...


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
    ) -> None:
        self._store = store
        self._sender = sender
        self._holder = holder
        self._ttl = ttl_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._held_until = 0.0  # on `clock`; renewed when half the lease is gone

    def held(self) -> bool:
        """True while this process holds the lease; takes or renews it as needed."""
        if self._clock() < self._held_until - self._ttl / 2:
            return True
        started = self._clock()
        now = self._wall_clock()
        taken = self._store.take_lease(
            sender=self._sender,
            holder=self._holder,
            now=now,
            expires=now + timedelta(seconds=self._ttl),
        )
        self._held_until = started + self._ttl if taken else 0.0
        return taken

    def release(self) -> None:
        """On a clean stop: a restarted replica need not wait the lease out."""
        self._store.release_lease(sender=self._sender, holder=self._holder)
        self._held_until = 0.0
