"""What a kernel loads: the kernel side imports none of the server's stack."""

from __future__ import annotations

import json
import subprocess
import sys


def test_kernel_and_widgets_import_no_server_module() -> None:
    code = (
        "import json, sys\n"
        "import nbchannel, nbchannel.kernel, nbchannel.widgets\n"
        "from nbchannel import LiveChannel\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    loaded = set(json.loads(out.strip().splitlines()[-1]))
    assert "nbchannel.widgets.controls" in loaded  # the imports did happen
    server_side = {"tornado", "jupyter_server", "nbchannel.server"}
    # the hub runs in a kernel only when it serves views itself, loaded on first use then
    hub_only = {"nbchannel.core.hub", "nbchannel.core.peer", "nbchannel.kernel.comm"}
    assert not (loaded & (server_side | hub_only)), loaded & (server_side | hub_only)
    assert not any(m.startswith(("tornado.", "jupyter_server.")) for m in loaded)


def test_kernel_modules_import_each_other_only_through_the_port() -> None:
    """channel.py, client.py, comm.py and dispatch.py meet in port.py, not in each other."""
    import ast
    from pathlib import Path

    import nbchannel.kernel

    root = Path(nbchannel.kernel.__file__).parent
    imports: dict[str, set[str]] = {}
    for path in root.glob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                names.add(node.module)
        imports[path.stem] = names
    assert "channel" not in imports["client"] | imports["comm"] | imports["dispatch"]
    assert "channel" not in imports["transport"] | imports["port"]
    assert imports["port"] == set()
