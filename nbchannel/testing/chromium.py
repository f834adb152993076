"""Find the Chromium the browser tests drive, and install Debian's package when it is missing.

The browser tests and the browser benchmark launch Debian's ``chromium`` through Playwright
(Playwright's own browser download is not used). :func:`ensure_chromium` finds it, or
installs it with ``apt-get`` — directly as root, through ``sudo`` otherwise — and when it
can do neither it raises :class:`ChromiumNotFound` with the command to run.

The test suite calls it once, before the first test, when browser tests are collected;
``.ci/run`` calls it as a script. The module uses the standard library only, so it also
runs before nbchannel is installed::

    python3 nbchannel/testing/chromium.py              # print the path; install if missing
    python3 nbchannel/testing/chromium.py --no-install # only look

Environment: ``NBCHANNEL_CHROMIUM`` names a Chromium binary to use instead of Debian's;
``NBCHANNEL_INSTALL_CHROMIUM=0`` forbids installing (a missing Chromium is then an error
that names the command).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence

__all__ = [
    "ENV_BINARY",
    "ENV_INSTALL",
    "ChromiumNotFound",
    "ensure_chromium",
    "find_chromium",
    "install_chromium",
    "install_command",
]

#: A Chromium binary to use instead of Debian's.
ENV_BINARY = "NBCHANNEL_CHROMIUM"
#: ``0`` forbids :func:`ensure_chromium` to install Debian's package.
ENV_INSTALL = "NBCHANNEL_INSTALL_CHROMIUM"

#: Where Debian's package puts the browser (the first is the binary the wrapper runs).
DEBIAN_PATHS = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")


class ChromiumNotFound(FileNotFoundError):
    """No Chromium here, and it could not be installed; the message says what to run."""


def find_chromium() -> str:
    """Path of a Chromium binary: ``NBCHANNEL_CHROMIUM`` if set, else Debian's package.

    Raises :class:`ChromiumNotFound` when there is none.
    """
    chosen = os.environ.get(ENV_BINARY, "")
    if chosen:
        if os.path.isfile(chosen) and os.access(chosen, os.X_OK):
            return chosen
        raise ChromiumNotFound(f"{ENV_BINARY}={chosen} is not an executable file")
    for path in (*DEBIAN_PATHS, shutil.which("chromium") or ""):
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            return path
    raise ChromiumNotFound(
        f"no Chromium found. Install Debian's package: {' '.join(install_command())} "
        f"(or set {ENV_BINARY} to a Chromium binary)"
    )


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def install_command() -> list[str]:
    """The command that installs Debian's ``chromium`` here (with ``sudo`` unless root)."""
    apt = ["apt-get", "install", "-y", "chromium"]
    return apt if _is_root() else ["sudo", *apt]


def _privilege_prefix() -> list[str] | None:
    """``[]`` as root, ``["sudo", "-n"]`` where sudo works without a password, else None."""
    if _is_root():
        return []
    if shutil.which("sudo"):
        ok = subprocess.run(
            ["sudo", "-n", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if ok.returncode == 0:
            return ["sudo", "-n"]
    return None


def _stderr_fd() -> int:
    """apt-get writes to stderr, so stdout stays the path (``$(...)`` in shell scripts)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # replaced by an object without a file
        return 2


def install_chromium() -> str:
    """Install Debian's ``chromium`` with apt-get; returns the binary's path.

    apt-get's output goes to stderr. Raises :class:`ChromiumNotFound` with the command to run
    when apt-get is missing, when neither root nor password-less sudo is available, or when
    the install fails.
    """
    manual = " ".join(install_command())
    if not shutil.which("apt-get"):
        raise ChromiumNotFound(
            "no Chromium found, and this is not a Debian-like system (no apt-get): install "
            f"Chromium and set {ENV_BINARY} to its binary"
        )
    prefix = _privilege_prefix()
    if prefix is None:
        raise ChromiumNotFound(
            "no Chromium found, and installing it needs root: run "
            f"`sudo apt-get update && {manual}`, then run the tests again "
            f"(or set {ENV_BINARY} to a Chromium binary)"
        )
    apt = [*prefix, "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]
    print(
        f"nbchannel: installing Debian's chromium for the browser tests ({manual})",
        file=sys.stderr,
        flush=True,
    )
    for cmd in ([*apt, "update", "-qq"], [*apt, "install", "-y", "-qq", "chromium"]):
        done = subprocess.run(cmd, stdout=_stderr_fd())
        if done.returncode != 0:
            raise ChromiumNotFound(
                f"`{' '.join(cmd)}` failed (exit code {done.returncode}); install Chromium "
                f"with `{manual}` or set {ENV_BINARY} to a Chromium binary"
            )
    return find_chromium()


def ensure_chromium(*, install: bool | None = None) -> str:
    """Path of Chromium, installing Debian's package first if it is missing.

    ``install=None`` installs unless ``NBCHANNEL_INSTALL_CHROMIUM=0``. Raises
    :class:`ChromiumNotFound` (with the command to run) when Chromium is missing and cannot
    be installed.
    """
    if install is None:
        install = os.environ.get(ENV_INSTALL, "1") != "0"
    try:
        return find_chromium()
    except ChromiumNotFound as missing:
        if os.environ.get(ENV_BINARY):
            raise  # the binary the user named is broken; Debian's package would not be it
        if not install:
            raise ChromiumNotFound(
                f"{missing}; installing it automatically is off ({ENV_INSTALL}=0 or --no-install)"
            ) from None
    return install_chromium()


def main(argv: Sequence[str] | None = None) -> int:
    """Print Chromium's path (installing it if missing); exit code 1 with the fix if not."""
    parser = argparse.ArgumentParser(
        prog="python -m nbchannel.testing.chromium",
        description="Find the Chromium the browser tests use; install Debian's package "
        "(apt-get, as root or through sudo) if it is missing.",
    )
    parser.add_argument("--no-install", action="store_true", help="only look, never install")
    args = parser.parse_args(argv)
    try:
        path = ensure_chromium(install=False if args.no_install else None)
    except ChromiumNotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
