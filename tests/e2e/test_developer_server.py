"""The developer server's pages, run as written in a fresh ``git clone`` of HEAD.

- docs/operations.md, "The developer server (`tox -e devpi`)": its block, then the
  ``tox -e devpi -- status|bootstrap|stop`` commands its "Other commands" line lists;
- devpi/README.md, "Quick local try": start, tag, the real release pipeline (verify and its
  test run included) publishing 1.0.0 as ``ci-release``, which pip then installs from the
  server on loopback (and docs/release.md's install block and its by-hand fetch of the
  release notes from the doc zip), and the stop.

``tox`` is the one the project bootstraps (``.venv-bootstrap/bin/tox``, ``python3 dev.py``),
first on the blocks' ``PATH``. Only the substitutions both pages list under "What the test
substitutes" are applied. Each block's server is stopped by its documented command and must
be gone after it; a test that fails midway stops it by the PID in its pidfile. Every wait is
bounded; the time of each block is printed (``-s``).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import venv
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import pytest
from common_utils_platform.devpitools import DevpiAPI, DevpiServer
from common_utils_platform.devsupport import free_port, git

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import install_from, pip_env

pytestmark = pytest.mark.e2e

README = REPO_ROOT / "devpi" / "README.md"
OPERATIONS = REPO_ROOT / "docs" / "operations.md"
RELEASE_DOC = REPO_ROOT / "docs" / "release.md"
BOOTSTRAP_TOX = REPO_ROOT / ".venv-bootstrap" / "bin" / "tox"
RELEASED = "1.0.0"
_BASH = re.compile(r"```bash\n(.*?)^```", re.M | re.S)


def block_after(text: str, marker: str) -> str:
    """The first ``bash`` block after the line ``marker`` starts."""
    start = re.search(rf"^{re.escape(marker)}", text, re.M)
    assert start, f"no {marker!r} in the page"
    block = _BASH.search(text, start.end())
    assert block, f"no bash block after {marker!r}"
    return block[1]


def commands(block: str) -> list[str]:
    """The block's commands, one per logical line (``\\`` continuations joined)."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


@dataclass
class Terminal:
    """A developer's shell in the clone: exported variables survive from one run to the next."""

    cwd: Path
    env: dict[str, str]
    state: Path
    times: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state.mkdir(parents=True)
        (self.state / "env").write_text("")

    def run(self, name: str, script: str, *, timeout: float, expect: int = 0) -> str:
        """Run ``script`` with ``bash -euo pipefail``; return its stdout and stderr."""
        wrapped = (
            f'. "{self.state}/env"\n{script}\n'
            f"export -p | grep -Ev '^declare -x (PWD|OLDPWD|SHLVL|_)=' > \"{self.state}/env\"\n"
        )
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", wrapped],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        self.times[name] = time.monotonic() - started
        out = done.stdout + done.stderr
        log = self.state / f"{name}.log"
        log.write_text(out)
        assert done.returncode == expect, (
            f"{name}: exit {done.returncode}, not {expect} (whole output: {log}):\n"
            f"{out[:3000]}\n...\n{out[-3000:]}"
        )
        print(f"{name}: {self.times[name]:.1f} s")
        return out


def _terminal_env(serverdir: Path, port: int) -> dict[str, str]:
    """This machine's environment without the e2e env's tox, venv and DEVPI_* settings."""
    own_bin = str(Path(sys.prefix) / "bin")
    path = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != own_bin]
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TOX_", "_TOX", "DEVPI_", "RELEASE_", "VIRTUAL_ENV", "PYTHON"))
    }
    env["PATH"] = os.pathsep.join([str(BOOTSTRAP_TOX.parent), *path])
    env["DEVPI_SERVERDIR"] = str(serverdir)
    env["DEVPI_PORT"] = str(port)
    return env


def _alive(pid: int, serverdir: Path) -> bool:
    """Whether ``pid`` is still the devpi-server of ``serverdir`` (a zombie is gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z" and str(serverdir).encode() in cmdline


def _answers(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        return True
    return False


def assert_gone(pid: int, serverdir: Path, port: int, timeout: float = 30) -> None:
    """Wait (bounded) until the server ``pid`` is gone and nothing answers on ``port``."""
    deadline = time.monotonic() + timeout
    while _alive(pid, serverdir) or _answers(port):
        assert time.monotonic() < deadline, f"devpi-server {pid} still there after {timeout} s"
        time.sleep(0.1)
    assert not (serverdir / "devpi-server.pid").exists()


@contextlib.contextmanager
def stopped_in_the_end(serverdir: Path, port: int) -> Iterator[None]:
    """After the test, a server the blocks left running is stopped by its pidfile's PID."""
    try:
        yield
    finally:
        DevpiServer(serverdir=serverdir, port=port).stop(timeout=30)


