r"""Which services run which common_utils, and who is behind: ``common-utils-fleet``.

A platform engineer points it at the services (URLs as arguments, or a file with
one per line) and at the devpi release index::

    common-utils-fleet --index-url "$DEVPI_URL/team/release/+simple/" \\
        --withdrawn docs/withdrawn.txt --file services.txt

It fetches every service's ``/version`` concurrently (each within one deadline
of ``--timeout`` seconds for the whole answer: connecting, redirects, headers
and body, so a server that drips bytes cannot hold it longer) and the newest
release from the index's simple page, then prints one row per service: its
version, the common_utils it runs, ``pip`` or ``submodule``, and how far that is
behind the newest release (``patch``, ``minor``, ``major``). A row is *flagged*
when the service runs a withdrawn version (listed in the ``--withdrawn`` file:
devpi-server 6 serves no PEP 592 yank marks, so the file is the one source), is
more than one major behind, reports no usable version, or cannot be reached (the
row says why). ``--json`` prints the same for machines. The exit status is 1 when
any row is flagged, 2 for bad usage, else 0, so it can run as a scheduled check.

It is careful with what it talks to: it never sends a token or a cookie (and
refuses URLs with ``user:password@``), follows at most three redirects and only
to the same scheme, host and port, reads at most ``--max-bytes`` of a response,
and treats every field of a ``/version`` document as untrusted: type-checked,
cut to 80 characters and stripped of control characters (no terminal escape
sequence reaches your screen, in the table or the JSON). An answer it cannot use
(not JSON, nested too deep, a version of thousands of digits) is that service's
row with the reason, never a crash of the command; the index page is read in
linear time.

Only the standard library is used; importing it does not import falcon.

Examples:
    >>> from common_utils_platform.fleet import behind, sanitize
    >>> behind("1.2.3", "2.0.0")
    ('major', 1)
    >>> sanitize("1.0\x1b[2J")
    '1.0?[2J'
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import functools
import http.client
import json
import os
import re
import socket
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from http.client import HTTPMessage
from typing import IO, Any

__all__ = [
    "FleetError",
    "Row",
    "Target",
    "behind",
    "check_fleet",
    "fetch",
    "main",
    "newest_release",
    "parse_targets",
    "parse_withdrawn",
    "render_table",
    "sanitize",
]

DEFAULT_TIMEOUT_S = 5.0
DEFAULT_MAX_BYTES = 64 * 1024
MAX_FIELD = 80
MAX_REDIRECTS = 3
PROJECT = "common-utils"
# A version part has at most 20 digits: int() of thousands of digits raises
# ValueError (and is quadratic), and no release of anything needs more.
_RELEASE = re.compile(r"^(\d{1,20})\.(\d{1,20})\.(\d{1,20})$")
_BASE = re.compile(r"^(\d{1,20})\.(\d{1,20})\.(\d{1,20})(?!\d)")
# C0 and C1 controls, DEL, and the Unicode bidi overrides/isolates (Trojan Source).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_ANCHOR_START = re.compile(r"<a\b", re.I)
_FILE_VERSION = re.compile(
    r"^common[-_.]utils-(\d{1,20}\.\d{1,20}\.\d{1,20})(?:-|\.tar\.gz$|\.zip$)", re.I
)
HEADERS = {"Accept": "application/json", "User-Agent": "common-utils-fleet"}


class FleetError(Exception):
    """A request failed; the message is one short, safe line (it goes into a row)."""


@dataclass(frozen=True)
class Target:
    """One service to check.

    Attributes:
        name: What the table calls it (the file's first column, else the URL).
        url: The ``/version`` URL.

    Examples:
        >>> Target("orders", "http://127.0.0.1:8080/version").name
        'orders'
    """

    name: str
    url: str


@dataclass
class Row:
    """What one service said, and what that means.

    Attributes:
        service: The target's name.
        url: The ``/version`` URL fetched.
        app: The app's name from its document.
        version: The app's own version.
        common_utils: The version of common_utils it runs.
        source: ``pip`` or ``submodule``.
        behind: ``current``, ``patch``, ``minor``, ``major``, ``ahead`` or
            ``unknown``; empty when the newest release is unknown or the service
            was not reached.
        flags: Why the row is flagged (empty when it is not).
        error: Why the service could not be checked, else ``None``.

    Examples:
        >>> Row("orders", "http://127.0.0.1/version").flags
        []
    """

    service: str
    url: str
    app: str = ""
    version: str = ""
    common_utils: str = ""
    source: str = ""
    behind: str = ""
    flags: list[str] = field(default_factory=list)
    error: str | None = None


def sanitize(value: object, limit: int = MAX_FIELD) -> str:
    r"""Make an untrusted value safe to print: a string, no control characters, bounded.

    Args:
        value: Anything a remote document held.
        limit: The longest result (longer text is cut and ends with ``...``).

    Returns:
        ``str(value)`` with every control character (C0, C1, DEL, bidi
        overrides) replaced by ``?``; ``""`` for ``None``.

    Examples:
        >>> sanitize("a\tb\u202ec")
        'a?b?c'
        >>> sanitize("x" * 100, limit=5)
        'xx...'
    """
    text = "" if value is None else str(value)
    text = _UNSAFE.sub("?", text)
    return text if len(text) <= limit else text[: max(limit - 3, 0)] + "..."


def parse_targets(lines: Iterable[str]) -> list[Target]:
    """Parse service lines: ``URL`` or ``NAME URL``; ``#`` starts a comment.

    A URL without a path gets ``/version``; a URL with a path is used as it is.

    Args:
        lines: Command-line arguments or the lines of a file.

    Returns:
        The targets, in order.

    Raises:
        FleetError: A line is not ``[NAME] http(s)://...``, or a URL carries
            credentials (the command never sends any).

    Examples:
        >>> parse_targets(["orders http://127.0.0.1:8080", "# c", "http://h:1/v"])
        [Target(name='orders', url='http://127.0.0.1:8080/version'), Target(name='http://h:1/v', url='http://h:1/v')]
    """
    targets: list[Target] = []
    for raw in lines:
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        if len(words) > 2:
            raise FleetError(f"expected 'URL' or 'NAME URL', got {sanitize(raw)!r}")
        url = words[-1]
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise FleetError(f"not an http(s) URL: {sanitize(url)!r}")
        if parts.username is not None or parts.password is not None:
            raise FleetError("a service URL carries credentials; the fleet check never sends any")
        if parts.path in ("", "/"):
            url = urllib.parse.urlunsplit(parts._replace(path="/version"))
        targets.append(Target(words[0] if len(words) == 2 else url, url))
    return targets


def parse_withdrawn(text: str) -> dict[str, str]:
    r"""Parse the withdrawn-versions file: ``X.Y.Z  reason`` per line, ``#`` comments.

    Args:
        text: The file's content.

    Returns:
        Version -> reason (``"withdrawn"`` when the line gives none).

    Examples:
        >>> parse_withdrawn("# versions\n1.2.0  auth bypass\n1.3.1\n")
        {'1.2.0': 'auth bypass', '1.3.1': 'withdrawn'}
    """
    withdrawn: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        version, _, reason = line.partition(" ")
        withdrawn[version] = reason.strip() or "withdrawn"
    return withdrawn


def newest_release(page: str) -> tuple[str | None, set[str]]:
    """Find the newest ``X.Y.Z`` release on a PEP 503 simple page of common-utils.

    Args:
        page: The HTML of ``<index>/common-utils/``.

    Returns:
        The newest release that is not yanked (``None`` when there is none), and
        the yanked versions (PEP 592 ``data-yanked``).

    Examples:
        >>> newest_release('<a href="x">common_utils-1.10.0-py3-none-any.whl</a>'
        ...                '<a href="y">common_utils-1.9.2.tar.gz</a>')
        ('1.10.0', set())
    """
    versions: set[str] = set()
    yanked: set[str] = set()
    for attributes, text in _anchors(page):
        match = _FILE_VERSION.match(text.strip())
        if match is None:
            continue
        (yanked if "data-yanked" in attributes else versions).add(match[1])
    candidates = versions - yanked
    if not candidates:
        return None, yanked
    return max(candidates, key=lambda v: tuple(int(p) for p in v.split("."))), yanked


def _anchors(page: str) -> Iterator[tuple[str, str]]:
    r"""Yield ``(attributes, text)`` of every ``<a ...>text</a>`` in ``page``, in linear time.

    It reads what ``<a\b([^>]*)>([^<]*)</a>`` matches, without the regex's
    quadratic backtracking on a run of ``<a `` that never closes: every
    character is looked at a bounded number of times, because the scan only
    moves forward (after a failed anchor it resumes at the next ``<``, and
    nothing between can start a different outcome).
    """
    pos = 0
    while (start := _ANCHOR_START.search(page, pos)) is not None:
        close = page.find(">", start.end())
        if close < 0:
            return  # no '>' after here: no later anchor can close either
        end_text = page.find("<", close + 1)
        if end_text < 0:
            return
        if page[end_text : end_text + 4].lower() == "</a>":
            yield page[start.end() : close], page[close + 1 : end_text]
            pos = end_text + 4
        else:
            pos = end_text


def behind(current: str, newest: str) -> tuple[str, int]:
    """Tell how far ``current`` is behind the release ``newest``.

    Args:
        current: The version a service runs (a release or a ``.devN`` build).
        newest: The newest release on the index.

    Returns:
        ``(label, majors)``: label ``current``, ``patch``, ``minor``, ``major``,
        ``ahead`` (a build past the newest release) or ``unknown`` (not a
        version); ``majors`` is how many majors behind.

    Examples:
        >>> behind("1.4.0", "1.4.2"), behind("1.4.1.dev3+gabc", "1.4.0")
        (('patch', 0), ('ahead', 0))
    """
    have = _BASE.match(current)
    want = _RELEASE.match(newest)
    if have is None or want is None:
        return "unknown", 0
    mine = tuple(int(p) for p in have.groups())
    latest = tuple(int(p) for p in want.groups())
    if _RELEASE.match(current) is None and mine <= latest:
        # X.Y.Z.devN is a build BEFORE release X.Y.Z: compare it as X.Y.(Z-1)-ish.
        mine = (*mine[:2], mine[2] - 1)
    if mine == latest:
        return "current", 0
    if mine > latest:
        return "ahead", 0
    if mine[0] < latest[0]:
        return "major", latest[0] - mine[0]
    return ("minor" if mine[1] < latest[1] else "patch"), 0


class _SameOriginRedirects(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port, at most three times."""

    max_redirections = MAX_REDIRECTS

    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: IO[bytes],
        code: int,
        msg: str,
        headers: HTTPMessage,
        newurl: str,
    ) -> urllib.request.Request | None:
        old = urllib.parse.urlsplit(req.full_url)
        new = urllib.parse.urlsplit(urllib.parse.urljoin(req.full_url, newurl))
        if (old.scheme, old.hostname, old.port) != (new.scheme, new.hostname, new.port):
            raise FleetError(f"redirect to another origin refused (HTTP {code})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


class _Deadline:
    """One budget of wall-clock time for a whole fetch, redirects included.

    A socket timeout bounds each read, and a server that sends one byte every
    second never trips it. So every socket of the fetch is watched, and when
    the budget is spent a timer shuts them down: the blocked read returns at
    once and the fetch reports ``timed out``. ``close()`` ends the watch.
    """

    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._closed = False
        self.expired = False
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left; 0.001 once spent (a socket timeout of 0 would mean non-blocking)."""
        return max(self._end - time.monotonic(), 0.001)

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down at the deadline (at once if it has passed)."""
        # A duplicate of the descriptor: TLS detaches the original socket object,
        # and shutting down the duplicate still ends the shared connection.
        duplicate = sock.dup()
        with self._lock:
            if not (self.expired or self._closed):
                self._sockets.append(duplicate)
                return
        _shutdown(duplicate)
        duplicate.close()

    def _expire(self) -> None:
        with self._lock:
            if self._closed:
                return
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)

    def close(self) -> None:
        """Stop the timer and release the watched sockets."""
        self._timer.cancel()
        with self._lock:
            self._closed = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def _shutdown(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed by the peer or by us
        sock.shutdown(socket.SHUT_RDWR)


class _WatchedHTTPConnection(http.client.HTTPConnection):
    """An ``HTTPConnection`` whose socket times out with its fetch's deadline."""

    def __init__(self, host: str, *, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._deadline = deadline

    def connect(self) -> None:
        """Connect within what is left of the deadline, then put the socket under watch."""
        self.timeout = self._deadline.remaining()
        super().connect()
        self._deadline.watch(self.sock)


class _WatchedHTTPSConnection(http.client.HTTPSConnection, _WatchedHTTPConnection):
    """The TLS form: the TLS handshake runs on the watched socket (see the MRO)."""

    def __init__(self, host: str, *, deadline: _Deadline, **kwargs: Any) -> None:
        http.client.HTTPSConnection.__init__(self, host, **kwargs)
        self._deadline = deadline


@functools.cache
def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


class _DeadlineHTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self._deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPConnection, deadline=self._deadline)
        return self.do_open(connection, req)


class _DeadlineHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__(context=_tls_context())
        self._deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        connection = functools.partial(_WatchedHTTPSConnection, deadline=self._deadline)
        return self.do_open(connection, req, context=_tls_context())


def fetch(url: str, *, timeout: float, max_bytes: int) -> bytes:
    """GET ``url`` without credentials and return at most ``max_bytes`` of body.

    Args:
        url: An http(s) URL.
        timeout: Seconds for the whole answer: connecting, TLS, redirects,
            headers and body together (one deadline, not a timeout per read).
        max_bytes: The largest body accepted.

    Returns:
        The body of a 2xx response.

    Raises:
        FleetError: With a short reason: HTTP status, refused redirect, too
            large, timeout, connection error.

    Examples:
        >>> fetch("http://127.0.0.1:1/version", timeout=1, max_bytes=10)
        Traceback (most recent call last):
        ...
        common_utils_platform.fleet.FleetError: connection refused
    """
    deadline = _Deadline(timeout)
    try:
        body = _fetch(url, deadline=deadline, max_bytes=max_bytes)
    except FleetError:
        if deadline.expired:
            raise FleetError("timed out") from None
        raise
    finally:
        deadline.close()
    if deadline.expired:  # the body may have been cut short by the deadline
        raise FleetError("timed out")
    return body


def _fetch(url: str, *, deadline: _Deadline, max_bytes: int) -> bytes:
    request = urllib.request.Request(url, headers=HEADERS)  # noqa: S310 - http(s) checked
    opener = urllib.request.build_opener(
        _SameOriginRedirects(), _DeadlineHTTPHandler(deadline), _DeadlineHTTPSHandler(deadline)
    )
    try:
        with opener.open(request, timeout=deadline.remaining()) as resp:
            length = resp.headers.get("Content-Length")
            if length is not None and _larger(length, max_bytes):
                raise FleetError(f"response larger than {max_bytes} bytes")
            body: bytes = resp.read(max_bytes + 1)
    except urllib.error.HTTPError as ex:
        ex.close()
        raise FleetError(f"HTTP {ex.code}") from None
    except urllib.error.URLError as ex:
        raise FleetError(_reason(ex.reason)) from None
    except (OSError, ValueError, http.client.HTTPException) as ex:  # reads, bad responses
        raise FleetError(_reason(ex)) from None
    if len(body) > max_bytes:
        raise FleetError(f"response larger than {max_bytes} bytes")
    return body


def _larger(length: str, limit: int) -> bool:
    """Whether a ``Content-Length`` announces more than ``limit`` (no int() of 5,000 digits)."""
    digits = length.strip().lstrip("0")
    if not (digits.isascii() and digits.isdigit()):
        return False
    return len(digits) > len(str(limit)) or int(digits) > limit


def _reason(reason: object) -> str:
    if isinstance(reason, TimeoutError):
        return "timed out"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, OSError) and reason.strerror:
        return sanitize(reason.strerror)
    return sanitize(reason) or type(reason).__name__


