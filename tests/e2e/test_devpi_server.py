"""The team's devpi-server: CLI, idempotent bootstrap, durability, primary + replica."""

from __future__ import annotations

import functools
import hashlib
import os
import stat
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from common_utils_platform.devpitools import DevpiAPI, DevpiServer
from common_utils_platform.devsupport import free_port, git, twine_upload

from .conftest import SERVER_CMD, install_from, next_version, pip_env, run_release_cli

ROOT_PW = "root-Pw-123"
TEAM_PW = "team-Pw-456"
RELEASE_PW = "release-Pw-789"


def server_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*SERVER_CMD, *args],
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
        "DEVPI_TEAM_PASSWORD": TEAM_PW,
        "DEVPI_RELEASE_PASSWORD": RELEASE_PW,
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
        "created user ci-release",
        "created index team/staging (volatile=True",
        "created index team/release (volatile=False",
        "registered project common-utils on team/release",
        "registered project common-utils on team/staging",
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
    assert release["acl_upload"] == staging["acl_upload"] == ["ci-release"]

    # issue 20 item 12: no password in the server's environment, private data
    pid = int(status.stdout.split("pid ")[1].split()[0])
    environ = Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace")
    for secret in (ROOT_PW, TEAM_PW, RELEASE_PW):
        assert secret not in environ
    assert "DEVPI_" not in environ
    serverdir = Path(cli_env["DEVPI_SERVERDIR"])
    assert stat.S_IMODE(serverdir.stat().st_mode) == 0o700
    for path in serverdir.rglob("*"):
        if path.is_file():
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path
    assert list(serverdir.rglob("*.sqlite*")), "no sqlite database found"

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


def test_bootstrap_never_resets_a_password_silently(cli_env: dict[str, str]) -> None:
    """Issue 15: bootstrap with other passwords stops with one line; rotation is explicit."""
    opts = ["--port", str(free_port()), "--bases", "root/deps"]
    assert server_cli("start", *opts, env=cli_env).returncode == 0
    other = {**cli_env, "DEVPI_RELEASE_PASSWORD": "another-Pw-000"}
    refused = server_cli("bootstrap", *opts, env=other)
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        "error: user 'ci-release' already exists with a different password than "
        "DEVPI_RELEASE_PASSWORD: bootstrap never resets a password; "
        "pass --rotate-passwords to set it"
    )
    assert "another-Pw-000" not in refused.stdout + refused.stderr
    server = DevpiServer(serverdir=Path(cli_env["DEVPI_SERVERDIR"]), port=int(opts[1]))
    DevpiAPI(server.url, user="ci-release", password=RELEASE_PW).login()  # unchanged
    rotated = server_cli("bootstrap", *opts, "--rotate-passwords", env=other)
    assert rotated.returncode == 0, rotated.stderr
    assert "rotated the password of user ci-release" in rotated.stdout
    DevpiAPI(server.url, user="ci-release", password="another-Pw-000").login()
    person = {**cli_env, "DEVPI_PERSON_PASSWORD": "alice-Pw-1"}
    assert "created user alice" in server_cli("person", "alice", *opts, env=person).stdout
    again = server_cli("person", "alice", *opts, env={**person, "DEVPI_PERSON_PASSWORD": "x-Pw"})
    assert again.returncode == 1
    assert "never resets a password" in again.stderr


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


# -- who may write the release index; dependency confusion; candidates; a bad release ------


def side_indexes(server: DevpiServer, owner: str, *, bases: tuple[str, ...]) -> DevpiServer:
    """Bootstrap ``OWNER/staging`` and ``OWNER/release`` on the running session server."""
    side = DevpiServer(
        serverdir=server.serverdir,
        port=server.port,
        root_password=server.root_password,
        user=owner,
        password=f"{owner}-Pw-1",
        release_user=server.release_user,
        release_password=server.release_password,
        staging_index=f"{owner}/staging",
        release_index=f"{owner}/release",
        bases=bases,
    )
    side.bootstrap()
    return side


