"""``common-utils-lock`` (common_utils_platform.servicelock): what it writes and what it refuses.

uv itself runs in the end-to-end tests (tests/e2e/test_locked_consumers.py,
test_renovate.py, test_release.py), against a real devpi; these tests cover the parts
that need no index: the header, the submodule's block, the pin, the constraints rules.
"""

from __future__ import annotations

import doctest
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from common_utils_platform import servicelock
from common_utils_platform.servicelock import LockError, main, replay_command

from .conftest import REPO_ROOT
from .http_support import QuietHandler, serving

SAMPLE = REPO_ROOT / "submodule_example"


def test_module_docstring_examples() -> None:
    """The module's examples (the header of a plain pip lock) hold."""
    result = doctest.testmod(servicelock)
    assert result.attempted > 0
    assert result.failed == 0


def test_the_header_names_the_constraints_file_when_one_applies() -> None:
    assert replay_command(
        "requirements-submodule.in", "requirements-submodule.txt", "3.11",
        "common-utils-constraints.txt",
    ) == (
        "uv pip compile --generate-hashes --universal --python-version=3.11 "
        "--constraints=common-utils-constraints.txt "
        "--output-file=requirements-submodule.txt requirements-submodule.in"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("source", "lock"),
    [("requirements.in", "requirements.txt"),
     ("requirements-submodule.in", "requirements-submodule.txt")],
)  # fmt: skip
def test_the_samples_locks_carry_the_header_the_command_writes(source: str, lock: str) -> None:
    """What Renovate replays is what the command runs, for the sample's runtime.txt."""
    python = re.fullmatch(r"python-(\d+\.\d+)\.x", (SAMPLE / "runtime.txt").read_text().strip())
    assert python
    header = (SAMPLE / lock).read_text().splitlines()[1]
    assert header == f"#    {replay_command(source, lock, python[1], None)}"