class LoopbackMirror:
    """A PEP 503 simple index on 127.0.0.1 holding the verify lock's wheels.

    The test has no network: ``root/pypi``, the public mirror the developer server's
    indexes use as base, is pointed here (the pages' documented substitution).
    """

    def __init__(self, root: Path, wheelhouse: Path) -> None:
        files = root / "files"
        files.mkdir(parents=True)
        projects: dict[str, list[str]] = {}
        for wheel in sorted(wheelhouse.glob("*.whl")):
            shutil.copy2(wheel, files / wheel.name)
            digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
            name = re.sub(r"[-_.]+", "-", wheel.name.split("-", 1)[0]).lower()
            projects.setdefault(name, []).append(
                f'<a href="/files/{wheel.name}#sha256={digest}">{wheel.name}</a>'
            )
        simple = root / "simple"
        for name, links in projects.items():
            (simple / name).mkdir(parents=True)
            (simple / name / "index.html").write_text(
                "<html><body>" + "\n".join(links) + "</body></html>\n"
            )
        (simple / "index.html").write_text(
            "<html><body>"
            + "\n".join(f'<a href="{n}/">{n}</a>' for n in sorted(projects))
            + "</body></html>\n"
        )
        handler = partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def point_root_pypi_at(url: str, port: int, root_password: str) -> None:
    """As root, make ``root/pypi`` mirror ``url`` (the documented substitution)."""
    root = DevpiAPI(f"http://127.0.0.1:{port}", user="root", password=root_password)
    status, body = root.get("/root/pypi")
    assert status == 200, body
    config = {k: v for k, v in body["result"].items() if k not in ("projects", "+elinks")}
    config.update(mirror_url=url, mirror_cache_expiry=0)
    status, body = root.patch("/root/pypi", config)
    assert status == 200, body


def release_page_blocks(shell: Terminal, port: int, venv_dir: Path) -> None:
    """docs/release.md's install and by-hand doc zip blocks against the release just made.

    Substituted (as the page says): the version (1.5.0 and 1.4.0 there) is 1.0.0,
    ``<that href>`` the URL the block's first command prints, ``pip`` a fresh virtualenv's
    (pip's configuration ignored); ``DEVPI_URL`` is the developer server.
    """
    page = RELEASE_DOC.read_text()
    install = block_after(page, "dependency confusion, a public package")
    by_hand = block_after(page, "and by hand:").replace("1.4.0", RELEASED)
    find_href, fetch = commands(by_hand)
    venv.create(venv_dir, with_pip=True, symlinks=True)
    shell = Terminal(shell.cwd, pip_env(shell.env), shell.state.parent / "release-md")
    setup = f"export DEVPI_URL=http://127.0.0.1:{port} PATH={venv_dir}/bin:$PATH\n"
    out = shell.run("release.md install", setup + install.replace("1.5.0", RELEASED), timeout=600)
    assert "Successfully installed" in out, out
    probe = [
        str(venv_dir / "bin" / "python"),
        "-I",
        "-c",
        "import common_utils as c; print(c.__version__)",
    ]
    assert subprocess.run(
        probe, capture_output=True, text=True, check=True, timeout=60
    ).stdout.split() == [RELEASED]
    href = shell.run("release.md doczip href", setup + find_href, timeout=60).strip()
    assert href.startswith(f"http://127.0.0.1:{port}/team/release/+f/"), href
    notes = shell.run("release.md notes", setup + fetch.replace("<that href>", href), timeout=60)
    assert f"## [{RELEASED}]" in notes, notes


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the repository's HEAD, as a developer has it."""
    assert BOOTSTRAP_TOX.is_file(), "no .venv-bootstrap/bin/tox: run `python3 dev.py` once"
    dest = tmp_path_factory.mktemp("developer") / "common_utils"
    git(REPO_ROOT.parent, "clone", "-q", str(REPO_ROOT), str(dest))
    return dest