def tiny_wheel(dest: Path, version: str, name: str = "common_utils") -> Path:
    """A minimal valid wheel of ``name`` ``version`` (imports as an empty package)."""
    import zipfile

    dist = f"{name}-{version}"
    path = dest / f"{dist}-py3-none-any.whl"
    meta = f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n"
    wheel = "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    files = {
        f"{name}/__init__.py": f"__version__ = {version!r}\n",
        f"{dist}.dist-info/METADATA": meta,
        f"{dist}.dist-info/WHEEL": wheel,
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as zf:
        for n, text in {**files, f"{dist}.dist-info/RECORD": record}.items():
            zf.writestr(n, text)
    return path


def test_a_persons_credentials_cannot_upload_or_push_to_release_but_the_release_user_can(
    devpi_server: DevpiServer, tmp_path: Path
) -> None:
    """Issue 15: twine upload and devpi push into team/release with a person's account: 403."""
    assert devpi_server.add_person("alice", "alice-Pw-1")
    wheel = tiny_wheel(tmp_path, "8.8.8")
    for user, password in (("alice", "alice-Pw-1"), (devpi_server.user, devpi_server.password)):
        for index_url in (devpi_server.release_url, devpi_server.staging_url):
            done = twine_upload(
                index_url + "/", [wheel], user=user, password=password, env=pip_env()
            )
            assert done.returncode != 0
            assert "403" in done.stdout + done.stderr, done.stdout + done.stderr
    own = twine_upload(
        f"{devpi_server.url}/alice/dev/",
        [wheel],
        user="alice",
        password="alice-Pw-1",
        env=pip_env(),
    )
    assert own.returncode == 0, own.stdout + own.stderr
    # devpi push from the person's own index into team/release
    client = tmp_path / "client"
    script = (
        "import sys\nfrom devpi.main import main\n"
        "for args in ([ 'use', '--clientdir', sys.argv[1], sys.argv[2] + '/alice/dev'],"
        " ['login', '--clientdir', sys.argv[1], 'alice', '--password', sys.argv[3]],"
        " ['push', '--clientdir', sys.argv[1], 'common-utils==8.8.8', 'team/release']):\n"
        "    code = main(['devpi', *args])\n"
        "    if code: sys.exit(code)\n"
    )
    push = subprocess.run(
        [sys.executable, "-c", script, str(client), devpi_server.url, "alice-Pw-1"],
        env=pip_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert push.returncode != 0
    assert "cannot upload to 'team/release'" in push.stdout, push.stdout + push.stderr
    api = devpi_server.api(anonymous=True)
    assert api.release_digests(devpi_server.release_index, "common-utils", "8.8.8") == {}
    assert api.release_digests(devpi_server.staging_index, "common-utils", "8.8.8") == {}
    # the release user can (on the staging index, which is volatile, so nothing lingers)
    ok = twine_upload(
        devpi_server.staging_url + "/",
        [wheel],
        user=devpi_server.release_user,
        password=devpi_server.release_password,
        env=pip_env(),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    status, _ = devpi_server.api(as_release=True).request(
        "DELETE", f"/{devpi_server.staging_index}/common-utils/8.8.8"
    )
    assert status == 200


class _FakePublicIndex:
    """A PEP 503 simple index on loopback holding one ``common-utils 99.0`` wheel."""

    def __init__(self, root: Path) -> None:
        import http.server
        import threading

        root.mkdir(parents=True, exist_ok=True)
        wheel = tiny_wheel(root, "99.0")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        page = root / "simple" / "common-utils" / "index.html"
        page.parent.mkdir(parents=True)
        page.write_text(
            f'<html><body><a href="../../{wheel.name}#sha256={digest}">{wheel.name}</a>'
            "</body></html>\n"
        )
        (root / "simple" / "index.html").write_text(
            '<html><body><a href="common-utils/">common-utils</a></body></html>\n'
        )
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _quiet_handler_class():  # type: ignore[no-untyped-def]
    import http.server

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    return Handler


_QuietHandler = _quiet_handler_class()


def test_private_name_wins_over_a_public_mirror_before_the_first_release(
    devpi_server: DevpiServer, tmp_path: Path
) -> None:
    """Issue 20 item 11: a 'public' mirror with common-utils 99.0 as base of fresh indexes."""
    public = _FakePublicIndex(tmp_path / "public")
    try:
        root = devpi_server.api(as_root=True)
        status, body = root.put(
            "/root/fakepublic",
            {"type": "mirror", "mirror_url": public.url, "mirror_cache_expiry": 0},
        )
        assert status in (200, 201), body
        side = side_indexes(devpi_server, "dc", bases=("root/fakepublic",))
        mirror = devpi_server.api(anonymous=True)
        listed = mirror.request("GET", "/root/fakepublic/+simple/common-utils/")
        assert listed[0] == 200  # the mirror itself does serve 99.0 ...
        for index in (side.release_index, side.staging_index):
            page = urllib.request.urlopen(  # ... but not through the team's indexes
                f"{devpi_server.url}/{index}/+simple/common-utils/", timeout=30
            ).read()
            assert b"99.0" not in page, index
        done = subprocess.run(
            [
                *(sys.executable, "-m", "pip", "download", "--no-deps"),
                *("-d", str(tmp_path / "dl"), "--index-url", side.simple_url(side.release_index)),
                "common-utils",
            ],
            env=pip_env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode != 0
        assert not (tmp_path / "dl").exists() or not list((tmp_path / "dl").iterdir())
    finally:
        public.close()


def _release(checkout: Path, env: dict[str, str]) -> None:
    done = run_release_cli(checkout, "--skip-tests", env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr


def _pip_versions(index_url: str, *args: str) -> str:
    done = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed"),
            *("--no-deps", "--report", "-"),
            *("--quiet", "--index-url", index_url, *args),
        ],
        env=pip_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        return "error: " + done.stderr.strip().splitlines()[-1]
    import json

    return str(json.loads(done.stdout)["install"][0]["metadata"]["version"])


def test_candidates_need_pre_or_a_pin_and_a_bad_release_can_be_removed_by_an_admin(
    devpi_server: DevpiServer, devpi_env: dict[str, str], make_release_checkout, tmp_path: Path
) -> None:
    """Issue 15: v1.6.0rc1 only with --pre or ==; an admin removes a bad 1.5.1 (forced)."""
    side = side_indexes(devpi_server, "cand", bases=("root/deps",))
    env = {
        **devpi_env,
        "DEVPI_STAGING_INDEX": side.staging_index,
        "DEVPI_RELEASE_INDEX": side.release_index,
    }
    checkout = make_release_checkout(tag="v1.5.0")
    _release(checkout, env)
    for version in ("1.5.1", "1.6.0rc1"):
        (checkout / "CHANGELOG.md").write_text(f"{version}\n")
        git(checkout, "commit", "-q", "-am", version)
        git(checkout, "tag", f"v{version}")
        _release(checkout, env)
    index = side.simple_url(side.release_index)
    assert _pip_versions(index, "common-utils") == "1.5.1"
    assert _pip_versions(index, "--pre", "common-utils") == "1.6.0rc1"
    assert _pip_versions(index, "common-utils==1.6.0rc1") == "1.6.0rc1"
    assert install_from(index, "common-utils==1.6.0rc1", tmp_path / "rc") == "1.6.0rc1"

    # 1.5.1 turns out bad. Nobody but root/the release user may delete, and only forced.
    path = f"/{side.release_index}/common-utils/1.5.1"
    person = DevpiAPI(devpi_server.url, user="alice", password="alice-Pw-1")
    devpi_server.add_person("alice", "alice-Pw-1")
    assert person.request("DELETE", path + "?force")[0] == 403
    root = devpi_server.api(as_root=True)
    assert root.request("DELETE", path)[0] == 403  # non-volatile: refused without force
    assert root.request("DELETE", path + "?force")[0] == 200
    assert _pip_versions(index, "common-utils") == "1.5.0"  # unpinned: the previous final
    pinned = _pip_versions(index, "common-utils==1.5.1")  # pinned: a hard failure
    assert pinned.startswith("error: ")
    assert "common-utils==1.5.1" in pinned
