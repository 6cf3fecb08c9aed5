"""End to end, the pip approach: release v1.0.0 to devpi, install the service from it.

The sample service's ``requirements.txt`` pins ``common-utils==1.0.0``. A temp
clone of this repository tagged ``v1.0.0`` goes through the release pipeline to a
real devpi-server; a fresh virtualenv installs ``-r requirements.txt`` with
``--index-url`` of the release index and no other pip configuration; then the
service's own ``service_tests/`` run in that virtualenv against uWSGI and must
see ``/version`` report ``pip`` and ``1.0.0``.

The helpers here are shared with ``test_consume_submodule.py``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import pip_env, run_release_cli

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
    done = subprocess.run(
        cmd,
        cwd=cwd,
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done


def copy_service(dest: Path) -> Path:
    """Copy the sample service's files (not its caches or submodules) to ``dest``."""
    shutil.copytree(SERVICE_SRC, dest, ignore=_NOT_SOURCE)
    return dest


def lock_service(root: Path, index_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run the service's ``lock.py`` against ``index_url`` (devpi only), as a team does."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return run(
        [
            sys.executable,
            "lock.py",
            "--index-url",
            index_url,
            "--python-version",
            TEST_PYTHON,
            "--python-platform",
            "host",
            *args,
        ],
        cwd=root,
        env=env,
    )


def make_venv(path: Path) -> Path:
    """Create a fresh virtualenv (no system site-packages) and return its python."""
    venv.EnvBuilder(with_pip=True, clear=True).create(path)
    return path / "bin" / "python"


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


@pytest.fixture(scope="session")
def uwsgi_in_devpi(devpi_server, tmp_path_factory: pytest.TempPathFactory) -> str:
    """Put a uWSGI wheel (built once, here) into devpi's seeded base index.

    uWSGI is published as an sdist only; building it once keeps every consumer
    virtualenv from compiling it again, and the base index keeps installs offline.
    """
    from devpitools import seed_base_index

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
    checkout = make_release_checkout(f"v{PINNED_VERSION}")
    # The pipeline's own test run is covered by the release tests; here the
    # consumer's side is under test, so only the install from staging is verified.
    done = run_release_cli(checkout, "--skip-tests", env=devpi_env, timeout=1800)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return devpi_server.simple_url(devpi_server.release_index)


def test_pip_consumer_installs_from_devpi_only_and_passes_its_service_tests(
    release_index: str, uwsgi_in_devpi: str, tmp_path: Path
) -> None:
    root = copy_service(tmp_path / "service")
    python = make_venv(tmp_path / "venv")
    clean = pip_env({k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})

    # The team's one command: lock from devpi (the committed lock names another devpi's files).
    lock_service(root, release_index)
    # Exactly what the buildpack does with PIP_INDEX_URL from manifest.yml: a hashed lock.
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--require-hashes",
            "--index-url",
            release_index,
            "-r",
            "requirements.txt",
        ],
        cwd=root,
        env=clean,
    )
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--index-url",
            release_index,
            "-r",
            "service_tests/requirements.txt",
        ],
        cwd=root,
        env=clean,
    )

    shown = run([str(python), "-m", "pip", "show", "common-utils"], env=clean).stdout
    assert f"Version: {PINNED_VERSION}" in shown
    assert not (root / "submodules").exists()

    run_service_tests(
        python,
        root,
        "service_tests",
        EXPECT_LIBRARY_SOURCE="pip",
        EXPECT_LIBRARY_VERSION=PINNED_VERSION,
    )
