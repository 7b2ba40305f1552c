"""Entrypoint: `python -m services.verify` (or `certflow-verify`)."""

from certflow.platform.service_setup import run_service
from services.verify.bootstrap import serve
from services.verify.settings import VerifySettings


def main() -> None:
    run_service("verify", VerifySettings, serve)


if __name__ == "__main__":
    main()
