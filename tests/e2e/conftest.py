"""Session fixtures for end-to-end tests: a real devpi-server and a real release.

Fixtures other e2e tests use:

- ``devpi_wheelhouse`` -> ``Path``: the wheels of ``requirements/verify.lock``
  (common_utils' dependencies and ``requirements/test.in``, hash-checked),
  downloaded once per session with pip (set ``COMMON_UTILS_WHEELHOUSE`` to a
  directory to reuse it across sessions: a subdirectory per lock content).
- ``devpi_server`` -> ``devpitools.DevpiServer``: one running, bootstrapped
  devpi-server (role primary) on a free loopback port, whose ``team/staging``
  and ``team/release`` use the seeded ``root/deps`` as base, so it never needs
  an outside index. Use ``.url``, ``.user``, ``.password`` (the team user, owner
  of the indexes), ``.release_user``/``.release_password`` (the only account
  that may upload to them), ``.staging_url``, ``.release_url``,
  ``.simple_url(index)``, ``.api()``, ``.api(as_release=True)``.
- ``devpi_env`` -> ``dict``: ``os.environ`` plus ``DEVPI_URL``/``DEVPI_USER``/
  ``DEVPI_PASSWORD`` (the release user's)/``DEVPI_*_INDEX`` for that server.
- ``make_release_checkout`` -> ``factory(tag="v1.0.0") -> Path``: a fresh git
  repository holding this working tree's files (``git ls-files -co
  --exclude-standard``), committed and tagged.
- ``released`` -> ``Released(version, checkout, output, index_url)``: common-utils
  ``1.4.0`` released through the whole pipeline (tests included) to
  ``devpi_server``'s ``team/release``; ``pip install --index-url
  released.index_url common-utils==1.4.0`` works (use ``pip_env``).
- ``pip_env()`` (plain function): an environment in which pip ignores every
  configuration, so installs come from ``--index-url`` only.
- ``run_release_cli(checkout, *args, env=)`` (plain function): run
  ``common-utils-release`` as CI does and return the ``CompletedProcess``.
- ``tool(name)``: the argv of one of the platform tools' commands (``pip install ./devpi``)
  installed next to the tests' interpreter.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from common_utils_platform.devpitools import (
    DevpiServer,
    build_wheelhouse,
    clean_pip_env,
    seed_base_index,
)
from common_utils_platform.devsupport import git, make_checkout

from tests.conftest import REPO_ROOT

DEVPI_DIR = REPO_ROOT / "devpi"


def tool(name: str) -> list[str]:
    """Return the argv of the platform tools' command ``name`` (tox installs ``./devpi``)."""
    path = Path(sys.executable).parent / name
    assert path.is_file(), f"{name} is not installed: pip install --no-deps ./devpi"
    return [str(path)]


RELEASE_CMD = tool("common-utils-release")
SERVER_CMD = tool("common-utils-devpi")
RELEASED_VERSION = "1.4.0"
# The released fixture's own pending fragment: 1.4.0 has no CHANGELOG.md section, so its notes
# are the fragments of changes/, whatever the working tree holds at the time.
RELEASED_FRAGMENT = ("+e2e-release.feature.md", "The end-to-end release's own note.")
_versions = itertools.count(1)