def _text(document: Mapping[str, Any], section: str, key: str) -> str:
    part = document.get(section)
    value = part.get(key) if isinstance(part, dict) else None
    return sanitize(value) if isinstance(value, str) else ""


def check_service(target: Target, *, timeout: float, max_bytes: int) -> Row:
    """Fetch one ``/version`` and fill a row (never raises; errors go into the row).

    Examples:
        >>> check_service(Target("x", "http://127.0.0.1:1/version"), timeout=1,
        ...               max_bytes=10).error
        'connection refused'
    """
    row = Row(service=sanitize(target.name), url=sanitize(target.url, 200))
    try:
        document = json.loads(fetch(target.url, timeout=timeout, max_bytes=max_bytes))
    except FleetError as ex:
        row.error = str(ex)
        return row
    except (ValueError, RecursionError):  # RecursionError: nested too deep
        row.error = "not a JSON document"
        return row
    if not isinstance(document, dict):
        row.error = "not a version document"
        return row
    row.app = _text(document, "app", "name")
    row.version = _text(document, "app", "version")
    row.common_utils = _text(document, "common_utils", "version")
    source = _text(document, "common_utils", "source")
    row.source = source if source in ("pip", "submodule") else ("?" if source else "")
    return row


def _judge(row: Row, newest: str | None, withdrawn: Mapping[str, str]) -> None:
    if row.error is not None:
        row.flags.append(f"unreachable: {row.error}")
        return
    if not row.common_utils or _BASE.match(row.common_utils) is None:
        row.behind = "unknown"
        row.flags.append("no common_utils version")
    elif newest is not None:
        row.behind, majors = behind(row.common_utils, newest)
        if majors > 1:
            row.flags.append(f"{majors} majors behind")
    if row.common_utils in withdrawn:
        row.flags.append(f"withdrawn: {sanitize(withdrawn[row.common_utils])}")


