"""common_utils_platform.fleet against real loopback HTTP servers: parsing, judging, safety."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from common_utils_platform.fleet import (
    FleetError,
    Row,
    Target,
    behind,
    check_fleet,
    fetch,
    main,
    newest_release,
    parse_targets,
    parse_withdrawn,
    render_table,
    sanitize,
)

from .http_support import QuietHandler, serving

SIMPLE = (
    '<html><body><a href="/f/common_utils-1.4.0-py3-none-any.whl#sha256=1">'
    "common_utils-1.4.0-py3-none-any.whl</a>"
    '<a href="/f/common_utils-1.4.0.tar.gz">common_utils-1.4.0.tar.gz</a>'
    '<a href="/f/common_utils-1.3.9-py3-none-any.whl">common_utils-1.3.9-py3-none-any.whl</a>'
    '<a href="/f/x" data-yanked="broken">common_utils-1.5.0-py3-none-any.whl</a>'
    '<a href="/f/y">common_utils-1.6.0rc1-py3-none-any.whl</a>'
    '<a href="/f/z">README</a></body></html>'
)


def version_doc(app_version: str, lib: str, source: str = "pip", name: str = "svc") -> bytes:
    doc = {
        "app": {"name": name, "version": app_version},
        "common_utils": {"version": lib, "source": source, "path": "/x"},
        "python": "3.12.1",
    }
    return json.dumps(doc).encode()


DOCS: dict[str, bytes] = {
    "/current/version": version_doc("1.0.0", "1.4.0"),
    "/patch/version": version_doc("2.0.0", "1.3.9", "submodule"),
    "/old/version": version_doc("0.1.0", "0.9.0"),
    "/withdrawn/version": version_doc("1.0.0", "1.2.0"),
    "/evil/version": json.dumps(
        {
            "app": {"name": "\x1b]0;pwned\x07\x1b[2J", "version": ["not", "a", "string"]},
            "common_utils": {"version": "1.4.0\x1b[31m", "source": "\x1b[1mpip"},
        }
    ).encode(),
    "/noversion/version": json.dumps({"app": "x", "common_utils": {"version": 3}}).encode(),
    "/weird/version": version_doc("1", "banana", "egg"),
    "/list/version": b"[1, 2]",
    "/notjson/version": b"<html>",
}


class Handler(QuietHandler):
    seen_headers: list[dict[str, str]] = []  # noqa: RUF012 - test record
    other_port = 0

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key.replace("_", "-"), value)
        if "Content_Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server calls it by this name
        type(self).seen_headers.append({k.lower(): v for k, v in self.headers.items()})
        path = self.path
        if path in DOCS:
            self.send_body(DOCS[path], "application/json")
        elif path == "/simple/common-utils/":
            self.send_body(SIMPLE.encode(), "text/html")
        elif path == "/empty-simple/common-utils/":
            self._send(200, b"<html></html>")
        elif path == "/same/version":
            self._send(302, b"", Location="/current/version")
        elif path == "/elsewhere/version":
            self._send(302, b"", Location=f"http://127.0.0.1:{self.other_port}/current/version")
        elif path == "/big/version":
            self._send(200, b"x" * 5000)
        elif path == "/big-unannounced/version":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"y" * 5000)
        elif path == "/slow/version":
            time.sleep(1.5)
            self._send(200, version_doc("1", "1.4.0"))
        else:
            self._send(404, b"nope")


@pytest.fixture(autouse=True)
def _no_index_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The default --index-url is $PIP_INDEX_URL; the release's verify step sets one."""
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    # quiet_errors: fetch's size cap hangs up mid-answer on purpose.
    with (
        serving(Handler, quiet_errors=True) as server,
        serving(Handler, quiet_errors=True) as other,
    ):
        Handler.other_port = other.server_address[1]  # a second origin for redirects
        yield f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def garbage_port() -> Iterator[int]:
    """A TCP server that answers anything with a line that is not HTTP."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    stop = threading.Event()

    def loop() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.recv(4096)
                conn.sendall(b"HELLO THERE\r\n\r\n")

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(2)
    sock.close()


def closed_port() -> int:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


# ------------------------------------------------------------------ pure functions


def test_sanitize_strips_controls_bidi_and_bounds_length() -> None:
    assert sanitize(None) == ""
    assert sanitize(42) == "42"
    assert sanitize("ok\x1b[2J\x07\x9b\u202e\u2066\x7f") == "ok?[2J?????"
    assert sanitize("a" * 100) == "a" * 77 + "..."
    assert sanitize("abcdef", limit=5) == "ab..."


def test_parse_targets() -> None:
    targets = parse_targets(
        [
            "# fleet",
            "",
            "orders http://127.0.0.1:8080  # the orders service",
            "https://billing.example.invalid/",
            "http://127.0.0.1:9/custom/version",
        ]
    )
    assert targets == [
        Target("orders", "http://127.0.0.1:8080/version"),
        Target(
            "https://billing.example.invalid/version", "https://billing.example.invalid/version"
        ),
        Target("http://127.0.0.1:9/custom/version", "http://127.0.0.1:9/custom/version"),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("a b c", "expected 'URL' or 'NAME URL'"),
        ("ftp://host/x", "not an http"),
        ("http:///nohost", "not an http"),
        ("http://user:secret@127.0.0.1/", "carries credentials"),
        ("http://token@127.0.0.1/", "carries credentials"),
    ],
)
def test_parse_targets_refuses(line: str, message: str) -> None:
    with pytest.raises(FleetError, match=message) as caught:
        parse_targets([line])
    assert "secret" not in str(caught.value)


def test_parse_withdrawn() -> None:
    text = "# withdrawn\n\n1.2.0   auth bypass in require_scopes  # see CHANGELOG\n1.3.1\n"
    assert parse_withdrawn(text) == {"1.2.0": "auth bypass in require_scopes", "1.3.1": "withdrawn"}


def test_newest_release_skips_yanked_prereleases_and_other_links() -> None:
    assert newest_release(SIMPLE) == ("1.4.0", {"1.5.0"})
    assert newest_release("<a href='x'>common_utils-1.0.0.zip</a>") == ("1.0.0", set())
    assert newest_release("<html></html>") == (None, set())


@pytest.mark.parametrize(
    ("current", "newest", "expected"),
    [
        ("1.4.0", "1.4.0", ("current", 0)),
        ("1.4.0", "1.4.2", ("patch", 0)),
        ("1.2.9", "1.4.0", ("minor", 0)),
        ("1.9.9", "2.0.0", ("major", 1)),
        ("0.9.0", "3.1.0", ("major", 3)),
        ("1.4.1.dev3+gabc", "1.4.0", ("ahead", 0)),
        ("1.4.1.dev3+gabc", "1.4.1", ("patch", 0)),
        ("1.4.1.dev3+gabc", "1.5.0", ("minor", 0)),
        ("2.0.0", "1.9.0", ("ahead", 0)),
        ("0+unknown", "1.0.0", ("unknown", 0)),
        ("1.0.0", "not-a-version", ("unknown", 0)),
    ],
)
def test_behind(current: str, newest: str, expected: tuple[str, int]) -> None:
    assert behind(current, newest) == expected


def test_render_table_aligns_and_sanitizes() -> None:
    rows = [
        Row("orders", "u", "orders", "1.0.0", "1.4.0", "pip", "current"),
        Row("evil\x1b[2J", "u", flags=["withdrawn: \x1b]0;x\x07"], error="x"),
    ]
    table = render_table(rows, None)
    assert "\x1b" not in table
    assert "\x07" not in table
    lines = table.splitlines()
    assert lines[0].split() == [
        "SERVICE",
        "APP",
        "VERSION",
        "COMMON_UTILS",
        "VIA",
        "BEHIND",
        "FLAGS",
    ]
    assert lines[1].split() == ["orders", "orders", "1.0.0", "1.4.0", "pip", "current", "-"]
    assert lines[2].startswith("evil?[2J")
    assert lines[-1] == "newest common-utils release: unknown; 1 of 2 services flagged"


# ------------------------------------------------------------------ HTTP


def test_fetch_sends_no_credentials_and_follows_same_origin_redirects(base: str) -> None:
    Handler.seen_headers.clear()
    body = fetch(f"{base}/same/version", timeout=5, max_bytes=10_000)
    assert json.loads(body)["common_utils"]["version"] == "1.4.0"
    assert Handler.seen_headers
    for headers in Handler.seen_headers:
        assert "authorization" not in headers
        assert "cookie" not in headers


def test_fetch_refuses_a_redirect_to_another_origin(base: str) -> None:
    with pytest.raises(FleetError, match="redirect to another origin refused"):
        fetch(f"{base}/elsewhere/version", timeout=5, max_bytes=10_000)


@pytest.mark.parametrize("path", ["/big/version", "/big-unannounced/version"])
def test_fetch_caps_the_response(base: str, path: str) -> None:
    with pytest.raises(FleetError, match="larger than 1000 bytes"):
        fetch(f"{base}{path}", timeout=5, max_bytes=1000)


def test_fetch_reasons(base: str, garbage_port: int) -> None:
    with pytest.raises(FleetError, match=r"^HTTP 404$"):
        fetch(f"{base}/missing", timeout=5, max_bytes=100)
    with pytest.raises(FleetError, match=r"^timed out$"):
        fetch(f"{base}/slow/version", timeout=0.3, max_bytes=10_000)
    with pytest.raises(FleetError, match=r"^connection refused$"):
        fetch(f"http://127.0.0.1:{closed_port()}/version", timeout=2, max_bytes=100)
    with pytest.raises(FleetError):
        fetch(f"http://127.0.0.1:{garbage_port}/version", timeout=2, max_bytes=100)
    with pytest.raises(FleetError) as caught:
        fetch("http://name.invalid./version", timeout=2, max_bytes=100)
    assert str(caught.value)


_REFUSED = ConnectionRefusedError()
_NO_ADDRESS = OSError(99, "Cannot assign\x1b address")


@pytest.mark.parametrize(
    ("raised", "reason"),
    [
        (TimeoutError(), "timed out"),
        (urllib.error.URLError(TimeoutError()), "timed out"),
        (_REFUSED, "connection refused"),
        (urllib.error.URLError(_REFUSED), "connection refused"),
        (_NO_ADDRESS, "Cannot assign? address"),
        (urllib.error.URLError(_NO_ADDRESS), "Cannot assign? address"),
        (OSError(), "OSError"),
        (urllib.error.URLError(OSError()), "OSError"),
        (urllib.error.URLError("plain\x1b words"), "plain? words"),
        (ValueError("bad\x1b value"), "bad? value"),
    ],
)
def test_fetch_failure_wording(
    raised: Exception, reason: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What the connection raised becomes a short reason without control characters."""

    def fail(*args: object, **kwargs: object) -> None:
        raise raised

    monkeypatch.setattr(urllib.request.OpenerDirector, "open", fail)
    with pytest.raises(FleetError) as caught:
        fetch("http://127.0.0.1:1/version", timeout=5, max_bytes=100)
    assert str(caught.value) == reason


