"""Brings a database to the newest schema: `python -m certflow.platform.db.migrate [URL]`.

Run once before the services start (the local stack does; on Kubernetes a Job does).
"""

import sys
from pathlib import Path

from alembic import command
from alembic.config import Config

from certflow.platform.settings import CommonSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    command.upgrade(alembic_config(url), "head")


def main() -> None:
    url = sys.argv[1] if len(sys.argv) > 1 else CommonSettings().database_url
    upgrade(url)


if __name__ == "__main__":
    main()
