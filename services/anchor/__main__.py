"""Entrypoint: `python -m services.anchor` (or `certflow-anchor`)."""

from certflow.platform.service_setup import new_runtime, run_service
from services.anchor import bootstrap
from services.anchor.settings import AnchorSettings


async def serve(settings: AnchorSettings) -> None:
    runtime = new_runtime("anchor", settings, settings.anchor_port)
    if await bootstrap.start(settings, runtime):
        await runtime.run()


def main() -> None:
    run_service("anchor", AnchorSettings, serve)


if __name__ == "__main__":
    main()