def test_operations_developer_server_block_and_its_other_commands(
    clone: Path, tmp_path: Path
) -> None:
    """operations.md: the block starts and bootstraps; status, bootstrap, stop as listed."""
    page = OPERATIONS.read_text()
    block = block_after(page, "## The developer server (`tox -e devpi`)")
    passwords: dict[str, str] = {}

    def password(match: re.Match[str]) -> str:
        passwords[match[1]] = f"{match[1].lower()}-{secrets.token_hex(8)}"
        return f"export {match[1]}={passwords[match[1]]}"

    script = re.sub(r"export (DEVPI_\w+_PASSWORD)=\.\.\.", password, block)
    assert set(passwords) == {
        "DEVPI_ROOT_PASSWORD",
        "DEVPI_TEAM_PASSWORD",
        "DEVPI_RELEASE_PASSWORD",
    }
    others = page[page.index("Other commands: ") :].split("\n\n", 1)[0]
    listed = re.findall(r"`tox -e devpi -- (\w+)`", others)
    assert {"status", "stop", "bootstrap"} <= set(listed), others

    serverdir, port = tmp_path / "server", free_port()
    shell = Terminal(clone, _terminal_env(serverdir, port), tmp_path / "shell")
    with stopped_in_the_end(serverdir, port):
        out = shell.run("operations block", script, timeout=900)
        pid = DevpiServer(serverdir=serverdir, port=port).pid
        assert pid is not None, out
        assert f"start: devpi-server (pid {pid}) at http://127.0.0.1:{port}" in out
        assert "bootstrap: created user ci-release" in out
        assert f"start: release index http://127.0.0.1:{port}/team/release/+simple/" in out
        for secret in passwords.values():
            assert secret not in out

        out = shell.run("status", "tox -e devpi -- status", timeout=300)
        assert f"running: pid {pid} at http://127.0.0.1:{port} for {serverdir}" in out
        out = shell.run("bootstrap", "tox -e devpi -- bootstrap", timeout=300)
        assert "bootstrap: nothing to do" in out
        out = shell.run("stop", "tox -e devpi -- stop", timeout=300)
        assert f"stop: stopped devpi-server (pid {pid}) for {serverdir}" in out
        assert_gone(pid, serverdir, port)
        out = shell.run("status after stop", "tox -e devpi -- status", timeout=300, expect=3)
        assert f"stopped: no devpi-server for {serverdir}" in out


def test_readme_quick_local_try_releases_to_the_developer_server(
    clone: Path, tmp_path: Path, devpi_wheelhouse: Path
) -> None:
    """devpi/README.md: start, tag, release 1.0.0 as ci-release (pip installs it), stop."""
    block = block_after(README.read_text(), "Quick local try:")
    lines = commands(block)
    start = next(i for i, c in enumerate(lines) if c.startswith("tox -e devpi")) + 1
    release = next(i for i, c in enumerate(lines) if "tox -e release" in c) + 1
    assert lines[release:] == ["tox -e devpi -- stop"], lines
    serverdir, port = tmp_path / "server", free_port()
    substituted = [c.replace("127.0.0.1:3141", f"127.0.0.1:{port}") for c in lines]
    root_password = re.search(r"DEVPI_ROOT_PASSWORD=(\S+)", block)
    release_password = re.search(r"DEVPI_RELEASE_PASSWORD=(\S+)", block)
    assert root_password, block
    assert release_password, block

    shell = Terminal(clone, _terminal_env(serverdir, port), tmp_path / "shell")
    mirror = LoopbackMirror(tmp_path / "mirror", devpi_wheelhouse)
    try:
        with stopped_in_the_end(serverdir, port):
            out = shell.run("start", "\n".join(substituted[:start]), timeout=900)
            pid = DevpiServer(serverdir=serverdir, port=port).pid
            assert pid is not None, out
            point_root_pypi_at(mirror.url, port, root_password[1])

            out = shell.run("tag and release", "\n".join(substituted[start:release]), timeout=1800)
            assert f"released common-utils=={RELEASED}: pip install --index-url" in out
            assert release_password[1] not in out
            assert git(clone, "tag", "--points-at", "HEAD").split() == [f"v{RELEASED}"]
            index = f"http://127.0.0.1:{port}/team/release/+simple/"
            fetched = tmp_path / "download"
            done = subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "download", "--no-deps", "-q"),
                    *("-d", str(fetched), "--index-url", index, f"common-utils=={RELEASED}"),
                ],
                env=pip_env(),
                capture_output=True,
                text=True,
                timeout=300,
                check=False,
            )
            assert done.returncode == 0, done.stdout + done.stderr
            assert {p.name for p in fetched.iterdir()} == {
                f"common_utils-{RELEASED}-py3-none-any.whl"
            }
            assert install_from(index, f"common-utils=={RELEASED}", tmp_path / "venv") == RELEASED
            release_page_blocks(shell, port, tmp_path / "pip-venv")

            out = shell.run("stop", "\n".join(substituted[release:]), timeout=300)
            assert f"stop: stopped devpi-server (pid {pid}) for {serverdir}" in out
            assert_gone(pid, serverdir, port)
    finally:
        mirror.close()
        print("times: " + ", ".join(f"{k} {v:.1f} s" for k, v in shell.times.items()))
