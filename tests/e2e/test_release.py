"""The release pipeline against a real devpi-server: tag -> staging -> tests -> release."""

from __future__ import annotations

import base64
import hashlib
import io
import os
import re
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from common_utils_platform.devsupport import git

from tests.conftest import REPO_ROOT

from .conftest import (
    RELEASED_FRAGMENT,
    Released,
    install_from,
    next_version,
    run_release_cli,
    tool,
)

STEP_NAMES = (
    "guards", "build", "login", "upload", "install", "import", "tests", "constraints", "notes",
    "push",
)  # fmt: skip
TEST_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"  # the verify venv's Python


def lock_service(root: Path, index_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``common-utils-lock`` in ``root`` against ``index_url`` for this Python."""
    done = subprocess.run(
        [*tool("common-utils-lock"), "--index-url", index_url,
         "--python-version", TEST_PYTHON, *args],
        cwd=root,
        env={k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done


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
    # the notes and the constraints stay what the first run published
    link = devpi_server.api().doczip_link(devpi_server.release_index, "common-utils", "1.4.0")
    assert link is not None
    assert f"release notes and constraints: {link['href']}" in done.stdout
    assert f"release notes and constraints: {link['href']}" in released.output


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


def _side_branch(checkout: Path) -> None:
    git(checkout, "tag", "-d", "v9.9.9")
    git(checkout, "checkout", "-q", "-b", "side")
    (checkout / "CHANGELOG.md").write_text("side work\n")
    git(checkout, "commit", "-q", "-am", "side")
    git(checkout, "tag", "v9.9.9")


def _wrong_release_branch(checkout: Path) -> None:
    git(checkout, "tag", "-d", "v9.9.9")
    git(checkout, "checkout", "-q", "-b", "release/9.8")
    (checkout / "CHANGELOG.md").write_text("fix for 9.8\n")
    git(checkout, "commit", "-q", "-am", "fix")
    git(checkout, "tag", "v9.9.9")


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
        pytest.param(
            _side_branch, "v9.9.9 is on no allowed branch: tag a commit of main", id="side-branch"
        ),
        pytest.param(
            _wrong_release_branch,
            "is on release/9.8 only, which carries 9.8.* tags",
            id="other-release-line",
        ),
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
    from common_utils_platform.devpitools import free_port

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


# -- security: issue 20 items 10, 13, 14; release candidates and bad releases (issue 15) ------


def _commit_all(checkout: Path, message: str) -> None:
    git(checkout, "add", "-A")
    git(checkout, "commit", "-q", "-m", message)


def test_no_credential_reaches_the_build_pip_or_the_tests(
    make_release_checkout, devpi_server, devpi_env: dict[str, str], tmp_path: Path
) -> None:
    """The project's setup.py and the tagged tests record their environment: no secret in it."""
    version = next_version(5)
    dumps = tmp_path / "dumps"
    dumps.mkdir()
    checkout = make_release_checkout(tag=None)
    dump = (
        "import os, json, pathlib, uuid\n"
        f"pathlib.Path({str(dumps)!r}, uuid.uuid4().hex).write_text(json.dumps(dict(os.environ)))\n"
    )
    setup = checkout / "setup.py"
    setup.write_text(dump + setup.read_text())
    (checkout / "tests" / "test_zz_env_probe.py").write_text(
        dump.replace("\n", "\n    ").join(["def test_env():\n    ", "\n"])
    )
    _commit_all(checkout, "probes")
    git(checkout, "tag", f"v{version}")
    secrets = {
        "DEVPI_ROOT_PASSWORD": devpi_server.root_password,
        "GITHUB_TOKEN": "ghp-fake-Token-123",
        "CI_JOB_TOKEN": "fake-job-Token-456",
        "MY_SERVICE_API_KEY": "fake-api-Key-789",
    }
    env = {**devpi_env, **secrets}
    done = run_release_cli(
        checkout, "--pytest-args", "{clone}/tests/test_zz_env_probe.py", env=env, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    files = list(dumps.iterdir())
    assert len(files) >= 2  # the build ran setup.py, the verify step ran the probe test
    forbidden = [devpi_env["DEVPI_PASSWORD"], *secrets.values()]
    for path in files:
        text = path.read_text()
        leaked = [value[:4] + "..." for value in forbidden if value in text]
        assert not leaked, f"{path.name}: {leaked}"
        assert "DEVPI_" not in text
        assert "TWINE_" not in text
    assert released_files(devpi_server, version) != {}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://devpi.example.invalid:3141", "must use https:// (plain http only on loopback)"),
        ("http://10.0.0.5", "must use https://"),
        ("https://ci:s3cr3t-pw@devpi.example.invalid", "must not carry credentials"),
        ("ftp://devpi.example.invalid", "must be an https URL"),
    ],
)
def test_cleartext_or_odd_devpi_url_is_refused_before_anything_is_sent(
    url: str, message: str, make_release_checkout, devpi_env: dict[str, str]
) -> None:
    env = {**devpi_env, "DEVPI_URL": url}
    done = run_release_cli(make_release_checkout(tag="v9.9.8"), env=env, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "s3cr3t-pw" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert "[guards]" not in done.stdout


@pytest.mark.parametrize("url", ["http://127.0.0.1:1", "http://localhost:1", "http://[::1]:1"])
def test_plain_http_is_fine_on_loopback(url: str) -> None:
    from common_utils_platform.release import ReleaseConfig

    assert ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": url}).url == url


def test_a_file_swapped_on_staging_after_verify_never_reaches_the_release_index(
    make_release_checkout, devpi_server, devpi_env: dict[str, str]
) -> None:
    """Race of issue 20 item 14: the last tagged test replaces the staged wheel (as the
    release user, i.e. whoever could upload to staging); the release gets the verified bytes."""
    version = next_version(6)
    wheel = f"common_utils-{version}-py3-none-any.whl"
    checkout = make_release_checkout(tag=None)
    auth = base64.b64encode(
        f"{devpi_server.release_user}:{devpi_server.release_password}".encode()
    ).decode()
    (checkout / "tests" / "test_zz_swap.py").write_text(
        f'''import hashlib, urllib.request
EVIL = b"PK\\x05\\x06" + b"\\0" * 18 + b"evil"


def test_swap():
    boundary = "b0undary"
    parts = [(":action", "file_upload"), ("name", "common-utils"), ("version", {version!r})]
    head = "Content-Disposition: form-data; name="
    body = b"".join(
        f'--{{boundary}}\\r\\n{{head}}"{{k}}"\\r\\n\\r\\n{{v}}\\r\\n'.encode() for k, v in parts
    )
    body += (
        f'--{{boundary}}\\r\\nContent-Disposition: form-data; name="content"; '
        f'filename="{wheel}"\\r\\n\\r\\n'
    ).encode() + EVIL + f"\\r\\n--{{boundary}}--\\r\\n".encode()
    req = urllib.request.Request({devpi_server.staging_url + "/"!r}, data=body, method="POST")
    req.add_header("Content-Type", f"multipart/form-data; boundary={{boundary}}")
    req.add_header("Authorization", "Basic {auth}")
    assert urllib.request.urlopen(req, timeout=30).status == 200
'''
    )
    _commit_all(checkout, "an insider swaps the staged wheel during the verify")
    git(checkout, "tag", f"v{version}")
    done = run_release_cli(
        checkout, "--pytest-args", "{clone}/tests/test_zz_swap.py", env=devpi_env, timeout=900
    )
    assert done.returncode == 0, done.stdout + done.stderr
    evil = hashlib.sha256(b"PK\x05\x06" + b"\0" * 18 + b"evil").hexdigest()
    assert staged_files(devpi_server, version)[wheel] == evil  # the swap did happen
    released = released_files(devpi_server, version)
    assert released[wheel] != evil
    assert f"{wheel} sha256:{released[wheel][:12]}" in done.stdout  # the built bytes


def test_verify_lock_covers_the_dependencies_and_the_test_tools() -> None:
    """requirements/verify.lock must pin everything pyproject.toml and test.in name."""
    import re

    from .conftest import REPO_ROOT

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    def name(requirement: str) -> str:
        return (
            re.split(r"[\s\[<>=!~;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")
        )

    lock = (REPO_ROOT / "requirements" / "verify.lock").read_text()
    locked = {name(line) for line in lock.splitlines() if "==" in line and not line[0].isspace()}
    meta = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    wanted = {name(r) for r in meta["project"]["dependencies"]}
    for line in (REPO_ROOT / "requirements" / "test.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            wanted.add(name(line))
    assert wanted - locked == set(), "regenerate requirements/verify.lock (see verify.in)"
    blocks = [b for b in re.split(r"\n(?=\S)", lock) if not b.startswith("#") and "==" in b]
    assert blocks
    assert all("--hash=sha256:" in block for block in blocks)


# -- release notes and constraints published with the release (issues 21 and 16) -----------

NOTES_URL_LINE = re.compile(r"^release: release notes and constraints: (?P<url>\S+)$", re.M)


def fetch(url: str, limit: int = 4 << 20) -> bytes:
    """GET ``url`` anonymously (what a service does), at most ``limit`` bytes."""
    with urllib.request.urlopen(url, timeout=30) as response:
        return bytes(response.read(limit))


def published_docs(server, version: str) -> tuple[str, dict[str, str]]:  # type: ignore[no-untyped-def]
    """The doc zip of ``version`` on team/release, fetched anonymously: (URL, {name: text})."""
    link = server.api(anonymous=True).doczip_link(server.release_index, "common-utils", version)
    assert link is not None, f"no docs for {version} on {server.release_index}"
    data = fetch(link["href"])
    assert hashlib.sha256(data).hexdigest() == link["sha256"]
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return link["href"], {n: archive.read(n).decode() for n in archive.namelist()}


def lock_pins_of(text: str) -> dict[str, str]:
    """``{name: version}`` of the ``name==version`` lines of a constraints file or lock."""
    pins = {}
    for line in text.splitlines():
        if "==" in line and not line.startswith(("#", " ")):
            name, version = line.split(" ")[0].split(";")[0].split("==")
            pins[name.lower()] = version
    return pins


def test_release_publishes_its_notes_and_constraints_at_the_documented_urls(
    released: Released, devpi_server
) -> None:
    """The released fixture's v1.4.0 (full unit suite in verify, no CHANGELOG section for 1.4.0):
    the notes are the pending fragments, said in one line; the doc zip on team/release holds
    RELEASE_NOTES.md, index.html and constraints-pyX.Y.txt; the constraints are exactly the
    verify venv's versions (requirements/verify.lock) of common-utils' runtime dependencies."""
    output = released.output
    notes_lines = [line for line in output.splitlines() if line.startswith("release: notes: ")]
    assert len(notes_lines) == 1, output
    assert "CHANGELOG.md has no section for 1.4.0" in notes_lines[0]
    assert "'python scripts/release_notes.py 1.4.0 --write'" in notes_lines[0]
    href, files = published_docs(devpi_server, "1.4.0")
    # the URL the pipeline prints is the one devpi lists; the documented page leads to it
    printed = NOTES_URL_LINE.search(output)
    assert printed is not None
    assert printed["url"] == href
    assert href.startswith(f"{devpi_server.url}/team/release/+f/")
    assert href.endswith("/common-utils-1.4.0.doc.zip")
    name = f"constraints-py{TEST_PYTHON}.txt"
    assert sorted(files) == sorted(["RELEASE_NOTES.md", "index.html", name])
    notes = files["RELEASE_NOTES.md"]
    assert notes.startswith("## [1.4.0] - ")
    assert f"- {RELEASED_FRAGMENT[1]}\n" in notes
    assert "### Features" in notes
    assert "<h2>[1.4.0]" in files["index.html"]
    assert f'<a href="{name}">' in files["index.html"]
    constraints = files[name]
    header = [line for line in constraints.splitlines() if line.startswith("#")]
    assert header[0].startswith("# common-utils 1.4.0: ")
    assert f"# Python {sys.version.split()[0]} " in constraints
    verify_line = next(line for line in header if line.startswith("# verify: "))
    assert " passed (tests/ without tests/e2e, -m 'not e2e')" in verify_line
    assert devpi_server.release_password not in constraints + notes
    pins = lock_pins_of(constraints)
    locked = lock_pins_of((REPO_ROOT / "requirements" / "verify.lock").read_text())
    # exactly the verify venv's versions (it installed verify.lock with --require-hashes) ...
    assert {n: locked.get(n) for n in pins} == pins
    # ... of the runtime dependencies, transitively, without test tools or the library itself
    assert {"falcon", "pyjwt", "cerberus", "cryptography", "cffi"} <= set(pins)
    assert not {"pytest", "coverage", "pytest-cov", "common-utils", "pluggy"} & set(pins)


def test_constraints_apply_with_the_lock_command_from_the_release_page(
    released: Released, devpi_server, tmp_path: Path
) -> None:
    """A service locks with ``--constraints <devpi>/team/release/common-utils/1.4.0``: the
    command finds the doc zip there, checks its sha256, and uv resolves exactly the tested set."""
    _, files = published_docs(devpi_server, "1.4.0")
    tested = lock_pins_of(files[f"constraints-py{TEST_PYTHON}.txt"])
    root = tmp_path / "service"
    root.mkdir()
    (root / "requirements.in").write_text("common-utils==1.4.0\n")
    page = f"{devpi_server.url}/{devpi_server.release_index}/common-utils/1.4.0"
    out = lock_service(root, released.index_url, "--constraints", page).stdout
    assert f"constraints: {len(tested)} pins from {page} -> common-utils-constraints.txt" in out
    lock = (root / "requirements.txt").read_text()
    assert "-c common-utils-constraints.txt" in lock
    pins = lock_pins_of(lock)
    assert pins.pop("common-utils") == "1.4.0"
    assert pins == tested
    # the kept file works offline, and another release's constraints are refused
    again = lock_service(root, released.index_url, "--constraints", "common-utils-constraints.txt")
    assert "requirements.txt: no change" in again.stdout
    (root / "requirements.in").write_text("common-utils==1.3.9\n")
    with pytest.raises(AssertionError) as refused:
        lock_service(root, released.index_url, "--constraints", page)
    assert "holds the constraints of common-utils 1.4.0, the service pins 1.3.9" in str(
        refused.value
    )


def test_docs_are_idempotent_and_never_replaced_on_the_release_index(
    released: Released, devpi_server, tmp_path: Path
) -> None:
    """Rebuilt from the same notes, constraints and commit, the doc zip is the same bytes;
    devpi accepts identical bytes again without a change, refuses other bytes (409), which
    the pipeline reports and keeps; nobody but the release user may upload docs."""
    from common_utils_platform.devpitools import DevpiError
    from common_utils_platform.release import ProjectSettings, ReleaseConfig, _publish_docs, _Upload
    from common_utils_platform.release_docs import docs_zip
    from common_utils_platform.release_steps import ExitCode, Step

    href, files = published_docs(devpi_server, "1.4.0")
    published = fetch(href)
    epoch = int(git(released.checkout, "log", "-1", "--format=%ct", "HEAD"))
    constraints = {n: t for n, t in files.items() if n.startswith("constraints-")}
    rebuilt = docs_zip("1.4.0", files["RELEASE_NOTES.md"], constraints, epoch=epoch)
    assert rebuilt == published
    api = devpi_server.api(as_release=True)
    before = devpi_server.serial()
    assert api.upload_doczip(devpi_server.release_index, "common-utils", "1.4.0", rebuilt) == 200
    assert devpi_server.serial() == before
    other = docs_zip("1.4.0", "## [1.4.0]\n\nother notes\n", constraints, epoch=epoch)
    assert api.upload_doczip(devpi_server.release_index, "common-utils", "1.4.0", other) == 409
    config = ReleaseConfig(
        url=devpi_server.url,
        user=devpi_server.release_user,
        password=devpi_server.release_password,
    )
    step = Step("push", tmp_path / "push.log", ExitCode.SERVER)
    project = ProjectSettings(name="common-utils")
    upload = _Upload(config, api, project, "1.4.0", files=[], digests={})
    url, note = _publish_docs(step, upload, other)
    assert url == href
    assert "already holds other docs of 1.4.0" in note
    assert note.endswith("kept")
    with pytest.raises(DevpiError, match="HTTP 403"):
        devpi_server.api().upload_doczip(devpi_server.release_index, "common-utils", "1.4.0", other)
    assert published_docs(devpi_server, "1.4.0")[0] == href
    assert fetch(href) == published


def test_a_committed_changelog_section_is_published_as_is(
    make_release_checkout, devpi_server, devpi_env: dict[str, str]
) -> None:
    """A tag whose CHANGELOG.md has its section: those notes, no fallback line (small verify)."""
    version = next_version(8)
    checkout = make_release_checkout(tag=None)
    (checkout / "CHANGELOG.md").write_text(
        "# Changelog\n\n## [Unreleased]\n\n<!-- towncrier release notes start -->\n\n"
        f"## [{version}] - 2027-02-01\n\n### Fixes\n\n- Fixed the committed thing.\n\n"
        "## [1.0.0] - 2026-11-30\n\n### Features\n\n- The first release.\n"
    )
    _commit_all(checkout, f"notes for {version}")
    git(checkout, "tag", "-a", f"v{version}", "-m", version)
    done = run_release_cli(
        checkout, "--pytest-args", "{clone}/tests/test_problems.py", env=devpi_env
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "release: notes: " not in output
    assert "[notes] ok in " in output
    _, files = published_docs(devpi_server, version)
    assert files["RELEASE_NOTES.md"] == (
        f"## [{version}] - 2027-02-01\n\n### Fixes\n\n- Fixed the committed thing.\n"
    )
    constraints = files[f"constraints-py{TEST_PYTHON}.txt"]
    assert "(tests/test_problems.py, -m 'not e2e')" in constraints.replace("{clone}/", "")
    assert released_files(devpi_server, version) != {}


def test_release_module_docstring_examples() -> None:
    """The examples in common_utils_platform.release's docstrings (docs_zip's determinism)."""
    import doctest

    from common_utils_platform import release

    result = doctest.testmod(release, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
