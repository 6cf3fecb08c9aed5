"""docs/consuming.md, followed as written: every shell block, in page order, on loopback.

Every fenced ``bash`` block of the page follows a ``<!-- consumer: TERMINAL NAME -->``
marker and runs with ``bash -euo pipefail`` in that terminal: ``pip`` (a service on the
pip approach, a copy of the sample), ``submodule`` (the parent directory of a service on
the submodule approach, cloned from the git host), ``teammate`` (an empty directory) or
``platform`` (a clone of the library). A terminal keeps its exported variables and its
directory from one block to the next, as a reader's shell does. Only the substitutions
the page lists under "What the page's test substitutes" are applied (``substitute``).

The world around the reader is real: a devpi-server holding common-utils 1.0.0 and 1.1.0,
each published by the release pipeline (``--skip-tests``); a git host of bare
repositories on disk; ``cf`` is ``fake_cf.py`` (the buildpack's install and the
manifest's command on a loopback port, health-checked). Every process started is ended
by its PID; every wait is on a state, bounded. Timings are printed with ``-s``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from common_utils_platform.devpitools import DevpiServer, build_wheelhouse, seed_base_index
from common_utils_platform.devsupport import free_port, make_venv

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import pip_env, run_release_cli, tool
from tests.e2e.consumers import SERVICE_SRC, TEST_PYTHON, UWSGI_PIN, copy_service, git, run

DOC = REPO_ROOT / "docs" / "consuming.md"
MARK = re.compile(r"^<!-- consumer: (\w+) ([\w-]+) -->\n```bash\n(.*?)^```", re.M | re.S)
TERMINALS = ("pip", "submodule", "teammate", "platform")
FIRST, UPGRADE = "1.0.0", "1.1.0"
SERVICE_TAG = "v2.0.0"
TEAM_DEVPI = "https://devpi.example.internal"
TEAM_GIT = "https://git.example.internal/"
APP_ROUTE = "https://example-app.apps.example.internal"
# A block that starts a server in the foreground: run until /health answers, then stopped.
SERVERS = {"by-hand"}


def marked_blocks(text: str) -> list[tuple[str, str, str]]:
    """The page's marked shell blocks, in order: ``[(terminal, name, text)]``."""
    return [(m[1], m[2], m[3]) for m in MARK.finditer(text)]


@dataclass
class World:
    """What the blocks' placeholders stand for here."""

    devpi_url: str
    git_host: Path
    app_port: int
    server_port: int

    def substitute(self, text: str) -> str:
        """Apply the documented substitutions (docs/consuming.md) and nothing else."""
        text = text.replace(TEAM_DEVPI, self.devpi_url)
        text = text.replace(TEAM_GIT, f"file://localhost{self.git_host}/")
        text = text.replace(APP_ROUTE, f"http://127.0.0.1:{self.app_port}")
        text = re.sub(r"\bPORT=8080\b", f"PORT={self.server_port}", text)
        return text.replace(" :$PORT", " 127.0.0.1:$PORT")


@dataclass
class Terminal:
    """A reader's shell: its directory and exported variables survive between blocks."""

    name: str
    cwd: Path
    env: dict[str, str]
    state: Path
    times: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "cwd").write_text(str(self.cwd))
        (self.state / "env").write_text("")

    def script(self, block: str) -> str:
        state = self.state
        return (
            f'. "{state}/env"\ncd "$(cat "{state}/cwd")"\n{block}\n'
            f"export -p | grep -Ev '^declare -x (PWD|OLDPWD|SHLVL|_)=' > \"{state}/env\"\n"
            f'pwd > "{state}/cwd"\n'
        )

    def run(self, name: str, block: str, timeout: float = 900) -> str:
        started = time.monotonic()
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", self.script(block)],
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
        log.write_text(out)  # kept: a failed block's whole output
        assert done.returncode == 0, (
            f"block {self.name} {name} failed (whole output: {log}):\n{out[:3000]}\n...\n"
            f"{out[-3000:]}"
        )
        return done.stdout

    @property
    def here(self) -> Path:
        return Path((self.state / "cwd").read_text().strip())

    def start(self, block: str, log: Path) -> subprocess.Popen[bytes]:
        """Run a foreground server block in the background (a new process group)."""
        with log.open("wb") as out:
            return subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", self.script(block)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                start_new_session=True,
            )


