"""Delivery timing end to end on the real stack with two notify replicas sharing one database
and the batch's work: business hours in each recipient's own time zone (Asia/Tokyo and
America/Los_Angeles), per-domain pacing measured at the SMTP sink, and one email per recipient
under the limit. The window is set from the clock at start so that one zone is open and the
other opens a minute later: what is asserted is recorded (the sink's accept time of each
message, the delivery states), never how long a sleep took."""

import csv
import io
import itertools
import sys
import time as pause
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from certflow.v1 import ingest_service_pb2, notify_service_pb2
from devstack.client import StackClient
from devstack.processes import free_port
from devstack.stack import SERVICES, LocalStack, StackOptions

TOKYO, LOS_ANGELES = ZoneInfo("Asia/Tokyo"), ZoneInfo("America/Los_Angeles")
LATER_OPENING = timedelta(seconds=60)  # from the stack's start: room to anchor the batch first
OPEN_FOR = timedelta(minutes=30)
PACED_DOMAIN, PER_MINUTE = "paced.example", 60  # one message a second
SPACING = timedelta(minutes=1) / PER_MINUTE
HOLD = timedelta(seconds=15)  # the paced batch's send time from its upload: anchored by then


@dataclass(frozen=True)
class Window:
    opens: time
    closes: time
    open_zone: ZoneInfo  # open when the stack starts
    later_zone: ZoneInfo  # opens at later_opening
    later_opening: datetime


def window_from(now: datetime) -> Window:
    """Every day opens..closes local, open now in one of the two zones and opening at
    now + LATER_OPENING in the other; whichever order keeps the window inside one local day."""
    for open_zone, later_zone in ((TOKYO, LOS_ANGELES), (LOS_ANGELES, TOKYO)):
        opening = (now + LATER_OPENING).replace(microsecond=0)
        opens = opening.astimezone(later_zone).time()
        closes = (now + OPEN_FOR).astimezone(open_zone).time().replace(microsecond=0)
        open_now = now.astimezone(open_zone).time()
        later_now = now.astimezone(later_zone).time()
        if opens < closes and opens <= open_now < closes and not opens <= later_now < closes:
            return Window(opens, closes, open_zone, later_zone, opening)
    raise AssertionError(f"no window fits at {now}")  # pragma: no cover


@pytest.fixture(scope="module")
def window() -> Window:
    return window_from(datetime.now(UTC))


@pytest.fixture(scope="module")
def stack(tmp_path_factory, window):
    state = tmp_path_factory.mktemp("delivery-timing")
    env = {
        "CERTFLOW_BUSINESS_HOURS_DAYS": "Mon,Tue,Wed,Thu,Fri,Sat,Sun",
        "CERTFLOW_BUSINESS_HOURS_OPENS": window.opens.isoformat(),
        "CERTFLOW_BUSINESS_HOURS_CLOSES": window.closes.isoformat(),
        "CERTFLOW_DOMAIN_RATE_OVERRIDES": f'{{"{PACED_DOMAIN}": {PER_MINUTE}}}',
    }
    options = StackOptions(state_dir=state, window_max_age_seconds=0.3, service_env=env)
    with LocalStack(options) as running:
        # a second notify on the same database and durable consumers: the replicas share it all
        second = running._spawn(
            "notify-2",
            [sys.executable, "-m", "services.notify"],
            env={**running.service_env("notify"), "CERTFLOW_NOTIFY_PORT": str(free_port())},
        )
        try:
            yield running
        finally:
            second.stop()


@pytest.fixture(scope="module")
def client(stack):
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def upload(
    client: StackClient,
    rows: list[tuple[str, str]],
    *,
    business_hours: bool,
    send_time: datetime | None = None,
) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["Name", "Email", "Course", "Date", "Time Zone"])
    writer.writerows(
        (f"Student {n}", email, "Timing 101", "2026-06-30", zone)
        for n, (email, zone) in enumerate(rows)
    )
    window = (
        ingest_service_pb2.DELIVERY_WINDOW_BUSINESS_HOURS
        if business_hours
        else ingest_service_pb2.DELIVERY_WINDOW_ANYTIME
    )
    metadata = ingest_service_pb2.UploadCsvMetadata(delivery_window=window)
    if send_time is not None:
        metadata.send_time.FromDatetime(send_time)
    requests = [
        ingest_service_pb2.UploadCsvRequest(metadata=metadata),
        ingest_service_pb2.UploadCsvRequest(chunk=out.getvalue().encode()),
    ]
    response = client.ingest.UploadCsv(iter(requests), metadata=client._metadata, timeout=60)
    assert not response.row_errors, response.row_errors
    return response.batch.batch_id


