"""`certflow` console script and `python -m certflow_cli`."""

from certflow_cli.app import main

if __name__ == "__main__":
    main()
