"""``nbchannel demo``: a working copy of the notebooks and a JupyterLab that serves them."""

from __future__ import annotations

import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from nbchannel.demo import notebooks_source
from nbchannel.testing.server import free_port


def test_demo_copies_the_notebooks_and_serves_them(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nbchannel",
            "demo",
            "--no-browser",
            "--port",
            str(port),
            "--dir",
            str(work),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = None
        deadline = time.monotonic() + 60
        while url is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            m = re.search(r"open (http://\S+)", line)
            if m:
                url = m.group(1)
        assert url is not None and f":{port}/lab/tree/01-quickstart.ipynb?token=" in url
        token = url.split("token=")[1]
        deadline = time.monotonic() + 60
        while True:
            try:
                req = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/contents",
                    headers={"Authorization": f"token {token}"},
                )
                with urllib.request.urlopen(req, timeout=5) as resp:
                    listing = resp.read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        originals = sorted(p.name for p in notebooks_source().glob("*.ipynb"))
        assert len(originals) == 6
        assert sorted(p.name for p in work.glob("*.ipynb")) == originals
        assert all(name in listing for name in originals)
        # the server runs the extension
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/nbchannel/api/channels",
            headers={"Authorization": f"token {token}"},
        )
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(20)


def test_demo_keeps_the_users_edited_copies(tmp_path: Path) -> None:
    from nbchannel.demo import copy_notebooks

    first = copy_notebooks(tmp_path)
    assert len(first) == 6
    edited = tmp_path / "01-quickstart.ipynb"
    edited.write_text("edited")
    assert copy_notebooks(tmp_path) == []
    assert edited.read_text() == "edited"
