"""End to end: the sample service locked from a real devpi, installed with --require-hashes.

- pip approach: ``python lock.py`` against team/release (nothing else) turns
  ``requirements.in`` into a hashed lock; a fresh venv installs it with
  ``--require-hashes`` from devpi only and the service tests pass; after a new
  library release, ``python lock.py --common-utils X`` re-locks and its diff is
  exactly the common-utils line.
- submodule approach: the submodule moves from v1.0.0 to v1.1.0; without a new
  push-time stamp the service refuses to start with one line; after
  ``python -m example_app.stamp`` ``/version`` says 1.1.0, also from a copy
  without ``.git`` (what ``cf push`` uploads).

Timings (lock against devpi, install) are printed with ``-s``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.e2e.conftest import next_version, pip_env, run_release_cli
from tests.e2e.consumers import (
    PINNED_VERSION,
    Gunicorn,
    commit_all,
    copy_service,
    git,
    library_with_tags,
    lock_pins,
    lock_service,
    make_venv,
    pip_install_from,
    run,
    run_service_tests,
    service_tools_in_devpi,  # noqa: F401 - a fixture
    service_with_submodule,
    stamp,
)

LIBRARY_DEPS = ("falcon", "pyjwt", "cerberus", "python-json-logger", "swagger-ui-py")


@pytest.mark.usefixtures("service_tools_in_devpi")
def test_pip_lock_from_devpi_installs_with_require_hashes_and_relocks_to_a_new_release(
    release_index: str,
    uwsgi_in_devpi: str,
    devpi_env: dict[str, str],
    make_release_checkout: Callable[..., Path],
    tmp_path: Path,
) -> None:
    root = copy_service(tmp_path / "service")
    started = time.perf_counter()
    out = lock_service(root, release_index).stdout
    lock_seconds = time.perf_counter() - started
    print(f"\nlock of requirements.in against devpi: {lock_seconds:.1f} s\n{out}")
    pins = lock_pins(root / "requirements.txt")
    assert pins["common-utils"] == PINNED_VERSION
    assert set(LIBRARY_DEPS) <= set(pins)
    assert "127.0.0.1" not in (root / "requirements.txt").read_text()

    python = make_venv(tmp_path / "venv", with_pip=True)
    clean = pip_env({k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    started = time.perf_counter()
    pip_install_from(
        python, release_index, "requirements.txt", cwd=root, env=clean, require_hashes=True
    )
    print(f"pip install --require-hashes: {time.perf_counter() - started:.1f} s")
    frozen = run([str(python), "-m", "pip", "freeze"], env=clean).stdout.lower()
    installed = dict(
        line.split("==", 1) for line in frozen.replace("_", "-").split() if "==" in line
    )
    for name, version in pins.items():
        assert installed.get(name) == version, (name, version, installed.get(name))
    pip_install_from(python, release_index, "service_tests/requirements.txt", cwd=root, env=clean)
    run_service_tests(
        python, root, "service_tests",
        EXPECT_LIBRARY_SOURCE="pip", EXPECT_LIBRARY_VERSION=PINNED_VERSION,
    )  # fmt: skip

    # A new library release; upgrading is one command, and its diff is the one line.
    new_version = next_version(major=int(PINNED_VERSION.split(".")[0]))
    checkout = make_release_checkout(f"v{new_version}")
    done = run_release_cli(checkout, "--skip-tests", env=devpi_env, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    before = (root / "requirements.txt").read_text()
    started = time.perf_counter()
    out = lock_service(root, release_index, "--common-utils", new_version).stdout
    print(f"re-lock to {new_version}: {time.perf_counter() - started:.1f} s\n{out}")
    changed = [line for line in out.splitlines() if line[:1] in "+-" and "==" in line]
    assert changed == [f"-common-utils=={PINNED_VERSION}", f"+common-utils=={new_version}"]
    assert "requirements-submodule.txt: no change" in out
    assert f"common-utils=={new_version}" in (root / "requirements.in").read_text()
    after = (root / "requirements.txt").read_text()
    removed = set(before.splitlines()) - set(after.splitlines())
    added = set(after.splitlines()) - set(before.splitlines())
    # Only the common-utils entry (its version line and its hashes) moved.
    assert any(line.startswith(f"common-utils=={PINNED_VERSION}") for line in removed)
    assert all(line.startswith(("common-utils==", "    --hash=")) for line in removed | added)


# --------------------------------------------------------------------------- submodule


def test_submodule_moved_to_a_new_tag_needs_a_new_stamp_and_then_reports_it(
    make_release_checkout: Callable[..., Path], servers: list[Gunicorn], tmp_path: Path
) -> None:
    library = library_with_tags(make_release_checkout, "v1.0.0", "v1.1.0")
    root = service_with_submodule(tmp_path / "svc", library, "v1.0.0", "v4.2.0")
    out = stamp(root)
    assert "example-app 4.2.0" in out
    assert "common_utils 1.0.0" in out

    first = Gunicorn(root, tmp_path)
    servers.append(first)
    assert first.wait()
    doc = first.version()
    assert doc["app"] == {"name": "example-app", "version": "4.2.0"}
    assert doc["common_utils"]["version"] == "1.0.0"  # type: ignore[index]
    assert doc["common_utils"]["source"] == "submodule"  # type: ignore[index]
    first.stop()

    # Move the submodule and release the service; the git-ignored stamps stay behind.
    git(root / "submodules" / "common_utils", "checkout", "-q", "v1.1.0")
    commit_all(root, "common_utils v1.1.0")
    git(root, "tag", "v4.3.0")
    refused = Gunicorn(root, tmp_path)
    servers.append(refused)
    assert not refused.wait()
    err = refused.err.read_text()
    lines = [line for line in err.splitlines() if "configuration error" in line]
    assert len(lines) == 1, err
    assert "stale version stamp" in lines[0]
    assert "it says 1.0.0" in lines[0]
    assert "is 1.1.0" in lines[0]

    out = stamp(root)
    assert "common_utils 1.1.0" in out
    assert "example-app 4.3.0" in out
    again = Gunicorn(root, tmp_path)
    servers.append(again)
    assert again.wait()
    doc = again.version()
    assert doc["app"]["version"] == "4.3.0"  # type: ignore[index]
    assert doc["common_utils"]["version"] == "1.1.0"  # type: ignore[index]
    again.stop()

    # What cf push uploads: no .git anywhere; the stamps are the only source.
    droplet = tmp_path / "droplet"
    shutil.copytree(root, droplet, ignore=shutil.ignore_patterns(".git"))
    assert not (droplet / "submodules" / "common_utils" / ".git").exists()
    pushed = Gunicorn(droplet, tmp_path)
    servers.append(pushed)
    assert pushed.wait()
    doc = pushed.version()
    assert doc["app"]["version"] == "4.3.0"  # type: ignore[index]
    assert doc["common_utils"]["version"] == "1.1.0"  # type: ignore[index]


def test_submodule_lock_installs_with_require_hashes(
    devpi_server,
    uwsgi_in_devpi: str,
    tmp_path: Path,
) -> None:
    root = copy_service(tmp_path / "svc")
    index = devpi_server.simple_url(devpi_server.release_index)
    (root / "requirements.in").unlink()  # a service on the submodule approach only
    started = time.perf_counter()
    out = lock_service(root, index).stdout
    print(
        f"\nlock of requirements-submodule.in against devpi: {time.perf_counter() - started:.1f} s"
    )
    assert "locked requirements-submodule.txt" in out
    pins = lock_pins(root / "requirements-submodule.txt")
    assert "common-utils" not in pins
    assert set(LIBRARY_DEPS) <= set(pins)
    python = make_venv(tmp_path / "venv", with_pip=True)
    pip_install_from(
        python, index, "requirements-submodule.txt", cwd=root, env=pip_env(), require_hashes=True
    )
    run([str(python), "-c", "import falcon, jwt, cerberus, pythonjsonlogger, swagger_ui"])
