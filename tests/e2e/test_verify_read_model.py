"""The public verify service holds the least: run on a database of its own, it answers every
look-up from its read model (fed by the "issued" and "anchored" events), and that database has
no certificates table, no email column and no recipient's email address anywhere."""

import asyncio
import csv
import io
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import nats
import pytest
from sqlalchemy import MetaData, create_engine, inspect, select

from certflow.platform.bus import STREAM, SUBJECT_ISSUED
from certflow.v1 import events_pb2
from devstack.client import StackClient, status_name
from devstack.stack import SERVICES, LocalStack, StackOptions
from tests.conftest import BACKENDS, discard_database, fresh_database_url

ROOT = Path(__file__).resolve().parents[2]
GRADUATES = ROOT / "examples" / "graduates.csv"


@pytest.fixture(scope="module", params=BACKENDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LocalStack]:
    """The other services on the shared database (SQLite or PostgreSQL), verify on its own."""
    state = tmp_path_factory.mktemp(f"stack-verify-read-model-{request.param}")
    url = fresh_database_url(request.param, state)
    options = StackOptions(
        state_dir=state,
        database_url=url,
        database_urls={"verify": f"sqlite:///{state / 'verify' / 'verify.db'}"},
        window_max_age_seconds=0.3,
        # every certificate is looked up again and again while waiting: no per-client limit
        service_env={
            "CERTFLOW_HTTP_RATE_PER_SECOND": "100000",
            "CERTFLOW_HTTP_RATE_BURST": "100000",
        },
    )
    with LocalStack(options) as running:
        yield running
    discard_database(url)


@pytest.fixture(scope="module")
def client(stack: LocalStack) -> Iterator[StackClient]:
    client = StackClient({s: stack.target(s) for s in SERVICES}, stack.token)
    yield client
    client.close()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not after {timeout} s")
        time.sleep(0.2)


def issued_ids(nats_url: str, batch_id: str) -> set[str]:
    """The certificate ids ingest announced for a batch, read from the stream itself."""

    async def read() -> set[str]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            last = (await js.stream_info(STREAM)).state.last_seq
            ids: set[str] = set()
            for sequence in range(1, last + 1):
                message = await js.get_msg(STREAM, sequence)
                if message.subject != SUBJECT_ISSUED or message.data is None:
                    continue
                event = events_pb2.CertificatesIssuedEvent.FromString(message.data)
                if event.batch_id == batch_id:
                    ids.update(leaf.certificate_id for leaf in event.leaves)
            return ids
        finally:
            await nc.close()

    return asyncio.run(read())


@pytest.fixture(scope="module")
def pending_batch(stack: LocalStack, client: StackClient) -> list[str]:
    """A batch uploaded while anchor is stopped: issued, not anchored."""
    stack.processes["anchor"].stop()
    response = client.upload_csv(GRADUATES.read_bytes(), request_id="verify-read-model")
    batch_id, accepted = response.batch.batch_id, response.batch.accepted_count
    assert accepted == 43
    ids: set[str] = set()

    def announced() -> bool:
        ids.update(issued_ids(stack.nats_url, batch_id))
        return len(ids) >= accepted

    wait_until(announced, 30, "the batch's certs.issued events")
    assert len(ids) == accepted
    return sorted(ids)


@pytest.fixture(scope="module")
def anchored_batch(stack: LocalStack, pending_batch: list[str]) -> list[str]:
    process = stack.processes["anchor"]
    process.start()
    stack.wait_healthy("anchor")
    return pending_batch


def statuses(client: StackClient, ids: list[str]) -> set[str]:
    return {status_name(client.verify_id(i).status) for i in ids}


def test_before_anchoring_every_certificate_is_pending(
    client: StackClient, pending_batch: list[str]
) -> None:
    wait_until(
        lambda: statuses(client, pending_batch) == {"PENDING"}, 30, "every certificate PENDING"
    )
    pending = client.verify_id(pending_batch[0])
    assert pending.recipient_name and pending.title  # shown from the stored credential
    with pytest.raises(grpc.RpcError) as info:  # no document before it is anchored
        client.document(pending_batch[0])
    assert info.value.code() == grpc.StatusCode.NOT_FOUND


def test_unknown_ids_are_not_found(stack: LocalStack, client: StackClient) -> None:
    unknown = str(uuid.uuid4())
    assert status_name(client.verify_id(unknown).status) == "NOT_FOUND"
    with pytest.raises(grpc.RpcError) as info:
        client.document(unknown)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    url = f"{stack.verify_http_url}/api/v1/certificates/{unknown}/verification"
    with pytest.raises(urllib.error.HTTPError) as http:
        urllib.request.urlopen(url)
    assert http.value.code == 404


def test_after_anchoring_every_certificate_verifies_by_id_and_by_document(
    client: StackClient, anchored_batch: list[str]
) -> None:
    wait_until(
        lambda: statuses(client, anchored_batch) == {"VALID"}, 120, "every certificate VALID"
    )
    for certificate_id in anchored_batch:
        document = client.document(certificate_id)
        assert json.loads(document)["id"] == f"urn:uuid:{certificate_id}"
        verified = client.verify_document(document)
        assert status_name(verified.status) == "VALID", (certificate_id, verified)


def test_verify_database_has_no_certificates_table_and_no_email(
    stack: LocalStack, anchored_batch: list[str]
) -> None:
    emails = {row["email"] for row in csv.DictReader(io.StringIO(GRADUATES.read_text()))}
    verify_url = stack.database_url_of("verify")
    assert verify_url != stack.database_url and verify_url.startswith("sqlite:///")
    engine = create_engine(verify_url)
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        assert "certificates" not in tables and "verify_certificates" in tables
        columns = {(t, c["name"]) for t in tables for c in inspector.get_columns(t)}
        # the one email column is a problem reporter's own address, stored only when they type
        # one to be answered at (the report form says so): never a recipient's from ingest
        emails_kept = [tc for tc in columns if "email" in tc[1].lower()]
        assert emails_kept == [("verify_problem_reports", "contact_email")]
        metadata = MetaData()
        metadata.reflect(engine)
        stored = 0
        with engine.connect() as connection:
            for table in metadata.tables.values():
                for row in connection.execute(select(table)):
                    stored += table.name == "verify_certificates"
                    text = " ".join(
                        v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in row
                    )
                    assert not [e for e in emails if "@" in e and e in text], table.name
        assert stored >= len(anchored_batch)
    finally:
        engine.dispose()