def pip_env(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return an environment in which pip reads no config file and no PIP_* variable."""
    return clean_pip_env(base)


def next_version(major: int = 2) -> str:
    """Return a version no other test of this session uses."""
    return f"{major}.0.{next(_versions)}"


def project_requirements() -> list[str]:
    """Return common_utils' dependencies and the unit-test requirements."""
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    reqs = list(meta["project"]["dependencies"])
    for line in (REPO_ROOT / "requirements" / "test.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            reqs.append(line)
    return reqs


def run_release_cli(
    checkout: Path, *args: str, env: Mapping[str, str], timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """Run ``common-utils-release --checkout CHECKOUT ARGS`` and capture its output."""
    return subprocess.run(
        [*RELEASE_CMD, "--checkout", str(checkout), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


VERIFY_LOCK = REPO_ROOT / "requirements" / "verify.lock"


@pytest.fixture(scope="session")
def devpi_wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    configured = os.environ.get("COMMON_UTILS_WHEELHOUSE")
    dest = Path(configured) if configured else tmp_path_factory.mktemp("wheelhouse")
    # NOTE: exactly the lock's files (the release's verify step installs them with
    # --require-hashes from devpi), one directory per lock content.
    dest = dest / hashlib.sha256(VERIFY_LOCK.read_bytes()).hexdigest()[:16]
    build_wheelhouse(dest, ["--only-binary", ":all:", "-r", str(VERIFY_LOCK)])
    return dest


@pytest.fixture(scope="session")
def devpi_server(devpi_wheelhouse: Path) -> Iterator[DevpiServer]:
    server = DevpiServer.temporary(bases=("root/deps",), role="primary")
    try:
        server.start()
        server.bootstrap()
        seed_base_index(server, devpi_wheelhouse, index="root/deps")
        yield server
    finally:
        server.stop()
        server.cleanup()


@pytest.fixture(scope="session")
def devpi_env(devpi_server: DevpiServer) -> dict[str, str]:
    return {
        **os.environ,
        "DEVPI_URL": devpi_server.url,
        "DEVPI_USER": devpi_server.release_user,
        "DEVPI_PASSWORD": devpi_server.release_password,
        "DEVPI_STAGING_INDEX": devpi_server.staging_index,
        "DEVPI_RELEASE_INDEX": devpi_server.release_index,
        "PYTHONWARNINGS": "ignore",
    }


@pytest.fixture(scope="session")
def make_release_checkout(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    def make(tag: str | None = "v1.0.0") -> Path:
        return make_checkout(tmp_path_factory.mktemp("checkout"), tag=tag)

    return make


@dataclasses.dataclass(frozen=True)
class Released:
    version: str
    checkout: Path
    output: str
    index_url: str


@pytest.fixture(scope="session")
def released(
    devpi_server: DevpiServer,
    devpi_env: dict[str, str],
    make_release_checkout: Callable[..., Path],
) -> Released:
    checkout = make_release_checkout(None)
    name, text = RELEASED_FRAGMENT
    (checkout / "changes" / name).write_text(f"{text}\n", encoding="utf-8")
    git(checkout, "add", "changes")
    git(checkout, "commit", "-q", "-m", "a pending fragment")
    git(checkout, "tag", f"v{RELEASED_VERSION}")
    done = run_release_cli(checkout, env=devpi_env, timeout=1800)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return Released(
        version=RELEASED_VERSION,
        checkout=checkout,
        output=output,
        index_url=devpi_server.simple_url(devpi_server.release_index),
    )


def install_from(index_url: str, requirement: str, venv_dir: Path, *pip_args: str) -> str:
    """Install ``requirement`` from ``index_url`` only into a new venv; return the version.

    ``pip_args`` go before the requirement (``"--pre"``). Fails the test unless
    the package imports from that venv.
    """
    import venv

    venv.create(venv_dir, with_pip=False, symlinks=True)
    python = venv_dir / "bin" / "python"
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "--python", str(python), "install", "-q"),
            *("--no-cache-dir", "--index-url", index_url, *pip_args, requirement),
        ],
        env=pip_env(),
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    probe = subprocess.run(
        [
            str(python),
            "-I",
            "-c",
            "import common_utils; print(common_utils.__version__); print(common_utils.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=venv_dir,
    )
    version, location = probe.stdout.split()
    assert Path(location).resolve().is_relative_to(venv_dir.resolve())
    return version


# -- the consumer tests (helpers in consumers.py) ----------------------------------------


@pytest.fixture(scope="session")
def uwsgi_in_devpi(devpi_server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Put a uWSGI wheel (built once, here) into devpi's seeded base index.

    uWSGI is published as an sdist only; building it once keeps every consumer
    virtualenv from compiling it again, and the base index keeps installs offline.
    """
    from common_utils_platform.devpitools import seed_base_index

    from tests.e2e.consumers import UWSGI_PIN, run

    assert UWSGI_PIN, "requirements.txt must pin uwsgi"
    wheels = tmp_path_factory.mktemp("uwsgi-wheel")
    run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels), UWSGI_PIN[0]],
        timeout=900,
    )
    seed_base_index(devpi_server, wheels, index="root/deps")
    return UWSGI_PIN[0]


@pytest.fixture(scope="session")
def release_index(
    devpi_server, devpi_env: dict[str, str], make_release_checkout: Callable[..., Path]
) -> str:
    """Release the version pinned by requirements.txt through the real pipeline."""
    from tests.e2e.consumers import PINNED_VERSION

    checkout = make_release_checkout(f"v{PINNED_VERSION}")
    # The pipeline's own test run is covered by the release tests; here the
    # consumer's side is under test, so only the install from staging is verified.
    done = run_release_cli(checkout, "--skip-tests", env=devpi_env, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return devpi_server.simple_url(devpi_server.release_index)


@pytest.fixture
def servers() -> Iterator[list[Any]]:
    """Sample services (``consumers.Gunicorn``) a test starts; stopped after it."""
    started: list[Any] = []
    yield started
    for server in started:
        server.stop()
