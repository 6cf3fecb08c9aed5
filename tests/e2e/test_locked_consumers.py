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

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from devsupport import free_port

from tests.e2e.conftest import next_version, pip_env, run_release_cli
from tests.e2e.test_consume_pip import (  # noqa: F401 - fixtures used by name
    PINNED_VERSION,
    copy_service,
    lock_service,
    make_venv,
    release_index,
    run,
    run_service_tests,
    uwsgi_in_devpi,
)
from tests.e2e.test_consume_submodule import git

LIBRARY_DEPS = ("falcon", "pyjwt", "cerberus", "python-json-logger", "swagger-ui-py")


def lock_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.startswith((" ", "#")):
            name, version = line.split(" ")[0].split("==")
            pins[name] = version
    return pins


def test_pip_lock_from_devpi_installs_with_require_hashes_and_relocks_to_a_new_release(
    release_index: str,  # noqa: F811
    uwsgi_in_devpi: str,  # noqa: F811
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

    python = make_venv(tmp_path / "venv")
    clean = pip_env({k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    started = time.perf_counter()
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--require-hashes",
            "--index-url",
            release_index,
            "-r",
            "requirements.txt",
        ],
        cwd=root,
        env=clean,
    )
    print(f"pip install --require-hashes: {time.perf_counter() - started:.1f} s")
    frozen = run([str(python), "-m", "pip", "freeze"], env=clean).stdout.lower()
    installed = dict(
        line.split("==", 1) for line in frozen.replace("_", "-").split() if "==" in line
    )
    for name, version in pins.items():
        assert installed.get(name) == version, (name, version, installed.get(name))
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--index-url",
            release_index,
            "-r",
            "service_tests/requirements.txt",
        ],
        cwd=root,
        env=clean,
    )
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
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.err = workdir / f"gunicorn-{self.port}.err"
        env = {
            "PATH": os.environ["PATH"],
            "HOME": os.environ.get("HOME", "/tmp"),
            "VCAP_SERVICES": hs256_vcap(),
            "PYTHONPATH": str(root),
            "PORT": str(self.port),
        }
        gunicorn = Path(sys.executable).parent / "gunicorn"
        with self.err.open("wb") as err:
            self.process = subprocess.Popen(
                [
                    str(gunicorn),
                    "--preload",
                    "--workers=1",
                    f"--bind=127.0.0.1:{self.port}",
                    "example_app:app",
                ],
                cwd=root,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=err,
            )

    def wait(self, timeout: float = 60) -> bool:
        """Wait until /health answers (True) or the process exits (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:
                    if resp.status == 200:
                        return True
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"not ready: {self.err.read_text()[-2000:]}")

    def version(self) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.url}/version", timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


@pytest.fixture
def servers() -> Iterator[list[Gunicorn]]:
    started: list[Gunicorn] = []
    yield started
    for server in started:
        server.stop()


def stamp(root: Path) -> str:
    return run([sys.executable, "-m", "example_app.stamp"], cwd=root,
               env={**os.environ, "PYTHONPATH": str(root)}).stdout  # fmt: skip


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
    uwsgi_in_devpi: str,  # noqa: F811
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
    python = make_venv(tmp_path / "venv")
    run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "-q",
            "--require-hashes",
            "--index-url",
            index,
            "-r",
            "requirements-submodule.txt",
        ],
        cwd=root,
        env=pip_env(),
    )
    run([str(python), "-c", "import falcon, jwt, cerberus, pythonjsonlogger, swagger_ui"])