def stop_group(pgid: int) -> None:
    """End a process group this test started (its leader's PID), bounded."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def get_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return dict(json.loads(resp.read()))


def wait_healthy(url: str, proc: subprocess.Popen[bytes], seconds: float = 300) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"{url}/health", timeout=2) as resp,
        ):
            if resp.status == 200:
                return True
        time.sleep(0.2)
    return False


def describe(path: Path) -> str:
    return git(path, "describe", "--tags")


# -- the world: devpi with two releases, a git host, the reader's machine -----------------


@pytest.fixture(scope="module")
def page_devpi(
    devpi_wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DevpiServer]:
    """A devpi of this test alone: the fleet block's "newest release" is this test's."""
    server = DevpiServer.temporary(bases=("root/deps",), role="primary")
    try:
        server.start()
        server.bootstrap()
        seed_base_index(server, devpi_wheelhouse, index="root/deps")
        extra = tmp_path_factory.mktemp("page-wheels")
        sample = SERVICE_SRC
        from importlib.metadata import version

        build_wheelhouse(extra, [
            "--only-binary", ":all:", f"uv=={version('uv')}", "tox",
            "-r", str(sample / "tests" / "requirements.txt"),
            "-r", str(sample / "service_tests" / "requirements.txt"),
            *(line for line in (sample / "requirements-server.txt").read_text().splitlines()
              if line.startswith("gunicorn")),
        ])  # fmt: skip
        assert UWSGI_PIN
        # NOTE: built here, for this Python: a wheel from pip's cache may link another
        # interpreter's libpython (a uWSGI binary embeds it), and the reader's `python`
        # is this Python's base.
        run(
            [sys.executable, "-m", "pip", "wheel", "-q", "--no-cache-dir", "--no-deps",
             "-w", str(extra), UWSGI_PIN[0]],
            env={**os.environ, "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"},
            timeout=900,
        )  # fmt: skip
        seed_base_index(server, extra, index="root/deps")
        yield server
    finally:
        server.stop()
        server.cleanup()


@pytest.fixture(scope="module")
def library(page_devpi: DevpiServer, make_release_checkout: Callable[..., Path]) -> Path:
    """The library tagged v1.0.0 and v1.1.0, both published by the pipeline to page_devpi."""
    env = {
        **os.environ,
        "DEVPI_URL": page_devpi.url,
        "DEVPI_USER": page_devpi.release_user,
        "DEVPI_PASSWORD": page_devpi.release_password,
        "DEVPI_STAGING_INDEX": page_devpi.staging_index,
        "DEVPI_RELEASE_INDEX": page_devpi.release_index,
        "PYTHONWARNINGS": "ignore",
    }
    checkout = make_release_checkout(f"v{FIRST}")
    for version in (FIRST, UPGRADE):
        if version != FIRST:
            (checkout / "RELEASE").write_text(version)
            git(checkout, "add", "RELEASE")
            git(checkout, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid",
                "commit", "-qm", f"release {version}")  # fmt: skip
            git(checkout, "tag", "-a", f"v{version}", "-m", f"common_utils {version}")
        done = run_release_cli(checkout, "--skip-tests", env=env, timeout=1800)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return checkout


def reader_machine(tmp: Path, devpi: DevpiServer) -> tuple[Path, dict[str, str]]:
    """The reader's HOME and environment: git, curl, python, tox and the fake cf on PATH."""
    home = tmp / "home"
    home.mkdir()
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Reader\n\temail = reader@example.invalid\n"
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
    )
    tools = make_venv(tmp / "reader-tools", with_pip=True)
    run([str(tools), "-m", "pip", "install", "-q", "--index-url",
         devpi.simple_url("root/deps"), "tox"], env=pip_env())  # fmt: skip
    bin_dir = tmp / "bin"
    bin_dir.mkdir()
    base_python = Path(getattr(sys, "_base_executable", sys.executable))
    (bin_dir / "python").symlink_to(base_python)
    (bin_dir / "tox").symlink_to(tools.parent / "tox")
    cf = bin_dir / "cf"
    fake = Path(__file__).parent / "fake_cf.py"
    cf.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" "$@"\n')
    cf.chmod(0o755)
    fleet = tool("common-utils-fleet")[0]
    env = {
        "HOME": str(home),
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "FAKE_CF_STATE": str(tmp / "cf"),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    platform_bin = tmp / "platform-bin"
    platform_bin.mkdir()
    (platform_bin / "common-utils-fleet").symlink_to(fleet)
    return platform_bin, env


def pip_service(root: Path, devpi: DevpiServer, index_url: str) -> Path:
    """The pip approach's service: the sample, its lock re-made against this devpi."""
    copy_service(root)
    for name in ("requirements-submodule.in", "requirements-submodule.txt"):
        (root / name).unlink()
    (root / "runtime.txt").write_text(f"python-{TEST_PYTHON}.x\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    run([*tool("common-utils-lock"), "--index-url", index_url], cwd=root, env=env)
    return root


def commit_tagged(root: Path, tag: str) -> None:
    ident = ("-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, *ident, "commit", "-qm", "the service")
    git(root, *ident, "tag", "-a", tag, "-m", tag)


@pytest.mark.e2e
def test_marked_blocks_are_every_shell_block_of_the_page() -> None:
    text = DOC.read_text()
    blocks = marked_blocks(text)
    assert len(blocks) == text.count("```bash\n"), "a bash block without a consumer marker"
    assert {t for t, _, _ in blocks} <= set(TERMINALS)
    names = [f"{t} {n}" for t, n, _ in blocks]
    assert len(names) == len(set(names)), names
    section = text.split("## What the page's test substitutes", 1)[1]
    assert "fake_cf.py" in section


@pytest.mark.e2e
def test_the_page_runs_as_written_for_both_approaches(
    page_devpi: DevpiServer, library: Path, tmp_path: Path
) -> None:
    started = time.monotonic()
    index = page_devpi.simple_url(page_devpi.release_index)
    git_host = tmp_path / "githost"
    world = World(page_devpi.url, git_host, free_port(), free_port())
    platform_bin, env = reader_machine(tmp_path, page_devpi)

    # The git host: the library, and the submodule approach's service, as bare repositories.
    library_bare = git_host / "platform" / "common_utils.git"
    git(tmp_path, "clone", "-q", "--bare", str(library), str(library_bare))
    sub_src = copy_service(tmp_path / "sub-src")
    for name in ("requirements.in", "requirements.txt"):
        (sub_src / name).unlink()
    (sub_src / "runtime.txt").write_text(f"python-{TEST_PYTHON}.x\n")
    commit_tagged(sub_src, SERVICE_TAG)
    git(tmp_path, "clone", "-q", "--bare", str(sub_src), str(git_host / "team" / "my-service.git"))
    reader_sub = tmp_path / "submodule-reader"
    reader_sub.mkdir()
    git(reader_sub, "clone", "-q", f"file://{git_host}/team/my-service.git", "my-service")

    pip_root = pip_service(tmp_path / "pip-reader" / "my-service", page_devpi, index)
    commit_tagged(pip_root, SERVICE_TAG)
    platform_root = tmp_path / "platform"
    git(tmp_path, "clone", "-q", f"file://{git_host}/platform/common_utils.git", str(platform_root))
    (platform_root / "services.txt").write_text(f"example-app http://127.0.0.1:{world.app_port}\n")
    (tmp_path / "teammate").mkdir()
    cf_env = {**env, "FAKE_CF_PORT": str(world.app_port)}
    terminals = {
        "pip": Terminal("pip", pip_root, cf_env, tmp_path / "term-pip"),
        "submodule": Terminal("submodule", reader_sub, cf_env, tmp_path / "term-sub"),
        "teammate": Terminal("teammate", tmp_path / "teammate", env, tmp_path / "term-mate"),
        "platform": Terminal("platform", platform_root,
                             {**env, "PATH": f"{platform_bin}:{env['PATH']}"},
                             tmp_path / "term-platform"),
    }  # fmt: skip
    app = f"http://127.0.0.1:{world.app_port}"
    sub_root = reader_sub / "my-service"
    server: subprocess.Popen[bytes] | None = None
    ran = []
    try:
        for terminal_name, name, block in marked_blocks(DOC.read_text()):
            terminal = terminals[terminal_name]
            text = world.substitute(block)
            ran.append(f"{terminal_name} {name}")
            if name in SERVERS:
                server = terminal.start(text, tmp_path / f"{name}.log")
                url = f"http://127.0.0.1:{world.server_port}"
                assert wait_healthy(url, server), (tmp_path / f"{name}.log").read_text()[-3000:]
                doc = get_json(f"{url}/version")
                assert doc["common_utils"]["source"] == "pip", doc
                assert doc["common_utils"]["version"] == UPGRADE, doc
                stop_group(server.pid)
                server = None
                continue
            out = terminal.run(name, text)
            checker = CHECKS.get(f"{terminal_name} {name}")
            if checker is not None:
                checker(Done(out, terminal.here, app, index, pip_root, sub_root, tmp_path))
    finally:
        if server is not None:
            stop_group(server.pid)
        pidfile = tmp_path / "cf" / "example-app.pid"
        if pidfile.is_file():
            stop_group(int(pidfile.read_text()))
    for expected in CHECKS:
        assert expected in ran, f"the block {expected} is gone from the page"
    times = {f"{t.name} {k}": v for t in terminals.values() for k, v in t.times.items()}
    print("\nconsuming.md blocks: " + ", ".join(f"{k} {v:.1f} s" for k, v in times.items()))
    print(f"consuming.md followed in {time.monotonic() - started:.1f} s")


@dataclass(frozen=True)
class Done:
    """A block's output and where things are, for the checks below."""

    out: str
    here: Path
    app: str
    index: str
    pip_root: Path
    sub_root: Path
    tmp: Path

    @property
    def teammate(self) -> Path:
        return self.tmp / "teammate" / "my-service" / "submodules" / "common_utils"


def check_pip_venv(done: Done) -> None:
    probe = run([str(done.pip_root / ".venv/bin/python"), "-c",
                 "import common_utils; print(common_utils.__version__)"], cwd=done.tmp)  # fmt: skip
    assert probe.stdout.strip() == FIRST


def check_lock_tool(done: Done) -> None:
    venv_bin = done.here / ".venv" / "bin"
    assert (venv_bin / "common-utils-lock").is_file()
    assert (venv_bin / "uv").is_file()


def check_config(done: Done) -> None:
    assert "extra-index-url" not in done.out, done.out
    assert f"PIP_INDEX_URL={done.index}" in done.out, done.out


def check_no_config(done: Done) -> None:
    assert f"Looking in indexes: {done.index}\n" in done.out, done.out


def pushed(source: str, version: str) -> Callable[[Done], None]:
    """The app the fake cf runs says ``source`` and ``version`` on /version."""

    def check(done: Done) -> None:
        doc = get_json(f"{done.app}/version")
        assert doc["common_utils"]["source"] == source, doc
        assert doc["common_utils"]["version"] == version, doc
        if version == FIRST:
            assert json.loads(done.out.strip().splitlines()[-1]) == doc  # the block's curl
            assert doc["app"]["version"] == SERVICE_TAG[1:], doc
        else:  # committed after the tag
            assert re.fullmatch(r"2\.0\.1\.dev\d+\+g[0-9a-f]+", doc["app"]["version"]), doc
        if source == "pip" and version == UPGRADE:
            assert git(done.pip_root, "status", "--porcelain", "--untracked-files=no") == ""
            assert "common-utils-constraints.txt" in git(done.pip_root, "ls-files")

    return check


def check_submodule_add(done: Done) -> None:
    assert "branch = v1.0.0" in (done.sub_root / ".gitmodules").read_text()
    assert describe(done.sub_root / "submodules/common_utils") == "v1.0.0"
    remote = done.tmp / "githost" / "team" / "my-service.git"
    assert git(remote, "log", "-1", "--format=%s", "main") == "common_utils v1.0.0 as a submodule"


def check_submodule_install(done: Done) -> None:
    run([str(done.sub_root / ".venv/bin/python"), "-c", "import falcon, jwt, cerberus"],
        cwd=done.tmp)  # fmt: skip


def check_teammate_clone(done: Done) -> None:
    assert describe(done.teammate) == "v1.0.0"


def check_submodule_update(done: Done) -> None:
    assert "branch = v1.1.0" in (done.sub_root / ".gitmodules").read_text()
    assert describe(done.sub_root / "submodules/common_utils") == "v1.1.0"


def check_teammate_pull(done: Done) -> None:
    assert describe(done.teammate) == "v1.1.0"
    assert not re.search(r"^\+", done.out, re.M), done.out


def check_relock(done: Done) -> None:
    assert "requirements.txt: no change" in done.out, done.out


def check_constraints(done: Done) -> None:
    assert re.search(r"^constraints: \d+ pins from ", done.out, re.M), done.out


def check_fleet(done: Done) -> None:
    row = rf"^example-app\s+example-app\s+\S+\s+{re.escape(UPGRADE)}\s"
    assert re.search(row, done.out, re.M), done.out


def check_tox(done: Done) -> None:
    assert "congratulations" in done.out, done.out[-3000:]


# What each block must have done (deleting or breaking a step fails here); the server
# block "pip by-hand" is checked where it runs.
CHECKS: dict[str, Callable[[Done], None]] = {
    "pip venv": check_pip_venv,
    "pip lock-tool": check_lock_tool,
    "pip config-check": check_config,
    "pip no-config": check_no_config,
    "pip cf-push": pushed("pip", FIRST),
    "pip upgrade": pushed("pip", UPGRADE),
    "submodule venv": check_lock_tool,
    "submodule add": check_submodule_add,
    "submodule install": check_submodule_install,
    "teammate clone": check_teammate_clone,
    "submodule update": check_submodule_update,
    "teammate pull": check_teammate_pull,
    "submodule cf-push": pushed("submodule", UPGRADE),
    "pip relock": check_relock,
    "pip constraints": check_constraints,
    "platform fleet": check_fleet,
    "pip tox": check_tox,
    "submodule tox": check_tox,
}
