"""End to end, the pip approach: release v1.0.0 to devpi, install the service from it.

The sample service's ``requirements.txt`` pins ``common-utils==1.0.0``. A temp
clone of this repository tagged ``v1.0.0`` goes through the release pipeline to a
real devpi-server; a fresh virtualenv installs ``-r requirements.txt`` with
``--index-url`` of the release index and no other pip configuration; then the
service's own ``service_tests/`` run in that virtualenv against uWSGI and must
see ``/version`` report ``pip`` and ``1.0.0``.

The helpers are in ``consumers.py``.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.e2e.consumers import (
    PINNED_VERSION,
    copy_service,
    lock_service,
    make_venv,
    pip_env,
    pip_install_from,
    run,
    run_service_tests,
    service_tools_in_devpi,  # noqa: F401 - a fixture
)


@pytest.mark.usefixtures("service_tools_in_devpi")
def test_pip_consumer_installs_from_devpi_only_and_passes_its_service_tests(
    release_index: str, uwsgi_in_devpi: str, tmp_path: Path
) -> None:
    root = copy_service(tmp_path / "service")
    python = make_venv(tmp_path / "venv", with_pip=True)
    clean = pip_env({k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})

    # The team's one command: lock from devpi (the committed lock names another devpi's files).
    lock_service(root, release_index)
    # Exactly what the buildpack does with PIP_INDEX_URL from manifest.yml: a hashed lock.
    pip_install_from(
        python, release_index, "requirements.txt", cwd=root, env=clean, require_hashes=True
    )
    pip_install_from(python, release_index, "service_tests/requirements.txt", cwd=root, env=clean)

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
