"""The PostgreSQL roles the Kubernetes manifests expect (deploy/k8s/components/cloudnative-pg/
certflow-roles.sql), on a real server: each service migrates its own schema as its owner role,
runs as a role that can write only its own tables, and KEDA's role counts notify's deliveries due
with the query from the rendered production ScaledObject, and reads nothing else."""

import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
import yaml
from sqlalchemy.engine import make_url

from devstack.databases import create_database, drop_database
from tests.conftest import POSTGRES_ADMIN_URL

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not POSTGRES_ADMIN_URL, reason="needs CERTFLOW_TEST_DATABASE_URL"),
]

ROOT = Path(__file__).resolve().parents[2]
ROLES_SQL = ROOT / "deploy/k8s/components/cloudnative-pg/certflow-roles.sql"
SERVICES = ("ingest", "anchor", "notify", "verify")
ROLES = [
    *(f"certflow_{s}_owner" for s in SERVICES),
    *(f"certflow_{s}" for s in SERVICES),
    "certflow_keda",
]
PASSWORD = uuid.uuid4().hex


def libpq(url: str, role: str | None = None) -> str:
    parsed = make_url(url).set(drivername="postgresql")
    if role is not None:
        parsed = parsed.set(username=role, password=PASSWORD)
    return parsed.render_as_string(hide_password=False)


@pytest.fixture
def database() -> Iterator[str]:
    """A fresh database with the roles of certflow-roles.sql (passwords set as an operator
    would); the roles are dropped afterwards (they are server-wide)."""
    url = create_database(POSTGRES_ADMIN_URL)
    try:
        run_roles_sql(url)
        with psycopg.connect(libpq(url), autocommit=True) as admin:
            for role in ROLES:
                admin.execute(f"ALTER ROLE {role} PASSWORD '{PASSWORD}'")
        yield url
    finally:
        drop_database(POSTGRES_ADMIN_URL, url)
        with psycopg.connect(libpq(POSTGRES_ADMIN_URL), autocommit=True) as admin:
            for role in ROLES:
                admin.execute(f"DROP ROLE IF EXISTS {role}")


def run_roles_sql(url: str) -> None:
    with psycopg.connect(libpq(url), autocommit=True) as admin:
        admin.execute(ROLES_SQL.read_text().encode())


def as_role(url: str, role: str) -> str:
    return libpq(url, role)


def migrate(url: str, service: str) -> None:
    """What the migration Job runs, as the service's owner role."""
    done = subprocess.run(
        [sys.executable, "-m", "certflow.platform.db.migrate", "--service", service],
        env={"CERTFLOW_DATABASE_URL": libpq(url, f"certflow_{service}_owner")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def backlog_query() -> str:
    """The query KEDA runs, from the rendered production overlay."""
    rendered = subprocess.run(
        [
            str(Path(sys.executable).with_name("kubectl")),
            "kustomize",
            "deploy/k8s/overlays/production",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    (scaled,) = (d for d in yaml.safe_load_all(rendered) if d and d["kind"] == "ScaledObject")
    return str(scaled["spec"]["triggers"][0]["metadata"]["query"])


def can(connection: psycopg.Connection, statement: str) -> bool:
    try:
        with connection.transaction():
            connection.execute(statement)
        return True
    except psycopg.errors.InsufficientPrivilege:
        return False


def test_each_service_owns_its_schema_and_writes_only_its_own_tables(database: str) -> None:
    for service in SERVICES:
        migrate(database, service)
    run_roles_sql(database)  # again, now that notify.deliveries exists: certflow_keda's grant

    with psycopg.connect(libpq(database)) as admin:
        tables: dict[str, str] = dict(
            admin.execute(
                "SELECT tablename, schemaname FROM pg_tables WHERE schemaname = ANY(%s)",
                [list(SERVICES)],
            ).fetchall()
        )
    assert tables["verify_certificates"] == "verify"
    assert tables["certificates"] == "ingest"
    assert tables["deliveries"] == "notify"
    assert tables["alembic_version_anchor"] == "anchor"

    with psycopg.connect(as_role(database, "certflow_verify"), autocommit=True) as verify:
        assert can(verify, "SELECT count(*) FROM verify_certificates")
        assert can(verify, "DELETE FROM verify_certificates")
        assert not can(verify, "DELETE FROM ingest.certificates")
        assert not can(verify, "SELECT count(*) FROM notify.notify_certificates")
        assert not can(verify, "CREATE TABLE verify.scratch (id int)")
        assert not can(verify, "DROP TABLE verify_certificates")
        assert not can(verify, "CREATE TABLE public.scratch (id int)")

    with psycopg.connect(as_role(database, "certflow_ingest"), autocommit=True) as ingest:
        # the outbox's id comes from a sequence: inserting needs USAGE on it
        assert can(
            ingest,
            "INSERT INTO ingest_outbox (subject, msg_id, payload, trace_context, created_at) "
            "VALUES ('certs.issued', 'm-1', '', '', now())",
        )
        assert not can(ingest, "DELETE FROM verify.verify_certificates")


def test_keda_counts_the_deliveries_due_and_reads_nothing_else(database: str) -> None:
    migrate(database, "notify")
    run_roles_sql(database)
    now = datetime.now(UTC)
    rows = [
        ("pending", now - timedelta(seconds=5)),  # due
        ("pending", now - timedelta(hours=1)),  # due
        ("pending", now + timedelta(minutes=10)),  # a retry not yet due
        ("sending", now - timedelta(seconds=1)),  # a crashed sender's lease ran out: due
        ("sending", now + timedelta(seconds=60)),  # being sent under a live lease
        ("sent", now - timedelta(hours=1)),
        ("failed", now - timedelta(hours=1)),
    ]
    with psycopg.connect(as_role(database, "certflow_notify")) as notify:
        for state, next_attempt_at in rows:
            notify.execute(
                "INSERT INTO deliveries (id, certificate_id, batch_id, kind, state, attempts,"
                " message_id, last_error, next_attempt_at, claim_token, created_at)"
                " VALUES (%s, %s, 'b', 'issued', %s, 0, %s, '', %s, '', now())",
                [
                    str(uuid.uuid4()),
                    str(uuid.uuid4()),
                    state,
                    f"<{uuid.uuid4()}@x>",
                    next_attempt_at,
                ],
            )

    with psycopg.connect(as_role(database, "certflow_keda"), autocommit=True) as keda:
        row = keda.execute(backlog_query()).fetchone()
        assert row is not None and row[0] == 3
        assert not can(keda, "SELECT recipient_email FROM notify_certificates")
        assert not can(keda, "UPDATE deliveries SET state = 'sent'")
