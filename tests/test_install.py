"""What a new user meets first: the README's demo command in a fresh virtual environment, the
demo's hint when JupyterLab is missing, and the Chromium the browser tests need."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

import nbchannel
from nbchannel import demo
from nbchannel.testing import chromium
from nbchannel.testing.server import free_port

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: What a fresh clone does not have (git ignores these).
UNCLONED = ("node_modules", "static", ".venv*", "test-artifacts", "__pycache__", "*.egg-info",
            ".*_cache", ".hypothesis")  # fmt: skip


def readme_commands() -> list[str]:
    """The copy-paste commands of the README's "Try it" section (its ```bash blocks)."""
    section = README.read_text().split("\n## Try it\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)


def test_the_readme_has_two_commands_demo_then_tests() -> None:
    demo_cmd, test_cmd = readme_commands()
    assert demo_cmd.startswith("pip install") and demo_cmd.endswith("nbchannel demo")
    assert test_cmd.startswith('pip install -e ".[test]"') and "python -m pytest" in test_cmd


# -- the demo, as the README runs it ----------------------------------------------------------


def _working_tree_copy(dest: Path) -> None:
    """The files a clone of this working tree has (tracked and new, nothing ignored: no
    node_modules, no built bundle); outside a git checkout (an sdist), the tree without them."""
    if not (ROOT / ".git").exists():
        shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*UNCLONED))
        return
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        src = ROOT / name
        if src.is_file():  # tracked files deleted in the working tree are listed too
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name)


def _isolated_environ(tmp: Path, path: list[Path]) -> dict[str, str]:
    """This process's environment (proxies, pip's index settings) without anything that would
    reach another Python or Jupyter installation; Jupyter's user dirs under ``tmp``."""
    dropped = ("VIRTUAL_ENV", "CONDA_", "PYTHONPATH", "PYTHONHOME", "PYTHONUSERBASE",
               "JUPYTER", "IPYTHONDIR", "NBCHANNEL_")  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env["PATH"] = os.pathsep.join(map(str, path))
    env["PYTHONNOUSERSITE"] = "1"
    # pip skips compiling each of the thousands of modules it installs;
    # what the demo imports is compiled when it is first imported, as it would be anyway
    env["PIP_NO_COMPILE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for var, sub in [
        ("JUPYTER_CONFIG_DIR", "config"),
        ("JUPYTER_DATA_DIR", "data"),
        ("JUPYTER_RUNTIME_DIR", "runtime"),
        ("IPYTHONDIR", "ipython"),
    ]:
        env[var] = str(tmp / "jupyter" / sub)
    return env


