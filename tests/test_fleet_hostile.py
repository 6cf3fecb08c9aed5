"""The fleet check against hostile services and index pages (issue 25, item 12).

A service that drips bytes, an index page built to make a parser quadratic, and
answers no parser expects: each ends as that service's row, within the deadline.
Every server here is a real HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator

import pytest
from common_utils_platform.fleet import behind, main, newest_release
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .http_support import QuietHandler, serving

DEADLINE_S = 0.5
# What the command may take beyond its deadline on two busy shared cores.
SLACK_S = 2.5
DRIP_EVERY_S = 0.01


class Hostile:
    """What the hostile server answers; tests set it (one server per module)."""

    body = b"{}"
    index = b""
    stop = threading.Event()
    client_gone = threading.Event()


class HostileHandler(QuietHandler):
    protocol_version = "HTTP/1.0"

    def _drip(self, data: bytes) -> None:
        """Send ``data`` one byte at a time, forever, until stopped or the client leaves."""
        try:
            self.wfile.write(data)
            self.wfile.flush()
            while not Hostile.stop.wait(DRIP_EVERY_S):
                self.wfile.write(b" ")
                self.wfile.flush()
        except OSError:
            Hostile.client_gone.set()

    def do_GET(self) -> None:  # noqa: N802 - http.server calls it by this name
        if self.path == "/drip-body/version":
            self._drip(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{")
        elif self.path == "/drip-headers/version":
            self._drip(b"HTTP/1.0 200 OK\r\nX-Slow: ")
        elif self.path == "/index/common-utils/":
            self._answer(Hostile.index)
        else:
            self._answer(Hostile.body)

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def hostile() -> Iterator[str]:
    # quiet_errors: a client that hangs up mid-answer (deadline, size cap) is expected here.
    with serving(HostileHandler, quiet_errors=True) as server:
        yield f"http://127.0.0.1:{server.server_address[1]}"
        Hostile.stop.set()  # end the drips before the server shuts down


@pytest.fixture(autouse=True)
def _no_index_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)


def run_json(*argv: str) -> tuple[int, dict[str, object]]:
    out = io.StringIO()
    code = main(["--json", *argv], out=out)
    document: dict[str, object] = json.loads(out.getvalue())
    return code, document


# ------------------------------------------------------------------ one deadline per service


@pytest.mark.parametrize("where", ["drip-body", "drip-headers"])
def test_a_dripping_service_times_out_at_its_deadline_and_the_command_finishes(
    hostile: str, where: str
) -> None:
    Hostile.client_gone.clear()
    result: dict[str, object] = {}
    finished = threading.Event()

    def command() -> None:
        started = time.monotonic()
        result["code"], result["doc"] = run_json(
            "--timeout", str(DEADLINE_S), f"slow={hostile}/{where}/version"
        )
        result["elapsed"] = time.monotonic() - started
        finished.set()

    threading.Thread(target=command, daemon=True).start()
    assert finished.wait(DEADLINE_S + SLACK_S), "the command outlived its deadline"
    assert result["code"] == 1
    doc = result["doc"]
    assert isinstance(doc, dict)
    (row,) = doc["services"]
    assert row["service"] == "slow"
    assert row["error"] == "timed out"
    assert row["flags"] == ["unreachable: timed out"]
    elapsed = result["elapsed"]
    assert isinstance(elapsed, float)
    assert DEADLINE_S <= elapsed < DEADLINE_S + SLACK_S
    # The connection was closed at the deadline, not abandoned to a thread.
    assert Hostile.client_gone.wait(SLACK_S)


# ------------------------------------------------------------------ linear index parsing

RUN_BYTES = 200_000
VALID = '<a href="/f/common_utils-1.4.0.tar.gz">common_utils-1.4.0.tar.gz</a>'


@pytest.mark.parametrize(
    "junk",
    [
        "<a ",  # every '<a' scans to the end for a '>' that never comes
        "<A\t",
        "<a x",
        "<a>",
    ],
)
def test_newest_release_reads_a_200_kb_run_of_anchor_starts_in_linear_time(junk: str) -> None:
    page = junk * (RUN_BYTES // len(junk))
    started = time.perf_counter()
    assert newest_release(page) == (None, set())
    # Then a real link after the run: still found, still fast.
    assert newest_release(page + VALID)[0] == "1.4.0"
    assert newest_release(page + ">" + VALID)[0] == "1.4.0"
    # The old regex took about 60 s for one such page; linear code takes milliseconds.
    assert time.perf_counter() - started < 2.0


def test_newest_release_keeps_reading_the_same_links() -> None:
    page = (
        '<a href="a" data-yanked="">common_utils-2.0.0.tar.gz</a>'
        "<a href='b'>common-utils-1.10.0-py3-none-any.whl</a>"
        '<A HREF="c">common_utils-1.9.0.zip</A><a>README</a><a >common_utils-1.11.0.tar.gz'
        '<a\nhref="d">\n common_utils-1.2.0.tar.gz </a><abbr>common_utils-9.0.0.tar.gz</abbr>'
    )
    assert newest_release(page) == ("1.10.0", {"2.0.0"})


# ------------------------------------------------------------------ bad input is a row

HUGE = "9" * 5000


def test_a_5000_digit_version_is_not_a_version() -> None:
    assert behind(f"1.{HUGE}.0", "1.0.0") == ("unknown", 0)
    assert behind("1.0.0", f"{HUGE}.0.0") == ("unknown", 0)
    page = f'<a href="x">common_utils-{HUGE}.0.0.tar.gz</a>' + VALID
    assert newest_release(page) == ("1.4.0", set())


def test_an_index_listing_a_5000_digit_version_does_not_crash_the_command(hostile: str) -> None:
    Hostile.index = f'<a href="x">common_utils-1.{HUGE}.0.tar.gz</a>{VALID}'.encode()
    Hostile.body = json.dumps({"common_utils": {"version": "1.4.0", "source": "pip"}}).encode()
    code, doc = run_json("--index-url", f"{hostile}/index/", f"svc={hostile}/svc/version")
    assert code == 0
    assert doc["newest"] == "1.4.0"


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[" * 60_000, "not a JSON document"),  # RecursionError in json.loads
        (b'{"common_utils": {"version": ' + HUGE.encode() + b"}}", "not a JSON document"),
        (b"\xff\xfe\x00", "not a JSON document"),
        (b'{"common_utils": {"version": "1.' + HUGE.encode() + b'.0"}}', None),
    ],
)
def test_an_unusable_answer_is_that_services_error_row(
    hostile: str, body: bytes, error: str | None
) -> None:
    Hostile.body = body
    code, doc = run_json("--max-bytes", "100000", f"svc={hostile}/svc/version")
    assert code == 1
    (row,) = doc["services"]  # type: ignore[misc]
    assert row["service"] == "svc"
    assert row["error"] == error
    assert row["flags"]


def _versions() -> st.SearchStrategy[str]:
    part = st.one_of(
        st.integers(0, 10**6).map(str),
        st.integers(4000, 6000).map(lambda n: "9" * n),
        st.text(max_size=5),
    )
    return st.one_of(
        st.text(max_size=30),
        st.lists(part, min_size=1, max_size=4).map(".".join),
    )


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _versions(),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=10,
)
DOCUMENTS = st.fixed_dictionaries(
    {},
    optional={
        "app": st.one_of(JSON, st.fixed_dictionaries({"name": JSON, "version": JSON})),
        "common_utils": st.one_of(
            JSON, st.fixed_dictionaries({"version": _versions() | JSON, "source": JSON})
        ),
    },
)
BODIES = st.one_of(
    DOCUMENTS.map(lambda d: json.dumps(d).encode()),
    JSON.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=200),
    st.integers(1, 50_000).map(lambda n: b"[" * n),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=BODIES, newest=_versions())
def test_any_answer_from_a_service_gives_that_service_a_row(
    hostile: str, body: bytes, newest: str
) -> None:
    Hostile.body = body
    Hostile.index = f'<a href="x">common_utils-{newest}.tar.gz</a>'.encode(errors="replace")
    code, doc = run_json(
        "--max-bytes", "100000", "--index-url", f"{hostile}/index/", f"svc={hostile}/svc/version"
    )
    assert code in (0, 1)
    (row,) = doc["services"]  # type: ignore[misc]
    assert row["service"] == "svc"
    assert code == (1 if row["flags"] else 0)


@pytest.mark.parametrize("value", ["0", "-1", "inf", "nan", "1e9"])
def test_a_timeout_that_is_no_deadline_is_a_usage_error(value: str) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--timeout", value, "http://127.0.0.1:1/"])
    assert caught.value.code == 2
