"""The ``nbchannel`` command line: ``demo`` and ``doctor``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from ._version import __version__


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``nbchannel`` command; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="nbchannel",
        description="Live, two-way channels between Jupyter kernels and the browser.",
    )
    parser.add_argument("--version", action="version", version=f"nbchannel {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="launch JupyterLab on a copy of the example notebooks",
        description="Copy the example notebooks into a working folder (your edits there are "
        "kept) and launch this Python environment's JupyterLab on them (it comes with "
        'pip install "nbchannel[lab]"). Arguments after `--` go to JupyterLab.',
    )
    demo.add_argument(
        "--dir", default="nbchannel-demo", help="working folder (default: %(default)s)"
    )
    demo.add_argument(
        "--ip", default="127.0.0.1", help="interface to listen on (default: %(default)s)"
    )
    demo.add_argument("--port", type=int, help="port (default: the first free one from 8888)")
    demo.add_argument("--no-browser", action="store_true", help="do not open a browser")
    doctor = sub.add_parser(
        "doctor",
        help="check the installation and explain how to fix problems",
        description="Check that the server extension is enabled, the widget bundle and "
        "anywidget's front end are installed, and a kernel reaches the hub.",
    )
    doctor.add_argument("--quick", action="store_true", help="skip starting a server and kernel")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")
    args, extra = parser.parse_known_args(argv)
    if extra and extra[0] == "--":
        extra = extra[1:]
    if args.command == "demo":
        from .demo import run_demo

        return run_demo(
            Path(args.dir),
            ip=args.ip,
            port=args.port,
            open_browser=not args.no_browser,
            extra=extra,
        )
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "doctor":
        from .doctor import main as doctor_main

        return doctor_main(live=not args.quick, as_json=args.json)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