def test_check_fleet_judges_every_row(base: str) -> None:
    names = [
        "current", "patch", "old", "withdrawn", "evil", "noversion", "weird", "list",
        "notjson", "missing",
    ]  # fmt: skip
    targets = [Target(n, f"{base}/{n}/version") for n in names]
    targets.append(Target("down", f"http://127.0.0.1:{closed_port()}/version"))
    rows = {
        r.service: r
        for r in check_fleet(
            targets, newest="1.4.0", withdrawn={"1.2.0": "auth bypass"}, timeout=3, workers=4
        )
    }
    assert list(rows) == [*names, "down"]
    assert (rows["current"].behind, rows["current"].flags, rows["current"].source) == (
        "current",
        [],
        "pip",
    )
    assert (rows["patch"].behind, rows["patch"].source, rows["patch"].flags) == (
        "minor",
        "submodule",
        [],
    )
    assert rows["old"].behind == "major"
    assert rows["old"].flags == []  # one major behind is not flagged
    assert rows["withdrawn"].flags == ["withdrawn: auth bypass"]
    evil = rows["evil"]
    assert evil.app == "?]0;pwned??[2J"
    assert evil.version == ""  # not a string: dropped
    assert evil.common_utils == "1.4.0?[31m"
    assert evil.source == "?"
    assert rows["noversion"].flags == ["no common_utils version"]
    assert rows["noversion"].behind == "unknown"
    assert rows["weird"].flags == ["no common_utils version"]
    assert rows["weird"].source == "?"
    assert rows["list"].flags == ["unreachable: not a version document"]
    assert rows["notjson"].flags == ["unreachable: not a JSON document"]
    assert rows["missing"].flags == ["unreachable: HTTP 404"]
    assert rows["down"].flags == ["unreachable: connection refused"]
    assert rows["down"].error == "connection refused"


