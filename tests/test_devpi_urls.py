"""devpi/ tools: credentials never follow a redirect to another origin; URL errors hide secrets.

Issue 25, item 10 and its hardening. Two real HTTP servers on 127.0.0.1 with
different ports are two origins: the first answers every request with a redirect
to the second, which records what it was sent.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
from common_utils_platform import ops, release
from common_utils_platform.devpitools import DevpiAPI, DevpiError

from .http_support import QuietHandler, serving

USER = "release-bot"
PASSWORD = "s3cret-Pa55word"
BASIC = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()


@dataclass
class Seen:
    """What one server was sent: headers and body of every request."""

    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    def credentials(self) -> list[str]:
        leaks = []
        for method, path, headers, body in self.requests:
            text = " ".join([method, path, *headers.values(), body.decode("latin-1")])
            if "authorization" in headers or PASSWORD in text or BASIC in text:
                leaks.append(f"{method} {path}")
        return leaks


class Origin:
    """One loopback server: redirects everything to ``target`` with ``code``, or answers 200."""

    def __init__(self) -> None:
        self.seen = Seen()
        self.redirect: tuple[int, str] | None = None
        self.url = ""  # set while served
        origin = self

        class Handler(QuietHandler):
            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                origin.seen.requests.append((self.command, self.path, headers, body))
                if origin.redirect is not None and not self.path.startswith("/target"):
                    code, where = origin.redirect
                    self.send_response(code)
                    self.send_header("Location", where + self.path)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_body(b'{"result": {"ok": true}}', "application/json")

            do_GET = do_POST = do_PUT = do_PATCH = _any  # noqa: N815

        self.handler = Handler

    @contextlib.contextmanager
    def served(self) -> Iterator[Origin]:
        """Serve this origin on a free port until the block ends."""
        with serving(self.handler) as server:
            self.url = f"http://127.0.0.1:{server.server_address[1]}"
            yield self


@pytest.fixture
def origins() -> Iterator[tuple[Origin, Origin]]:
    with Origin().served() as first, Origin().served() as second:
        yield first, second


CALLS = {
    "get": lambda api: api.get("/team/release/common-utils"),
    "put": lambda api: api.put("/team/new", {"type": "stage"}),
    "patch": lambda api: api.patch("/team/release", {"volatile": False}),
    "login": lambda api: api.login(),
    "upload_doczip": lambda api: api.upload_doczip("team/staging", "common-utils", "1.0.0", b"PK"),
}


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("call", sorted(CALLS))
def test_release_credentials_never_follow_a_redirect_to_another_origin(
    origins: tuple[Origin, Origin], code: int, call: str
) -> None:
    first, second = origins
    first.redirect = (code, second.url)
    api = DevpiAPI(first.url, user=USER, password=PASSWORD)
    with pytest.raises(DevpiError, match="redirect") as caught:
        CALLS[call](api)
    assert first.seen.requests  # the request itself was made
    assert second.seen.credentials() == []
    assert second.seen.requests == []
    assert PASSWORD not in str(caught.value)
    assert second.url.rsplit(":", 1)[1] in str(caught.value)  # names where it was sent


def test_a_redirect_on_the_same_origin_is_still_followed(origins: tuple[Origin, Origin]) -> None:
    first, _ = origins
    first.redirect = (302, first.url + "/target")
    api = DevpiAPI(first.url, user=USER, password=PASSWORD)
    assert api.get("/x") == (200, {"result": {"ok": True}})
    assert [path for _, path, _, _ in first.seen.requests] == ["/x", "/target/x"]


# ------------------------------------------------------------------ URL messages hide secrets

SECRET_URLS = [
    "https://user:TOPSECRET@devpi.example.invalid/",
    "ftp://user:TOPSECRET@devpi.example.invalid/",
    "https://devpi.example.invalid/?token=TOPSECRET",
    "http://devpi.example.invalid/?token=TOPSECRET&x=1",
    "https://TOPSECRET@devpi.example.invalid/",
    "https://devpi.example.invalid/#TOPSECRET",
    "user:TOPSECRET@devpi.example.invalid",
]


@pytest.mark.parametrize("url", SECRET_URLS)
def test_release_refuses_a_devpi_url_without_echoing_its_secret(url: str) -> None:
    with pytest.raises(release.ReleaseError) as caught:
        release.ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": url})
    message = str(caught.value)
    assert caught.value.code == release.ExitCode.USAGE
    assert "TOPSECRET" not in message
    assert message.startswith("DEVPI_URL ")


def test_release_shows_the_refused_url_redacted() -> None:
    with pytest.raises(release.ReleaseError) as caught:
        release.ReleaseConfig.from_env(
            {
                "DEVPI_PASSWORD": "pw",
                "DEVPI_URL": "http://u:TOPSECRET@devpi.example.invalid/x?token=T",
            }
        )
    assert "http://devpi.example.invalid/x?token=<hidden>" in str(caught.value)


@pytest.mark.parametrize("url", SECRET_URLS)
@pytest.mark.parametrize("option", ["--url", "--replica"])
def test_ops_status_refuses_a_url_without_echoing_its_secret(
    url: str, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["status", "--timeout", "1"]
    argv += [option, url] if option == "--url" else ["--url", "http://127.0.0.1:1", option, url]
    assert ops.main(argv) == 3  # UNKNOWN: a bad option
    out = capsys.readouterr()
    assert "TOPSECRET" not in out.out + out.err
    assert option in out.out


@pytest.mark.parametrize("command", ["backup", "restore-drill"])
def test_ops_source_refuses_a_url_without_echoing_its_secret(
    command: str, capsys: pytest.CaptureFixture[str], tmp_path: object
) -> None:
    if command == "backup":
        argv = ["backup", "--serverdir", str(tmp_path), "--dest", str(tmp_path)]
    else:
        argv = ["restore-drill", "--export", str(tmp_path)]
    for url in SECRET_URLS:
        assert ops.main([*argv, "--source", url]) == 2
        out = capsys.readouterr()
        assert "TOPSECRET" not in out.out + out.err
        assert "--source" in out.err


@pytest.mark.parametrize("url", SECRET_URLS)
def test_devpi_api_refuses_a_url_without_echoing_its_secret(url: str) -> None:
    with pytest.raises(DevpiError) as caught:
        DevpiAPI(url, user=USER, password=PASSWORD)
    assert "TOPSECRET" not in str(caught.value)
    assert PASSWORD not in str(caught.value)


# ------------------------------------------------------------------ one URL policy everywhere

POLICY_CASES = [
    ("http://devpi.example.invalid", "must use https://"),
    ("https://u:TOPSECRET@devpi.example.invalid", "must not carry credentials"),
    ("https://devpi.example.invalid/?t=TOPSECRET", "must not carry a query or fragment"),
    ("ftp://devpi.example.invalid", "must be an https URL"),
]


@pytest.mark.parametrize(("url", "reason"), POLICY_CASES)
def test_release_api_and_ops_apply_the_same_url_policy(
    url: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """DEVPI_URL, DevpiAPI and common-utils-ops --url refuse the same URLs for the same reason."""
    with pytest.raises(release.ReleaseError, match=reason):
        release.ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": url})
    with pytest.raises(DevpiError, match=reason):
        DevpiAPI(url, user=USER, password=PASSWORD)
    assert ops.main(["status", "--timeout", "1", "--url", url]) == 3
    out = capsys.readouterr().out
    assert reason in out
    assert "TOPSECRET" not in out


@pytest.mark.parametrize("url", ["http://127.0.0.1:3141", "http://localhost:1", "http://[::1]:1"])
def test_plain_http_is_accepted_on_loopback_only(url: str) -> None:
    assert release.ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": url}).url == url
    assert DevpiAPI(url).url == url