@pytest.fixture
def service(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A service root with both inputs, as the current directory; no index configured."""
    for name in ("requirements.in", "requirements-submodule.in", "runtime.txt"):
        (tmp_path / name).write_text((SAMPLE / name).read_text())
    monkeypatch.chdir(tmp_path)
    for name in ("UV_DEFAULT_INDEX", "PIP_INDEX_URL"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_without_an_index_it_stops_with_usage_status_and_names_the_settings(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "--index-url" in err
    assert "UV_DEFAULT_INDEX" in err


def test_without_an_input_it_stops_with_usage_status(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("requirements.in", "requirements-submodule.in"):
        (service / name).unlink()
    assert main(["--index-url", "https://devpi.example.invalid/team/release/+simple/"]) == 2
    assert "none of requirements.in, requirements-submodule.in" in capsys.readouterr().err


def test_a_bad_release_version_is_refused_before_anything_is_written(
    service: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = (service / "requirements.in").read_text()
    code = main(["--index-url", "https://devpi.example.invalid/+simple/", "--common-utils", "1.x"])
    assert code == 1
    assert "--common-utils wants a release like 1.4.0, got '1.x'" in capsys.readouterr().err
    assert (service / "requirements.in").read_text() == before


def test_the_pin_moves_in_requirements_in_and_the_submodule_to_the_tag(service: Path) -> None:
    library = service / "submodules" / "common_utils"
    library.mkdir(parents=True)
    git = ["git", "-C", str(library), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    for tag in ("v1.0.0", "v1.1.0"):
        (library / "RELEASE").write_text(tag)
        subprocess.run([*git, "add", "RELEASE"], check=True)
        subprocess.run([*git, "commit", "-q", "-m", tag], check=True)
        subprocess.run([*git, "tag", tag], check=True)
    subprocess.run([*git, "checkout", "-q", "v1.0.0"], check=True)

    done = servicelock.set_library_pin(service, "1.1.0")

    assert "common-utils==1.1.0\n" in (service / "requirements.in").read_text()
    assert (library / "RELEASE").read_text() == "v1.1.0"
    assert done[1].startswith("submodules/common_utils: v1.1.0")
    with pytest.raises(
        LockError, match=re.escape("git checkout v9.9.9 in submodules/common_utils failed")
    ):
        servicelock.set_library_pin(service, "9.9.9")


def test_the_submodule_block_is_the_librarys_dependencies(service: Path) -> None:
    path = service / "requirements-submodule.in"
    assert servicelock.sync_submodule_input(path, ["falcon>=4,<5", "newdep>=1"])
    text = path.read_text()
    block = text.split(servicelock.BEGIN, 1)[1].split(servicelock.END, 1)[0]
    assert block.splitlines()[1:] == ["falcon>=4,<5", "newdep>=1"]
    assert text.endswith("uwsgi==2.0.31\n")
    assert not servicelock.sync_submodule_input(path, ["falcon>=4,<5", "newdep>=1"])
    path.write_text("uwsgi==2.0.31\n")
    with pytest.raises(LockError, match="has no '# BEGIN common_utils dependencies'"):
        servicelock.sync_submodule_input(path, ["falcon"])


def test_the_samples_block_is_the_librarys_pyproject() -> None:
    pyproject = servicelock.library_pyproject(SAMPLE)
    assert pyproject == REPO_ROOT / "pyproject.toml"
    text = (SAMPLE / "requirements-submodule.in").read_text()
    for dependency in servicelock.library_dependencies(pyproject):
        assert f"\n{dependency}\n" in text


# -- --constraints: what it refuses --------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://devpi.example.invalid/x", "must use https:// (plain http only on loopback)"),
        ("https://ci:s3cr3t@devpi.example.invalid/x", "must not carry credentials"),
        ("https://devpi.example.invalid/x?token=s3cr3t", "must not carry a query"),
        ("ftp://devpi.example.invalid/x", "must be an https URL"),
        ("file:///etc/passwd", "must be an https URL"),
    ],
)
def test_constraints_url_rules(url: str, message: str) -> None:
    with pytest.raises(LockError, match=re.escape(message)) as caught:
        servicelock.fetch_constraints(url, "3.12")
    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    "text",
    [
        "--index-url https://elsewhere.invalid/simple\nfalcon==4.0\n",
        "<html>error</html>\n",
        "# only\n",
    ],
)
def test_constraints_content_rules(text: str) -> None:
    with pytest.raises(LockError, match="name==version"):
        servicelock.check_constraints(text, "x.txt")


def test_constraints_of_another_release_are_refused(service: Path) -> None:
    (service / "c.txt").write_text("# common-utils 1.4.0: tested with\nfalcon==4.1.0\n")
    with pytest.raises(
        LockError, match=re.escape("holds the constraints of common-utils 1.4.0, the ")
    ):
        servicelock.prepare_constraints(service, "c.txt", "3.12", "1.0.0")
    assert servicelock.prepare_constraints(service, "c.txt", "3.12", "1.4.0") == (
        "common-utils-constraints.txt"
    )
    assert (service / "common-utils-constraints.txt").read_text().endswith("falcon==4.1.0\n")


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server calls it by this name
        if self.path == "/away":
            self.send_response(302)
            self.send_header("Location", f"http://localhost:{self.server.server_port}/plain")
            self.end_headers()
            return
        body = b"a==1\n" * (2 << 20) if self.path == "/big" else b"# x\nfalcon==4.1.0\n"
        self.send_body(body, "text/plain")


@pytest.fixture
def loopback_http() -> Iterator[str]:
    """A loopback HTTP server: /big (over the cap), /plain, /away (redirect to another host)."""
    with serving(_Handler) as server:
        yield f"http://127.0.0.1:{server.server_port}"


def test_constraints_fetch_is_capped_and_stays_on_its_host(loopback_http: str) -> None:
    assert servicelock.fetch_constraints(f"{loopback_http}/plain", "3.12") == (
        "# x\nfalcon==4.1.0\n"
    )
    with pytest.raises(LockError, match="more than 4194304 bytes"):
        servicelock.fetch_constraints(f"{loopback_http}/big", "3.12")
    with pytest.raises(LockError, match="redirects to another host"):
        servicelock.fetch_constraints(f"{loopback_http}/away", "3.12")
