"""``nbchannel doctor``: check the installation and explain how to fix what is wrong."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from ._version import __version__

__all__ = ["Check", "run_checks"]


@dataclass
class Check:
    """One finding: what was checked, whether it is fine, and what to do if not."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def check_extension() -> Check:
    """Is the server extension enabled, as jupyter-server itself decides, and does it import?"""
    from jupyter_server.serverapp import ServerApp

    name = "server extension"
    # Ask the server's own config loading: a user's jupyter_server_config.json overrides the
    # jupyter_server_config.d files installed with packages, whatever the path order says.
    app = ServerApp()
    app.load_config_file()
    app.find_server_extensions()
    if not app.jpserver_extensions.get("nbchannel"):
        return Check(
            name,
            False,
            "nbchannel is not enabled for jupyter-server, so no hub runs and kernels cannot "
            "reach browsers",
            "jupyter server extension enable nbchannel",
        )
    try:
        from . import _jupyter_server_extension_points

        _jupyter_server_extension_points()
    except Exception as exc:  # report, don't crash: this is a diagnostic
        return Check(
            name, False, f"enabled, but it does not load: {exc}", "pip install -U nbchannel"
        )
    return Check(name, True, "enabled and loads")


def check_bundle() -> Check:
    """Is the widgets' JavaScript bundle in the package?"""
    path = Path(str(resources.files("nbchannel"))) / "static" / "widgets.js"
    if path.is_file() and path.stat().st_size > 1000:
        return Check("widget bundle", True, f"{path} ({path.stat().st_size // 1024} KiB)")
    return Check(
        "widget bundle",
        False,
        f"{path} is missing: widgets will show an error instead of rendering",
        "reinstall from a wheel (pip install --force-reinstall nbchannel), or from a source "
        "checkout with node: npm --prefix js ci && npm --prefix js run build",
    )


def check_anywidget() -> Check:
    """Is anywidget's front end installed where JupyterLab and Notebook 7 look?"""
    from jupyter_core.paths import jupyter_path

    for base in jupyter_path("labextensions"):
        if (Path(base) / "anywidget" / "package.json").is_file():
            return Check("anywidget front end", True, f"found in {base}")
    return Check(
        "anywidget front end",
        False,
        "JupyterLab/Notebook will not render nbchannel widgets without anywidget's extension",
        "pip install anywidget (in the environment that runs JupyterLab)",
    )


def check_labextension() -> Check:
    """Is nbchannel's JupyterLab renderer installed, complete, current and enabled?

    It draws widget outputs straight from the hub in JupyterLab 4 and Notebook 7 (a page
    reloaded while a cell runs shows them at once); without it the widget-view is drawn,
    which waits for the kernel.
    """
    from jupyter_core.paths import jupyter_path

    name = "JupyterLab renderer"
    reinstall = "pip install --force-reinstall nbchannel (in the environment that runs JupyterLab)"
    bases = jupyter_path("labextensions")
    found = next((Path(b) / "nbchannel" for b in bases if (Path(b) / "nbchannel").is_dir()), None)
    if found is None:
        return Check(
            name,
            False,
            "nbchannel's labextension is not installed: JupyterLab draws widgets through the "
            "kernel, so a page reloaded while a cell runs shows 'Loading widget...' until "
            "the cell ends",
            reinstall,
        )
    try:
        meta = json.loads((found / "package.json").read_text(encoding="utf-8"))
        load = found / meta["jupyterlab"]["_build"]["load"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Check(name, False, f"{found} is incomplete ({exc})", reinstall)
    if not load.is_file():
        return Check(name, False, f"{found} is incomplete: {load.name} is missing", reinstall)
    if meta.get("version") != __version__:
        return Check(
            name,
            False,
            f"{found} is version {meta.get('version')}, the Python package {__version__}",
            reinstall,
        )
    try:
        from jupyterlab_server.config import get_page_config
    except ImportError:
        return Check(name, True, f"installed in {found.parent} (JupyterLab is not installed here)")
    # (a list of names, or a dict of name → flag, depending on where it was read from)
    listed = get_page_config(bases).get("disabledExtensions") or []
    disabled = {k for k, v in listed.items() if v} if isinstance(listed, dict) else set(listed)
    if disabled & {"nbchannel", "nbchannel:view-renderer"}:
        return Check(
            name,
            False,
            f"installed in {found.parent} but disabled: widgets are drawn through the kernel",
            "jupyter labextension enable nbchannel",
        )
    return Check(name, True, f"enabled, in {found.parent}")


def check_hub(timeout: float = 60.0) -> Check:
    """Start a Jupyter server with the user's config and a kernel; does a channel connect?"""
    from .testing.server import JupyterServer

    name = "hub reachable from a kernel"
    server = JupyterServer(isolated=False)
    try:
        server.start(timeout=timeout)
        kernel = server.start_kernel()
        try:
            address = kernel.eval("__import__('os').environ.get('NBCHANNEL_ADDRESS')")
            if not address:
                return Check(
                    name,
                    False,
                    "a kernel started by the Jupyter server has no NBCHANNEL_ADDRESS: the "
                    "extension did not load in the server",
                    "jupyter server extension enable nbchannel, then restart Jupyter",
                )
            ok = kernel.eval(
                "(lambda c: [c.wait_connected(10), c.close()][0])"
                "(__import__('nbchannel').LiveChannel('nbchannel-doctor'))"
            )
        finally:
            kernel.shutdown()
    except Exception as exc:
        return Check(name, False, f"could not run a test server and kernel: {exc}", "see above")
    finally:
        server.stop()
        server.cleanup()
    if ok:
        return Check(name, True, f"a kernel connected to the hub at {address}")
    return Check(
        name,
        False,
        f"the kernel could not connect to the hub at {address}",
        "check the server log (jupyter lab --debug) for 'nbchannel' lines",
    )


def run_checks(*, live: bool = True) -> list[Check]:
    """Every check, in order (``live``: include the one that starts a server and kernel)."""
    checks = [check_extension(), check_bundle(), check_anywidget(), check_labextension()]
    if live:
        checks.append(check_hub())
    return checks


def main(*, live: bool = True, as_json: bool = False) -> int:
    """Print the report; exit code 0 when everything is fine, 1 otherwise."""
    checks = run_checks(live=live)
    if as_json:
        print(json.dumps([asdict(c) for c in checks], indent=2))
    else:
        print(f"nbchannel {__version__} (Python {sys.version.split()[0]}, {sys.prefix})")
        for c in checks:
            mark = "OK  " if c.ok else "FAIL"
            print(f"  {mark} {c.name}: {c.detail}")
            if not c.ok:
                print(f"       fix: {c.fix}")
        bad = sum(not c.ok for c in checks)
        print("all good" if not bad else f"{bad} problem(s) found")
        print("status page: <server URL>nbchannel/, e.g. http://localhost:8888/nbchannel/")
    return 0 if all(c.ok for c in checks) else 1
