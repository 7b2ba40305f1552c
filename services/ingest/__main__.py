"""Entrypoint: `python -m services.ingest` (or `certflow-ingest`)."""

from certflow.platform.service_setup import run_service
from services.ingest.bootstrap import serve
from services.ingest.settings import IngestSettings


def main() -> None:
    run_service("ingest", IngestSettings, serve)


if __name__ == "__main__":
    main()
