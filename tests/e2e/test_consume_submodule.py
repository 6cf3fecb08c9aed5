"""End to end, the submodule approach: git submodule add at the release tag, run the service.

A temp git repository is made from ``submodule_example/``; this repository (a
temp clone tagged ``v1.0.0``) is added with ``git submodule add`` into
``submodules/common_utils`` and pinned at the tag. A fresh ``git clone
--recurse-submodules`` of that service (as a new developer or CI gets it)
locks and installs only ``requirements-submodule.txt`` (the library's third-party
dependencies and uWSGI) and runs the service's unit tests and service tests,
which must see ``/version`` report ``submodule`` and the tag's version.

Git >= 2.38.1 refuses local file URLs for submodules unless
``protocol.file.allow=always`` is given; a real service uses an https or ssh URL.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.consumers import (
    PINNED_VERSION,
    copy_service,
    git,
    lock_service,
    make_venv,
    pip_env,
    pip_install_from,
    run,
    run_service_tests,
    service_tools_in_devpi,  # noqa: F401 - a fixture
)

TAG = f"v{PINNED_VERSION}"


def make_service_repo(path: Path, library: Path) -> Path:
    """A service repository with the library as a submodule pinned at ``TAG``."""
    root = copy_service(path)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=e2e", "-c", "user.email=e2e@example.invalid", "add", "-A")
    git(root, "submodule", "add", "-q", str(library), "submodules/common_utils")
    git(root / "submodules" / "common_utils", "checkout", "-q", TAG)
    git(root, "add", "-A")
    git(
        root,
        "-c",
        "user.name=e2e",
        "-c",
        "user.email=e2e@example.invalid",
        "commit",
        "-q",
        "-m",
        f"service on common_utils {TAG} (submodule)",
    )
    return root


@pytest.mark.usefixtures("service_tools_in_devpi")
def test_submodule_consumer_cloned_recursively_runs_on_the_pinned_tag(
    make_release_checkout: Callable[..., Path],
    devpi_server,
    uwsgi_in_devpi: str,
    tmp_path: Path,
) -> None:
    library = make_release_checkout(TAG)
    upstream = make_service_repo(tmp_path / "upstream", library)

    # What a new developer or a CI job does.
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", "--recurse-submodules", str(upstream), str(clone))
    submodule = clone / "submodules" / "common_utils"
    assert (submodule / "common_utils" / "__init__.py").is_file()
    assert git(submodule, "describe", "--tags", "--exact-match") == TAG
    status = git(clone, "submodule", "status")
    # '+' (other commit), '-' (not initialized) or 'U' (conflict) would be wrong.
    assert status[0] not in "+-U", status

    # Third-party dependencies only; the library itself comes from the submodule.
    # They come from devpi's seeded base index here (offline, with a prebuilt uWSGI);
    # any index will do, nothing private is installed.
    python = make_venv(tmp_path / "venv", with_pip=True)
    clean = pip_env()
    # The lock is made from the index the service installs from (here the seeded base).
    # (The pip approach's input goes: common-utils is not on that index, nor needed.)
    # A service on the submodule approach keeps only that pair (test_requirements.py knows).
    (clone / "requirements.in").unlink()
    (clone / "requirements.txt").unlink()
    lock_service(clone, devpi_server.simple_url("root/deps"))
    # One pip run each: a hashed lock puts pip in --require-hashes mode for every file with it.
    for requirements in ("requirements-submodule.txt", "service_tests/requirements.txt"):
        pip_install_from(
            python, devpi_server.simple_url("root/deps"), requirements, cwd=clone, env=clean
        )
    # The unit tests' tools (schemathesis for the contract test) from the public index.
    run([str(python), "-m", "pip", "install", "-q", "-r", "tests/requirements.txt"], cwd=clone)
    installed = subprocess.run(
        [str(python), "-m", "pip", "show", "common-utils"],
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode != 0, "common-utils must not be pip-installed here"

    report = run_service_tests(
        python,
        clone,
        "tests",
        "service_tests",
        EXPECT_LIBRARY_SOURCE="submodule",
        EXPECT_LIBRARY_VERSION=PINNED_VERSION,
    )
    assert "test_submodule_requirements_are_exactly_the_librarys_dependencies" in report


def test_clone_without_recurse_submodules_fails_with_one_clear_line(
    make_release_checkout: Callable[..., Path], tmp_path: Path
) -> None:
    library = make_release_checkout(TAG)
    upstream = make_service_repo(tmp_path / "upstream", library)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(upstream), str(clone))
    assert (clone / "submodules" / "common_utils").is_dir()
    assert not any((clone / "submodules" / "common_utils").iterdir())

    import sys

    done = subprocess.run(
        [sys.executable, "-c", "import example_app; example_app.app"],
        cwd=clone,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(clone)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "git submodule update --init" in done.stderr
