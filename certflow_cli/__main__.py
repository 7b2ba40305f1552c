"""`certflow` console script and `python -m certflow_cli`."""

import sys


def main() -> None:
    try:
        import click  # noqa: F401  # the `cli` extra, which the service images leave out
        import rich  # noqa: F401
    except ImportError as missing:
        sys.exit(
            f"certflow: the command needs the 'cli' extra ({missing}): pip install 'certflow[cli]'"
        )
    from certflow_cli.app import main as run

    run()


if __name__ == "__main__":
    main()