def accepted(mail_dir: Path) -> dict[str, datetime]:
    """Envelope recipient -> when the sink accepted its message (the file it wrote then);
    a recipient emailed twice fails here."""
    found: dict[str, datetime] = {}
    for path in mail_dir.glob("*.eml"):
        recipient = path.read_bytes().split(b"\r\n", 1)[0].removeprefix(b"X-Envelope-To: ")
        address = recipient.decode()
        assert address not in found, f"{address} emailed twice"
        found[address] = datetime.fromtimestamp(path.stat().st_mtime_ns / 1e9, UTC)
    return found


def states(client: StackClient, batch_id: str) -> dict[str, int]:
    return {d.certificate_id: d.state for d in client.deliveries(batch_id)}


def test_each_recipient_gets_their_email_in_their_own_business_hours(stack, client, window):
    ken, amy = "ken@uni.example", "amy@uni.example"
    zone_of = {ken: TOKYO, amy: LOS_ANGELES}
    batch_id = upload(
        client, [(ken, "Asia/Tokyo"), (amy, "America/Los_Angeles")], business_hours=True
    )
    first = next(a for a, z in zone_of.items() if z == window.open_zone)
    later = next(a for a, z in zone_of.items() if z == window.later_zone)
    deadline = window.later_opening + timedelta(seconds=90)
    client.wait_for_batch(batch_id, until="anchored", timeout=60)
    while first not in accepted(stack.mail_dir):
        assert datetime.now(UTC) < window.later_opening, "the stack took a minute: no check"
        pause.sleep(0.1)  # polling the sink
    # the sink has the message; notify records SENT a moment later (its group-commit recorder)
    seen = sorted(states(client, batch_id).values())
    while notify_service_pb2.DELIVERY_STATE_SENT not in seen:
        assert datetime.now(UTC) < window.later_opening, "the stack took a minute: no check"
        pause.sleep(0.1)  # polling notify
        seen = sorted(states(client, batch_id).values())
    if datetime.now(UTC) < window.later_opening:  # the other recipient's window is closed yet
        assert seen == [
            notify_service_pb2.DELIVERY_STATE_SENT,
            notify_service_pb2.DELIVERY_STATE_SCHEDULED,
        ]
    client.wait_for_batch(batch_id, until="completed", timeout=150)
    assert datetime.now(UTC) < deadline
    sent = accepted(stack.mail_dir)
    for address in (first, later):
        local = sent[address].astimezone(zone_of[address]).time()
        assert window.opens <= local < window.closes, (address, local, window)
    assert sent[later] >= window.later_opening  # it waited for its own window to open


def test_two_replicas_pace_a_domain_and_send_every_email_once(stack, client):
    """All of the batch becomes due at once, at its send time: from then on the sink may have
    accepted at most k + 1 paced messages by k spacings (slots are a spacing apart, none before
    the send time, and a message goes at its slot or later), whatever the load made late. A
    replica pacing on its own (twice the rate) or no pacing breaks it within a few messages."""
    paced = [f"p{i}@{PACED_DOMAIN}" for i in range(12)]
    plain = [f"r{i}@plain.example" for i in range(150)]
    send_time = (datetime.now(UTC) + HOLD).replace(microsecond=0)
    batch_id = upload(
        client, [(a, "") for a in paced + plain], business_hours=False, send_time=send_time
    )
    batch = client.wait_for_batch(batch_id, until="completed", timeout=180)
    assert batch.emailed_count == len(paced) + len(plain)
    sent = accepted(stack.mail_dir)  # fails on a recipient emailed twice
    assert set(paced + plain) <= set(sent)  # none missing
    times = sorted(sent[a] for a in paced)
    early = [(k, t - send_time) for k, t in enumerate(times) if t < send_time + k * SPACING]
    assert not early, (early, [b - a for a, b in itertools.pairwise(times)])
    unpaced = sorted(sent[a] for a in plain)
    assert unpaced[0] >= send_time
    # the others were not held behind the paced domain's slots: all of them went out before
    # its last message, which the sink could not have had before send_time + 11 spacings
    assert unpaced[-1] < times[-1], (unpaced[-1] - send_time, times[-1] - send_time)
    stack.processes["notify-2"].check_alive()  # the second replica ran all along
