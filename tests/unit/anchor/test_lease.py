"""When the signer lease is taken, renewed and given up, on an injected clock."""

from datetime import UTC, datetime, timedelta

from services.anchor.lease import HolderPresence, Presence, SignerLeaseHolder


class Leases:
    """The store's side: one holder per wallet until its lease expires."""

    def __init__(self) -> None:
        self.rows: dict[str, tuple[str, datetime]] = {}
        self.calls = 0

    def take_lease(self, *, sender: str, holder: str, now: datetime, expires: datetime) -> bool:
        self.calls += 1
        current = self.rows.get(sender)
        if current and current[0] != holder and current[1] >= now:
            return False
        self.rows[sender] = (holder, expires)
        return True

    def release_lease(self, *, sender: str, holder: str) -> None:
        if self.rows.get(sender, ("",))[0] == holder:
            self.rows[sender] = (holder, datetime(1970, 1, 1, tzinfo=UTC))

    def lease_holder(self, *, sender: str) -> str | None:
        return self.rows[sender][0] if sender in self.rows else None

    def take_over_lease(
        self, *, sender: str, holder: str, previous: str, expires: datetime
    ) -> bool:
        if self.lease_holder(sender=sender) != previous:
            return False
        self.rows[sender] = (holder, expires)
        return True


class Sessions:
    """The database's side of presence: whose session lock lives (PostgreSQL's advisory locks)."""

    def __init__(self) -> None:
        self.alive: set[str] = set()
        self.reachable = True

    def of(self, name: str) -> "Present":
        return Present(self, name)


class Present(HolderPresence):
    def __init__(self, sessions: Sessions, name: str) -> None:
        self.sessions, self.name, self.connected = sessions, name, False

    def announce(self) -> Presence:
        if not self.sessions.reachable:
            return Presence.UNAVAILABLE
        if self.connected and self.name in self.sessions.alive:
            return Presence.CONTINUOUS
        self.sessions.alive.add(self.name)
        self.connected = True
        return Presence.RESTORED

    def holder_gone(self, holder: str) -> bool:
        return holder not in self.sessions.alive

    def release(self) -> None:
        self.sessions.alive.discard(self.name)
        self.connected = False


class Clocks:
    def __init__(self) -> None:
        self.seconds = 0.0

    def monotonic(self) -> float:
        return self.seconds

    def wall(self) -> datetime:
        return datetime(2026, 1, 1, tzinfo=UTC) + timedelta(seconds=self.seconds)


def holder(
    leases: Leases, clocks: Clocks, name: str, sessions: Sessions | None = None
) -> SignerLeaseHolder:
    return SignerLeaseHolder(
        leases,
        sender="0xabc",
        holder=name,
        ttl_seconds=30,
        clock=clocks.monotonic,
        wall_clock=clocks.wall,
        presence=sessions.of(name) if sessions else None,
    )


def test_the_lease_is_renewed_only_once_half_of_it_is_gone() -> None:
    leases, clocks = Leases(), Clocks()
    one = holder(leases, clocks, "one")
    assert one.held() and leases.calls == 1
    clocks.seconds = 14.9
    assert one.held() and leases.calls == 1
    clocks.seconds = 15.0
    assert one.held() and leases.calls == 2
    assert leases.rows["0xabc"] == ("one", clocks.wall() + timedelta(seconds=30))


def test_a_second_replica_stands_by_until_the_lease_runs_out_or_is_released() -> None:
    leases, clocks = Leases(), Clocks()
    one, two = holder(leases, clocks, "one"), holder(leases, clocks, "two")
    assert one.held()
    assert not two.held()
    assert not two.held() and leases.calls == 3  # a refused replica asks again every time
    clocks.seconds = 31  # one stopped renewing (SIGKILL)
    assert two.held()
    assert not one.held()
    two.release()
    assert one.held()


def test_a_stand_by_takes_over_at_once_when_the_holders_session_has_ended() -> None:
    leases, clocks, sessions = Leases(), Clocks(), Sessions()
    one, two = holder(leases, clocks, "one", sessions), holder(leases, clocks, "two", sessions)
    assert one.held()
    clocks.seconds = 5
    assert not two.held()  # one's session lives: the lease is one's until it runs out
    sessions.alive.discard("one")  # SIGKILL: the server drops one's lock with its connection
    assert two.held()  # 25 s before the lease would have run out
    assert leases.rows["0xabc"][0] == "two"


def test_a_holder_whose_session_was_lost_asks_again_and_stands_by_if_taken_over() -> None:
    leases, clocks, sessions = Leases(), Clocks(), Sessions()
    one, two = holder(leases, clocks, "one", sessions), holder(leases, clocks, "two", sessions)
    assert one.held()
    sessions.alive.clear()  # the database restarted: every session lock is gone
    assert two.held()  # two saw one's lock free first
    assert not one.held()  # one's lock comes back, but the lease is two's now: one stands by
    assert two.held()


def test_without_its_own_session_lock_a_replica_holds_nothing() -> None:
    leases, clocks, sessions = Leases(), Clocks(), Sessions()
    one = holder(leases, clocks, "one", sessions)
    assert one.held()
    sessions.reachable = False
    assert not one.held()  # a stand-by may think it gone: it must not sign meanwhile
    sessions.reachable = True
    assert one.held()


def test_a_released_lease_frees_the_session_lock_too() -> None:
    leases, clocks, sessions = Leases(), Clocks(), Sessions()
    one = holder(leases, clocks, "one", sessions)
    assert one.held() and sessions.alive == {"one"}
    one.release()
    assert sessions.alive == set()
