"""The team's devpi-server: CLI, idempotent bootstrap, durability, primary + replica."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from devpitools import DevpiServer, free_port

from .conftest import SERVER_PY, install_from, next_version, pip_env, run_release_cli

ROOT_PW = "root-Pw-123"
TEAM_PW = "team-Pw-456"


def server_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SERVER_PY), *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


@pytest.fixture
def cli_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "DEVPI_SERVERDIR": str(tmp_path / "devpi"),
        "DEVPI_ROOT_PASSWORD": ROOT_PW,
        "DEVPI_PASSWORD": TEAM_PW,
        "PYTHONWARNINGS": "ignore",
    }
    yield env
    server_cli("stop", env=env)


def test_server_cli_starts_bootstraps_once_reports_status_and_stops(
    cli_env: dict[str, str],
) -> None:
    """start -> start again -> status -> stop -> status -> restart keeps the data."""
    port = str(free_port())
    opts = ["--port", port, "--bases", "root/deps"]
    first = server_cli("start", *opts, env=cli_env)
    assert first.returncode == 0, first.stdout + first.stderr
    for line in (
        "created user team",
        "created index team/staging (volatile=True",
        "created index team/release (volatile=False",
    ):
        assert line in first.stdout
    again = server_cli("start", *opts, env=cli_env)
    assert again.returncode == 0, again.stderr
    assert "already running" in again.stdout
    assert "nothing to do" in again.stdout
    status = server_cli("status", "--port", port, env=cli_env)
    assert (status.returncode, status.stdout.split(":")[0]) == (0, "running")

    secret = Path(cli_env["DEVPI_SERVERDIR"]) / "secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    api = DevpiServer(serverdir=secret.parent, port=int(port)).api(anonymous=True)
    release = api.get("/team/release")[1]["result"]
    staging = api.get("/team/staging")[1]["result"]
    assert (release["volatile"], release["mirror_whitelist"]) == (False, [])
    assert (staging["volatile"], staging["mirror_whitelist"]) == (True, [])

    wrong = server_cli("bootstrap", *opts, env={**cli_env, "DEVPI_ROOT_PASSWORD": "nope-Xy"})
    assert wrong.returncode == 1
    assert "DEVPI_ROOT_PASSWORD does not match" in wrong.stderr
    assert "nope-Xy" not in wrong.stdout + wrong.stderr
    assert "Traceback" not in wrong.stderr

    stopped = server_cli("stop", env=cli_env)
    assert "stopped devpi-server" in stopped.stdout
    status = server_cli("status", env=cli_env)
    assert (status.returncode, status.stdout.split(":")[0]) == (3, "stopped")

    restarted = server_cli("start", *opts, env=cli_env)
    assert restarted.returncode == 0, restarted.stderr
    assert "nothing to do" in restarted.stdout  # data and secret persisted


def test_server_cli_without_root_password_names_the_variable(cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "DEVPI_ROOT_PASSWORD"}
    done = server_cli("start", "--port", str(free_port()), env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == "error: DEVPI_ROOT_PASSWORD is not set"


def test_bootstrap_of_a_bootstrapped_server_changes_nothing(devpi_server: DevpiServer) -> None:
    before = devpi_server.serial()
    assert devpi_server.bootstrap() == []
    assert devpi_server.serial() == before


def test_release_survives_sigkill_right_after_it_and_a_restart(
    devpi_server: DevpiServer, devpi_env: dict[str, str], make_release_checkout, tmp_path: Path
) -> None:
    """Nothing acknowledged is lost: kill -9 after the push, restart, install."""
    version = next_version(3)
    done = run_release_cli(make_release_checkout(tag=f"v{version}"), "--skip-tests", env=devpi_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert devpi_server.kill()
    devpi_server.start()
    index = devpi_server.simple_url(devpi_server.release_index)
    assert install_from(index, f"common-utils=={version}", tmp_path / "venv") == version
    # logins survive the restart too (persistent secret file)
    devpi_server.api().login()


def test_replica_serves_primary_releases_and_keeps_serving_while_primary_is_down(
    devpi_server: DevpiServer, devpi_env: dict[str, str], make_release_checkout, tmp_path: Path
) -> None:
    replica = DevpiServer.temporary(
        role="replica", primary_url=devpi_server.url, secretfile=devpi_server.secretfile
    )
    try:
        replica.start()
        version = next_version(4)
        done = run_release_cli(
            make_release_checkout(tag=f"v{version}"), "--skip-tests", env=devpi_env
        )
        assert done.returncode == 0, done.stdout + done.stderr
        replica.wait_for_serial(devpi_server.serial())
        index = replica.simple_url(devpi_server.release_index)
        assert install_from(index, f"common-utils=={version}", tmp_path / "one") == version

        devpi_server.stop()
        assert install_from(index, f"common-utils=={version}", tmp_path / "two") == version
        listing = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "index",
                "versions",
                "--index-url",
                index,
                "common-utils",
            ],
            env=pip_env(),
            capture_output=True,
            text=True,
            check=False,
        )
        assert version in listing.stdout
    finally:
        replica.stop()
        replica.cleanup()
        if devpi_server.pid is None:
            devpi_server.start()
