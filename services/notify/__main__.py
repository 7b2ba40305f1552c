"""Entrypoint: `python -m services.notify` (or `certflow-notify`)."""

from certflow.platform.service_setup import new_runtime, run_service
from services.notify import bootstrap
from services.notify.settings import NotifySettings


async def serve(settings: NotifySettings) -> None:
    runtime = new_runtime("notify", settings, settings.notify_port)
    await bootstrap.start(settings, runtime)
    await runtime.run()


def main() -> None:
    run_service("notify", NotifySettings, serve)


if __name__ == "__main__":
    main()
