"""The ``nbchannel`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ._version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nbchannel`` command; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="nbchannel",
        description="Live, two-way channels between Jupyter kernels and the browser.",
    )
    parser.add_argument("--version", action="version", version=f"nbchannel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("demo", help="launch JupyterLab on the example notebooks")
    args = parser.parse_args(argv)
    if args.command == "demo":
        print(
            "nbchannel demo: not yet available in this version - the example notebooks and the "
            "JupyterLab launcher arrive with the widget kit.",
            file=sys.stderr,
        )
        return 1
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
