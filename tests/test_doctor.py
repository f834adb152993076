"""``nbchannel doctor`` on a healthy install and on a broken one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def _doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nbchannel", "doctor", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )


def test_a_healthy_install_passes_every_check() -> None:
    out = _doctor("--json")
    assert out.returncode == 0, out.stdout + out.stderr
    checks = {c["name"]: c for c in json.loads(out.stdout)}
    assert set(checks) == {
        "server extension",
        "widget bundle",
        "anywidget front end",
        "JupyterLab renderer",
        "hub reachable from a kernel",
    }
    assert all(c["ok"] for c in checks.values()), checks
    assert "connected to the hub" in checks["hub reachable from a kernel"]["detail"]


def test_a_disabled_extension_is_reported_with_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.mkdir()
    (config / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"nbchannel": False}}})
    )
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(config)}
    out = _doctor(env=env)
    assert out.returncode == 1
    text = out.stdout
    assert "FAIL server extension" in text
    assert "fix: jupyter server extension enable nbchannel" in text
    assert "FAIL hub reachable from a kernel" in text
    assert "OK   widget bundle" in text
    assert "2 problem(s) found" in text


def test_a_disabled_labextension_is_reported_with_the_fix(tmp_path: Path) -> None:
    config = tmp_path / "config"
    (config / "labconfig").mkdir(parents=True)
    # what `jupyter labextension disable nbchannel` writes
    (config / "labconfig" / "page_config.json").write_text(
        json.dumps({"disabledExtensions": {"nbchannel": True}})
    )
    out = _doctor("--quick", env={**os.environ, "JUPYTER_CONFIG_DIR": str(config)})
    assert out.returncode == 1
    assert "FAIL JupyterLab renderer: installed in" in out.stdout
    assert "fix: jupyter labextension enable nbchannel" in out.stdout
    assert "1 problem(s) found" in out.stdout