def check_fleet(
    targets: Sequence[Target],
    *,
    newest: str | None,
    withdrawn: Mapping[str, str],
    timeout: float = DEFAULT_TIMEOUT_S,
    max_bytes: int = DEFAULT_MAX_BYTES,
    workers: int = 16,
) -> list[Row]:
    """Check every target concurrently and judge each row.

    Args:
        targets: The services.
        newest: The newest release (``None``: no "behind" column).
        withdrawn: Withdrawn versions and why.
        timeout: Seconds for each service's whole answer (one deadline each).
        max_bytes: The largest ``/version`` document accepted.
        workers: Requests in flight at once.

    Returns:
        One row per target, in the targets' order.

    Examples:
        >>> check_fleet([], newest=None, withdrawn={})
        []
    """
    if not targets:
        return []

    def one(target: Target) -> Row:
        try:
            row = check_service(target, timeout=timeout, max_bytes=max_bytes)
            _judge(row, newest, withdrawn)
        except Exception as ex:  # noqa: BLE001 - a service's answer is its row, never a crash
            row = Row(service=sanitize(target.name), url=sanitize(target.url, 200))
            row.error = f"unusable answer ({type(ex).__name__})"
            _judge(row, newest, withdrawn)
        return row

    with concurrent.futures.ThreadPoolExecutor(max_workers=min(workers, len(targets))) as pool:
        return list(pool.map(one, targets))