def _get_json(url: str, token: str) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_readme_demo_command_works_in_a_fresh_virtualenv(tmp_path: Path) -> None:
    """The README's first command, verbatim plus ``--no-browser --port N``, in a copy of this
    working tree and a new virtual environment.

    PATH holds only the new environment's ``bin`` and a directory with links to ``node``,
    ``npm`` and ``sh`` (installing from source builds the widgets with npm), so no other
    Python or ``jupyter`` on this machine can stand in. pip and npm use their usual caches and
    this machine's index settings (pip without compiling what it installs).
    """
    demo_cmd = readme_commands()[0]
    clone, venv, tools = tmp_path / "clone", tmp_path / "venv", tmp_path / "tools"
    _working_tree_copy(clone)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    tools.mkdir()
    for tool in ("node", "npm", "sh"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed to install nbchannel from source"
        (tools / tool).symlink_to(os.path.realpath(found))
    env = _isolated_environ(tmp_path, [venv / "bin", tools])
    runtime = Path(env["JUPYTER_RUNTIME_DIR"])
    bash = shutil.which("bash")
    assert bash is not None

    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        shell = subprocess.Popen(
            [bash, "-c", f"{demo_cmd} --no-browser --port {port}"],
            cwd=clone,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_tail() -> str:
        return log_path.read_text(errors="replace")[-4000:]

    server_pid = None
    try:
        token = None
        deadline = time.monotonic() + 1500  # a cold pip cache downloads all of JupyterLab
        while token is None:
            m = re.search(rf"open http://127\.0\.0\.1:{port}/lab/\S*token=(\w+)", log_tail())
            if m:
                token = m.group(1)
            assert shell.poll() is None, f"the command exited ({shell.returncode}):\n{log_tail()}"
            assert time.monotonic() < deadline, f"no demo URL printed:\n{log_tail()}"
            time.sleep(1)

        deadline = time.monotonic() + 120
        while True:
            try:
                status, body = _get_json(f"http://127.0.0.1:{port}/nbchannel/api/channels", token)
                break
            except OSError:
                assert shell.poll() is None, f"JupyterLab exited:\n{log_tail()}"
                assert time.monotonic() < deadline, f"JupyterLab did not answer:\n{log_tail()}"
                time.sleep(0.5)
        assert status == 200
        assert body["version"] == nbchannel.__version__

        # The server is the new environment's JupyterLab, started by `nbchannel demo` itself.
        (info,) = runtime.glob("jpserver-*.json")
        server_pid = json.loads(info.read_text())["pid"]
        cmdline = Path(f"/proc/{server_pid}/cmdline").read_bytes().split(b"\0")
        assert cmdline[0].decode().startswith(str(venv)), cmdline
        assert cmdline[1:3] == [b"-m", b"jupyterlab"], cmdline
        notebooks = sorted(p.name for p in (clone / "nbchannel-demo").glob("*.ipynb"))
        assert notebooks == sorted(p.name for p in demo.notebooks_source().glob("*.ipynb"))

        os.kill(server_pid, signal.SIGTERM)
        assert shell.wait(60) == 0, log_tail()
    finally:
        if shell.poll() is None:
            os.killpg(shell.pid, signal.SIGKILL)  # the session this test started
            shell.wait(10)


# -- the demo's hint ------------------------------------------------------------------------


def test_the_demo_without_jupyterlab_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(demo, "REQUIREMENTS", {"nbchannel_no_such_module": "JupyterLab"})
    assert demo.run_demo(tmp_path / "work", open_browser=False) == 1
    err = capsys.readouterr().err
    assert "JupyterLab is not installed in this Python environment" in err
    assert 'pip install "nbchannel[lab]"' in err and 'pip install -e ".[lab]"' in err
    assert not (tmp_path / "work").exists()


# -- Chromium for the browser tests -----------------------------------------------------------


def _script(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def no_chromium(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine without Chromium: Debian's path is under ``tmp_path`` and PATH holds only
    ``env`` (the fake apt-get goes there too). Returns that bin directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    env_tool = shutil.which("env")
    assert env_tool is not None
    (bin_dir / "env").symlink_to(env_tool)
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv(chromium.ENV_BINARY, raising=False)
    monkeypatch.delenv(chromium.ENV_INSTALL, raising=False)
    monkeypatch.setattr(chromium, "DEBIAN_PATHS", (str(tmp_path / "lib" / "chromium"),))
    return bin_dir


def _fake_apt_get(bin_dir: Path, tmp_path: Path, *, exit_code: int = 0) -> Path:
    """An apt-get that logs its arguments and "installs" by creating Debian's binary."""
    calls, binary = tmp_path / "apt-calls", tmp_path / "lib" / "chromium"
    _script(
        bin_dir / "apt-get",
        f"#!{sys.executable}\n"
        "import os, sys\n"
        f"with open({str(calls)!r}, 'a') as f:\n"
        "    print(os.environ.get('DEBIAN_FRONTEND'), *sys.argv[1:], file=f)\n"
        f"if sys.argv[1] == 'install' and {exit_code} == 0:\n"
        f"    os.makedirs({str(binary.parent)!r})\n"
        f"    with open({str(binary)!r}, 'w') as f:\n"
        "        f.write('#!/bin/sh\\n')\n"
        f"    os.chmod({str(binary)!r}, 0o755)\n"
        f"sys.exit({exit_code})\n",
    )
    return calls


def test_chromium_named_by_the_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary = tmp_path / "my-chromium"
    _script(binary, "#!/bin/sh\n")
    monkeypatch.setenv(chromium.ENV_BINARY, str(binary))
    assert chromium.ensure_chromium() == str(binary)
    monkeypatch.setenv(chromium.ENV_BINARY, str(tmp_path / "missing"))
    with pytest.raises(chromium.ChromiumNotFound, match=r"NBCHANNEL_CHROMIUM=.*missing"):
        chromium.ensure_chromium()


def test_a_missing_chromium_is_installed_with_apt_get_as_root(
    no_chromium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chromium, "_is_root", lambda: True)
    calls = _fake_apt_get(no_chromium, tmp_path)
    assert chromium.ensure_chromium() == str(tmp_path / "lib" / "chromium")
    assert calls.read_text().splitlines() == [
        "noninteractive update -qq",
        "noninteractive install -y -qq chromium",
    ]
    assert chromium.find_chromium() == str(tmp_path / "lib" / "chromium")


def test_a_failed_install_names_the_command(
    no_chromium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chromium, "_is_root", lambda: True)
    _fake_apt_get(no_chromium, tmp_path, exit_code=100)
    with pytest.raises(chromium.ChromiumNotFound) as exc:
        chromium.ensure_chromium()
    assert "exit code 100" in str(exc.value)
    assert "apt-get install -y chromium" in str(exc.value)


def test_without_root_or_sudo_the_error_says_what_to_run(
    no_chromium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chromium, "_is_root", lambda: False)
    calls = _fake_apt_get(no_chromium, tmp_path)  # there is apt-get, but no sudo
    with pytest.raises(chromium.ChromiumNotFound) as exc:
        chromium.ensure_chromium()
    assert "sudo apt-get update && sudo apt-get install -y chromium" in str(exc.value)
    assert not calls.exists()


def test_installing_can_be_turned_off(
    no_chromium: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(chromium, "_is_root", lambda: True)
    calls = _fake_apt_get(no_chromium, tmp_path)
    monkeypatch.setenv(chromium.ENV_INSTALL, "0")
    with pytest.raises(chromium.ChromiumNotFound, match=r"apt-get install -y chromium"):
        chromium.ensure_chromium()
    assert not calls.exists()


def _pytest(*args: str, chromium_binary: str) -> subprocess.Popen[str]:
    """``python -m pytest -q ARGS`` in this checkout, started (not waited for)."""
    env = {**os.environ, chromium.ENV_BINARY: chromium_binary}
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(run: subprocess.Popen[str]) -> subprocess.CompletedProcess[str]:
    stdout, stderr = run.communicate(timeout=120)
    return subprocess.CompletedProcess(run.args, run.returncode, stdout, stderr)


def test_a_test_run_with_browser_tests_stops_at_once_when_chromium_is_missing() -> None:
    # Both runs go side by side: each spends seconds starting Python and pytest.
    with_browser = _pytest("tests/browser/test_widgets.py", chromium_binary="/nonexistent/chromium")
    # Without browser tests among the selected ones, Chromium is not looked for.
    without = _pytest(
        "tests/browser/test_widgets.py", "-k", "no_such_test", chromium_binary="/nonexistent"
    )
    try:
        out = _result(with_browser)
        assert out.returncode == pytest.ExitCode.USAGE_ERROR, out.stdout + out.stderr
        assert "the browser tests need Chromium" in out.stderr
        assert "NBCHANNEL_CHROMIUM=/nonexistent/chromium is not an executable file" in out.stderr
        assert " passed" not in out.stdout and " skipped" not in out.stdout
        out = _result(without)
        assert out.returncode == pytest.ExitCode.NO_TESTS_COLLECTED, out.stdout + out.stderr
    finally:
        for run in (with_browser, without):
            if run.poll() is None:
                run.kill()
                run.communicate()
