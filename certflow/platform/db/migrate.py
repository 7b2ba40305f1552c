"""Brings each service's tables to their newest schema, every service with its own Alembic chain
and version table (`alembic_version_<service>`), so the services can share one database on a dev
machine or each have their own in production.

    python -m certflow.platform.db.migrate [--service NAME ...] [URL]
    python -m certflow.platform.db.migrate --new-revision NAME -m "message"   (dev: autogenerate)

Run before the services start (the local stack does; on Kubernetes a Job does). The URL defaults
to CERTFLOW_DATABASE_URL.
"""

import argparse
import importlib.util
import tempfile
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from certflow.platform.db.engine import make_engine
from certflow.platform.settings import CommonSettings

SERVICES = ("ingest", "anchor", "notify", "verify")


def migrations_of(service: str) -> Path:
    spec = importlib.util.find_spec(f"services.{service}")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"no service named {service!r}")
    return Path(next(iter(spec.submodule_search_locations))) / "migrations"


def alembic_config(url: str, service: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_of(service)))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.set_main_option("service", service)
    return config


def upgrade(url: str, services: tuple[str, ...] | list[str] = SERVICES) -> None:
    for service in services:
        command.upgrade(alembic_config(url, service), "head")


def run_env(metadata: MetaData) -> None:
    """The body of every service's migrations/env.py."""
    config = context.config
    service = config.get_main_option("service")
    url = config.get_main_option("sqlalchemy.url")
    assert service and url, "run through certflow.platform.db.migrate"
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=f"alembic_version_{service}",
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def revision(service: str, message: str) -> None:
    """Autogenerates the next revision of a service from its tables (against a scratch SQLite
    database brought to the current head)."""
    versions = migrations_of(service) / "versions"
    number = f"{len(list(versions.glob('[0-9]*.py'))) + 1:04d}"
    with tempfile.TemporaryDirectory() as scratch:
        config = alembic_config(f"sqlite:///{scratch}/scratch.db", service)
        command.upgrade(config, "head")
        command.revision(config, message=message, autogenerate=True, rev_id=number)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m certflow.platform.db.migrate")
    parser.add_argument("url", nargs="?", default=None, help="default: CERTFLOW_DATABASE_URL")
    parser.add_argument(
        "--service", action="append", choices=SERVICES, dest="services", help="default: all"
    )
    parser.add_argument(
        "--new-revision", choices=SERVICES, help="autogenerate this service's next revision (dev)"
    )
    parser.add_argument("-m", "--message", default="", help="the new revision's message")
    args = parser.parse_args()
    if args.new_revision:
        revision(args.new_revision, args.message or "changes")
        return
    upgrade(args.url or CommonSettings().database_url, args.services or SERVICES)


if __name__ == "__main__":
    main()
