"""What the consumer e2e tests share: a copied sample service, its locks and servers.

A support module (not a test module), imported by test_consume_pip.py,
test_consume_submodule.py, test_locked_consumers.py, test_fleet.py and
test_generated_client.py; its fixtures live in conftest.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from common_utils_platform import devsupport
from common_utils_platform.devpitools import build_wheelhouse, seed_base_index
from common_utils_platform.devsupport import ServerProcess, free_port, make_venv

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import pip_env, tool

__all__ = ["make_venv", "service_tools_in_devpi"]

SERVICE_SRC = REPO_ROOT / "submodule_example"
# The inputs of the locks (requirements.txt is the hashed lock made from requirements.in).
PINNED = re.search(
    r"^common-utils==(\d+\.\d+\.\d+)$", (SERVICE_SRC / "requirements.in").read_text(), re.M
)
PINNED_VERSION = PINNED[1] if PINNED else "unpinned"
UWSGI_PIN = re.search(r"^uwsgi==\S+$", (SERVICE_SRC / "requirements.in").read_text(), re.M)
# The test interpreter and machine: the seeded base index holds wheels for them only,
# not Cloud Foundry's Python 3.12 / manylinux_2_28 ones.
TEST_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"
# Never copied into a consumer: caches, local environments, a developer's submodule.
_NOT_SOURCE = shutil.ignore_patterns(
    "__pycache__", ".pytest_cache", ".tox", ".venv", "venv", "submodules", "*.pyc"
)


def run(
    cmd: list[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with devsupport's runner; fail the test unless it exits 0."""
    done = devsupport.run(cmd, cwd=cwd, env=env, timeout=timeout)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done


def pip_install_from(
    python: Path,
    index_url: str,
    *requirement_files: str,
    cwd: Path,
    env: Mapping[str, str],
    require_hashes: bool = False,
) -> None:
    """``pip install -r FILE ...`` into ``python``'s venv from ``index_url`` only."""
    hashes = ["--require-hashes"] if require_hashes else []
    files = [arg for name in requirement_files for arg in ("-r", name)]
    run(
        [str(python), "-m", "pip", "install", "-q", *hashes, "--index-url", index_url, *files],
        cwd=cwd,
        env=env,
    )


@pytest.fixture(scope="session")
def service_tools_in_devpi(devpi_server: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Put the service tests' tools (pytest, uvicorn, ...) into devpi's seeded base index.

    Downloaded once with the machine's pip configuration, like the session's wheelhouse;
    the consumers then install everything from devpi only. A fixture: import it into the
    test module that uses it.
    """
    wheels = tmp_path_factory.mktemp("service-tools")
    tools = SERVICE_SRC / "service_tests" / "requirements.txt"
    build_wheelhouse(wheels, ["--only-binary", ":all:", "-r", str(tools)])
    seed_base_index(devpi_server, wheels, index="root/deps")


def copy_service(dest: Path) -> Path:
    """Copy the sample service's files (not its caches or submodules) to ``dest``."""
    shutil.copytree(SERVICE_SRC, dest, ignore=_NOT_SOURCE)
    return dest


def lock_service(root: Path, index_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``common-utils-lock`` in ``root`` against ``index_url`` (devpi only), as a team does.

    The service here runs on this test's Python, so its ``runtime.txt`` says so first: the
    lock targets that Python as it targets Cloud Foundry's, and the service's own lock
    checks (header = the command for runtime.txt's Python) hold.
    """
    (root / "runtime.txt").write_text(f"python-{TEST_PYTHON}.x\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return run(
        [*tool("common-utils-lock"), "--index-url", index_url, *args],
        cwd=root,
        env=env,
    )


def service_test_env(**expect: str) -> dict[str, str]:
    """The environment of the service tests: nothing of this repository leaks in."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env = pip_env(env)
    env.update(PYTHONDONTWRITEBYTECODE="1", SERVICE_SERVERS="uwsgi", **expect)
    return env


def run_service_tests(python: Path, root: Path, *paths: str, **expect: str) -> str:
    """Run the service's pytest suites with ``python`` inside ``root``; return the report."""
    done = subprocess.run(
        [str(python), "-m", "pytest", "-v", "-p", "no:cacheprovider", *paths],
        cwd=root,
        env=service_test_env(**expect),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    assert "test_version_reports_the_app_and_how_common_utils_was_loaded[uwsgi] PASSED" in report
    return report


FILE_PROTOCOL = ("-c", "protocol.file.allow=always")


def git(cwd: Path, *args: str) -> str:
    return run(["git", *FILE_PROTOCOL, *args], cwd=cwd).stdout.strip()


def lock_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            pins[name] = version
    return pins


def commit_all(repo: Path, message: str) -> None:
    git(repo, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "add", "-A")
    git(
        repo, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid",
        "commit", "-q", "--allow-empty", "-m", message,
    )  # fmt: skip


def library_with_tags(make_release_checkout: Callable[..., Path], *tags: str) -> Path:
    """A library repository tagged ``tags[0]`` on its first commit, then one commit per tag."""
    library = make_release_checkout(tags[0])
    for tag in tags[1:]:
        (library / "RELEASE").write_text(tag)
        commit_all(library, f"release {tag}")
        git(library, "tag", tag)
    return library


def service_with_submodule(path: Path, library: Path, tag: str, service_tag: str) -> Path:
    root = copy_service(path)
    git(root, "init", "-q", "-b", "main")
    git(root, "submodule", "add", "-q", str(library), "submodules/common_utils")
    git(root / "submodules" / "common_utils", "checkout", "-q", tag)
    commit_all(root, f"service on common_utils {tag}")
    git(root, "tag", service_tag)
    return root


def hs256_vcap() -> str:
    creds = {
        "issuer": "https://uaa.e2e.test/oauth/token",
        "audience": "example-app",
        "secret": "s" * 32,
        "algorithms": ["HS256"],
    }
    return json.dumps(
        {"user-provided": [{"name": "jwt", "label": "user-provided", "tags": ["jwt"],
                            "credentials": creds}]}
    )  # fmt: skip


class Gunicorn:
    """The sample under gunicorn (the test venv's) on a loopback port."""

    def __init__(self, root: Path, workdir: Path) -> None:
        port = free_port()
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "VCAP_SERVICES": hs256_vcap(),
            "PYTHONPATH": str(root),
            "PORT": str(port),
        }
        gunicorn = Path(sys.executable).parent / "gunicorn"
        command = [str(gunicorn), "--preload", "--workers=1", f"--bind=127.0.0.1:{port}"]
        self.server = ServerProcess.start(
            "gunicorn",
            [*command, "example_app:app"],
            port=port,
            log=workdir / f"gunicorn-{port}.err",
            cwd=root,
            env=env,
            stdout=False,
        )
        self.url = self.server.url
        self.err = self.server.log

    def wait(self, timeout: float = 60) -> bool:
        """Wait until /health answers (True) or the process exits (False)."""
        return self.server.wait_healthy(timeout=timeout)

    def version(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.url}/version", timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def stop(self) -> None:
        self.server.stop()


def stamp(root: Path) -> str:
    return run([sys.executable, "-m", "example_app.stamp"], cwd=root,
               env={**os.environ, "PYTHONPATH": str(root)}).stdout  # fmt: skip