def test_check_fleet_without_newest_and_without_targets(base: str) -> None:
    assert check_fleet([], newest=None, withdrawn={}) == []
    (row,) = check_fleet([Target("old", f"{base}/old/version")], newest=None, withdrawn={})
    assert row.behind == ""
    assert row.flags == []


def test_two_majors_behind_is_flagged(base: str) -> None:
    (row,) = check_fleet([Target("old", f"{base}/old/version")], newest="2.0.0", withdrawn={})
    assert row.flags == ["2 majors behind"]


# ------------------------------------------------------------------ command line


def run_main(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    return main(list(argv), out=out), out.getvalue()


def test_main_table_all_clear(base: str) -> None:
    code, out = run_main("--index-url", f"{base}/simple/", f"orders={base}/current/version")
    assert code == 0
    assert "orders" in out
    assert "newest common-utils release: 1.4.0; 0 of 1 services flagged" in out
    assert "checked 1 services in" in out


def test_main_flags_withdrawn_versions_from_the_file_only(base: str, tmp_path: Path) -> None:
    """devpi-server 6 serves no yank marks: the withdrawn file is the one source of flags."""
    services = tmp_path / "services.txt"
    services.write_text(f"cur {base}/current/version\n")
    code, out = run_main("--json", "--file", str(services), "--index-url", f"{base}/simple")
    assert code == 0
    doc = json.loads(out)
    # 1.5.0 is marked data-yanked on the page: not the newest, and no flag from it.
    assert doc["newest"] == "1.4.0"
    assert all("yanked" not in flag for row in doc["services"] for flag in row["flags"])


def test_main_json_with_file_withdrawn_and_yanked(base: str, tmp_path: Path) -> None:
    services = tmp_path / "services.txt"
    services.write_text(f"# fleet\nwd {base}/withdrawn/version\ncur {base}/current/version\n")
    withdrawn = tmp_path / "withdrawn.txt"
    withdrawn.write_text("1.2.0  auth bypass\n")
    code, out = run_main(
        "--json", "--file", str(services), "--withdrawn", str(withdrawn),
        "--index-url", f"{base}/simple", f"{base}/evil/version",
    )  # fmt: skip
    assert code == 1
    doc = json.loads(out)
    assert "\x1b" not in out
    assert doc["newest"] == "1.4.0"
    assert doc["flagged"] == 1
    by_name = {row["service"]: row for row in doc["services"]}
    assert list(by_name) == [f"{base}/evil/version", "wd", "cur"]
    assert by_name["wd"]["flags"] == ["withdrawn: auth bypass"]
    assert by_name["cur"]["behind"] == "current"


def test_main_without_index_or_with_empty_index(base: str) -> None:
    assert run_main(f"{base}/current/version")[0] == 0
    code, out = run_main("--index-url", f"{base}/empty-simple/", f"{base}/current/version")
    assert code == 0
    assert "release: unknown" in out


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["http://user:pw@127.0.0.1/"],
        ["--file", "/nonexistent/services.txt"],
        ["--withdrawn", "/nonexistent/w.txt", "http://127.0.0.1:1/"],
        ["--index-url", "ftp://x/", "http://127.0.0.1:1/"],
        ["--index-url", "http://u:pw@127.0.0.1:1/simple/", "http://127.0.0.1:1/"],
        ["--index-url", "http://127.0.0.1:1/simple/", "http://127.0.0.1:1/"],
    ],
)
def test_main_usage_errors_exit_2_with_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_main(*argv)[0] == 2
    err = capsys.readouterr().err
    assert err.startswith("fleet: ")
    assert err.count("\n") == 1
    assert "pw" not in err