COLUMNS = (
    ("SERVICE", "service"),
    ("APP", "app"),
    ("VERSION", "version"),
    ("COMMON_UTILS", "common_utils"),
    ("VIA", "source"),
    ("BEHIND", "behind"),
)


def render_table(rows: Sequence[Row], newest: str | None) -> str:
    """Render the rows as a plain-text table (every cell already sanitized).

    Examples:
        >>> print(render_table([Row("orders", "u", "orders", "1.0.0", "1.4.0", "pip",
        ...                         "current")], "1.4.0"))
        SERVICE  APP     VERSION  COMMON_UTILS  VIA  BEHIND   FLAGS
        orders   orders  1.0.0    1.4.0         pip  current  -
        newest common-utils release: 1.4.0; 0 of 1 services flagged
    """
    header = [title for title, _ in COLUMNS] + ["FLAGS"]
    cells = [
        [sanitize(getattr(row, attr)) or "-" for _, attr in COLUMNS]
        + ["; ".join(sanitize(flag, 200) for flag in row.flags) or "-"]
        for row in rows
    ]
    widths = [max(len(line[i]) for line in [header, *cells]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [header, *cells]
    ]
    flagged = sum(1 for row in rows if row.flags)
    lines.append(
        f"newest common-utils release: {newest or 'unknown'}; "
        f"{flagged} of {len(rows)} services flagged"
    )
    return "\n".join(lines)


def _index_page(index_url: str, *, timeout: float) -> str:
    parts = urllib.parse.urlsplit(index_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FleetError(f"--index-url is not an http(s) URL: {sanitize(index_url)!r}")
    if parts.username is not None or parts.password is not None:
        raise FleetError("--index-url carries credentials; the fleet check never sends any")
    url = index_url.rstrip("/") + f"/{PROJECT}/"
    request_body = fetch(url, timeout=timeout, max_bytes=4 * 1024 * 1024)
    return request_body.decode("utf-8", errors="replace")


def _name_url(arg: str) -> str:
    """Turn a ``NAME=URL`` argument into the file form ``NAME URL``."""
    return arg.replace("=", " ", 1) if "=" in arg.split("://", 1)[0] else arg


def _seconds(text: str) -> float:
    """A ``--timeout``: a finite number of seconds above zero."""
    value = float(text)
    if not 0 < value < 24 * 3600:
        raise argparse.ArgumentTypeError(f"not a number of seconds above 0: {sanitize(text)!r}")
    return value


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="common-utils-fleet",
        description="Which services run which common_utils, and who is behind.",
    )
    parser.add_argument("urls", nargs="*", metavar="[NAME=]URL", help="service base URLs")
    parser.add_argument("--file", "-f", help="file of services, one 'URL' or 'NAME URL' a line")
    parser.add_argument(
        "--index-url", default=os.environ.get("PIP_INDEX_URL"), help="devpi release index"
    )
    parser.add_argument("--withdrawn", help="file of withdrawn versions ('X.Y.Z  reason')")
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_S,
        help="seconds for each service's whole answer (one deadline, redirects included)",
    )
    parser.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES, help=argparse.SUPPRESS)
    parser.add_argument("--workers", type=int, default=16, help="requests in flight")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, *, out: IO[str] | None = None) -> int:
    """Run the fleet check; return 0, 1 (a row is flagged) or 2 (bad usage).

    Examples:
        >>> main(["--json"])
        2
    """
    args = parse_args(sys.argv[1:] if argv is None else argv)
    stdout = out if out is not None else sys.stdout
    started = time.perf_counter()
    try:
        lines = [_name_url(arg) for arg in args.urls]
        if args.file:
            with open(args.file, encoding="utf-8") as handle:
                lines += handle.read().splitlines()
        targets = parse_targets(lines)
        if not targets:
            raise FleetError("no services: give URLs or --file")
        withdrawn: dict[str, str] = {}
        if args.withdrawn:
            with open(args.withdrawn, encoding="utf-8") as handle:
                withdrawn = parse_withdrawn(handle.read())
        newest: str | None = None
        if args.index_url:
            # NOTE: the index only tells the newest release; withdrawn versions come from the
            # file (devpi-server 6 has no yank, and a removed release is simply gone).
            newest, _ = newest_release(_index_page(args.index_url, timeout=args.timeout))
    except (FleetError, OSError) as ex:
        print(f"fleet: {sanitize(ex, 300)}", file=sys.stderr)
        return 2
    rows = check_fleet(
        targets,
        newest=newest,
        withdrawn=withdrawn,
        timeout=args.timeout,
        max_bytes=args.max_bytes,
        workers=args.workers,
    )
    elapsed = time.perf_counter() - started
    flagged = any(row.flags for row in rows)
    if args.json:
        document = {
            "newest": newest,
            "elapsed_s": round(elapsed, 3),
            "flagged": sum(1 for row in rows if row.flags),
            "services": [asdict(row) for row in rows],
        }
        print(json.dumps(document, indent=2), file=stdout)
    else:
        print(render_table(rows, newest), file=stdout)
        print(f"checked {len(rows)} services in {elapsed:.2f} s", file=stdout)
    return 1 if flagged else 0


if __name__ == "__main__":  # pragma: no cover - the module's command line
    sys.exit(main())
