"""The release pipeline against a real devpi-server: tag -> staging -> tests -> release."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.test_version import git

from .conftest import (
    Released,
    install_from,
    next_version,
    run_release_cli,
)

STEP_NAMES = ("guards", "build", "login", "upload", "verify", "push")


def staged_files(server, version: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return server.api().release_digests(server.staging_index, "common-utils", version)


def released_files(server, version: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return server.api().release_digests(server.release_index, "common-utils", version)


def test_tag_is_released_through_staging_and_tests_and_installs_from_release_index(
    released: Released, devpi_server, tmp_path: Path
) -> None:
    """A vX.Y.Z tag goes through every step, each reported with its duration."""
    for step in STEP_NAMES:
        assert f"[{step}] ok in " in released.output
    assert " passed" in released.output  # the verify step ran the unit tests
    assert "tests used common_utils from" not in released.output or "site-packages" in (
        released.output
    )
    assert devpi_server.password not in released.output
    assert released_files(devpi_server, "1.4.0") == staged_files(devpi_server, "1.4.0")
    assert sorted(released_files(devpi_server, "1.4.0")) == [
        "common_utils-1.4.0-py3-none-any.whl",
        "common_utils-1.4.0.tar.gz",
    ]
    assert install_from(released.index_url, "common-utils==1.4.0", tmp_path / "venv") == "1.4.0"


def test_rerun_of_a_completed_release_succeeds_and_changes_nothing(
    released: Released, devpi_server, devpi_env: dict[str, str]
) -> None:
    """Re-running on the same tag rebuilds identical bytes and reports "already released"."""
    before = devpi_server.serial()
    done = run_release_cli(released.checkout, env=devpi_env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "already released" in done.stdout
    assert "[upload]" not in done.stdout
    assert devpi_server.serial() == before


def test_different_artifact_for_a_released_version_fails_and_release_is_unchanged(
    released: Released, devpi_server, devpi_env: dict[str, str], make_release_checkout
) -> None:
    """Other bytes under a released version: exit 7, the release index keeps the original."""
    before = released_files(devpi_server, released.version)
    checkout = make_release_checkout(tag=None)
    (checkout / "CHANGELOG.md").write_text("a different artifact\n")
    git(checkout, "commit", "-q", "-am", "different")
    git(checkout, "tag", f"v{released.version}")
    done = run_release_cli(checkout, env=devpi_env)
    assert done.returncode == 7, done.stdout + done.stderr
    assert "already released" in done.stderr
    assert "new version" in done.stderr
    assert "Traceback" not in done.stderr
    assert released_files(devpi_server, released.version) == before


def _dirty(checkout: Path) -> None:
    (checkout / "README.md").write_text("edited after tagging\n")


def _untracked(checkout: Path) -> None:
    (checkout / "notes.txt").write_text("forgot to commit\n")


def _tag_not_on_head(checkout: Path) -> None:
    (checkout / "CHANGELOG.md").write_text("one more commit\n")
    git(checkout, "commit", "-q", "-am", "after the tag")


def _tag(name: str) -> Callable[[Path], None]:
    def retag(checkout: Path) -> None:
        git(checkout, "tag", "-d", "v9.9.9")
        git(checkout, "tag", name)

    return retag


def _shallow(checkout: Path) -> Path:
    shallow = checkout.parent / "shallow"
    git(
        checkout.parent,
        "clone",
        "-q",
        "--depth",
        "1",
        "--branch",
        "v9.9.9",
        f"file://{checkout}",
        str(shallow),
    )
    return shallow


@pytest.mark.parametrize(
    ("spoil", "message"),
    [
        pytest.param(_dirty, "working tree is not clean", id="dirty-tree"),
        pytest.param(_untracked, "notes.txt", id="untracked-file"),
        pytest.param(_tag_not_on_head, "1 commit(s) behind HEAD", id="tag-not-on-head"),
        pytest.param(_tag("v1.4"), "'v1.4' at HEAD is not a release tag", id="tag-v1.4"),
        pytest.param(
            _tag("1.4.0-rc1"), "'1.4.0-rc1' at HEAD is not a release tag", id="tag-1.4.0-rc1"
        ),
        pytest.param(_shallow, "shallow clone", id="shallow-clone"),
    ],
)
def test_guard_failure_stops_before_anything_is_built_or_uploaded(
    spoil: Callable[[Path], Path | None],
    message: str,
    make_release_checkout,
    devpi_server,
    devpi_env: dict[str, str],
) -> None:
    """Each guard exits 3 with one clear line; nothing reaches the server."""
    checkout = make_release_checkout(tag="v9.9.9")
    checkout = spoil(checkout) or checkout
    done = run_release_cli(checkout, env=devpi_env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    assert "[build]" not in done.stdout
    assert staged_files(devpi_server, "9.9.9") == {}


def test_wrong_password_fails_fast_with_exit_5_and_never_shows_the_password(
    make_release_checkout, devpi_server, devpi_env: dict[str, str]
) -> None:
    version = next_version()
    checkout = make_release_checkout(tag=f"v{version}")
    env = {**devpi_env, "DEVPI_PASSWORD": "not-the-Password-42"}
    done = run_release_cli(checkout, env=env)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "wrong user or password" in done.stderr
    assert "not-the-Password-42" not in done.stdout + done.stderr
    assert "[upload]" not in done.stdout
    assert staged_files(devpi_server, version) == {}


def test_server_not_running_is_one_clear_line_without_traceback(
    make_release_checkout, devpi_env: dict[str, str]
) -> None:
    from devpitools import free_port

    checkout = make_release_checkout(tag=f"v{next_version()}")
    env = {**devpi_env, "DEVPI_URL": f"http://127.0.0.1:{free_port()}"}
    done = run_release_cli(checkout, env=env)
    assert done.returncode == 5, done.stdout + done.stderr
    assert "devpi-server is not reachable at http://127.0.0.1:" in done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_missing_password_is_a_usage_error_naming_the_variable(
    make_release_checkout, devpi_env: dict[str, str]
) -> None:
    env = {k: v for k, v in devpi_env.items() if k != "DEVPI_PASSWORD"}
    done = run_release_cli(make_release_checkout(), env=env)
    assert done.returncode == 2
    assert "DEVPI_PASSWORD is not set" in done.stderr


def test_anonymous_upload_is_refused_and_nothing_lands(released: Released, devpi_server) -> None:
    """An upload without credentials to either index is refused by the server."""
    wheel = "common_utils-7.7.7-py3-none-any.whl"
    disposition = "Content-Disposition: form-data"
    boundary = "xXxBoundaryxXx"
    fields = {":action": "file_upload", "name": "common-utils", "version": "7.7.7"}
    body = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
        for k, v in fields.items()
    )
    body += (
        (
            f'--{boundary}\r\n{disposition}; name="content"; filename="{wheel}"\r\n'
            f"Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        + b"PK\x05\x06"
        + b"\0" * 18
        + f"\r\n--{boundary}--\r\n".encode()
    )
    for url in (devpi_server.staging_url, devpi_server.release_url):
        request = urllib.request.Request(url + "/", data=body, method="POST")
        request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
        with pytest.raises(urllib.error.HTTPError) as caught:
            urllib.request.urlopen(request, timeout=30)
        assert caught.value.code in (401, 403)
    # and a wrong password is no better than none
    request = urllib.request.Request(devpi_server.release_url + "/", data=body, method="POST")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    token = base64.b64encode(f"{devpi_server.user}:wrong".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=30)
    assert caught.value.code in (401, 403)
    assert released_files(devpi_server, "7.7.7") == {}


def test_failing_test_suite_stops_the_release_before_the_push(
    make_release_checkout, devpi_server, devpi_env: dict[str, str]
) -> None:
    """A test failing against the staged package: exit 6, staged but never released."""
    version = next_version()
    checkout = make_release_checkout(tag=None)
    (checkout / "tests" / "test_zz_release_gate.py").write_text(
        "import common_utils\n\n\ndef test_gate():\n    assert common_utils.__version__ == 'no'\n"
    )
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", "a failing test")
    git(checkout, "tag", f"v{version}")
    gate = "tests/test_zz_release_gate.py"
    done = run_release_cli(checkout, "--pytest-args", f"{{clone}}/{gate}", env=devpi_env)
    assert done.returncode == 6, done.stdout + done.stderr
    assert "the test suite failed" in done.stderr
    assert "1 failed" in done.stderr
    assert staged_files(devpi_server, version) != {}
    assert released_files(devpi_server, version) == {}
