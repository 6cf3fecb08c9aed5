"""Logging for 12-factor services: JSON lines on stdout, request ids, access log.

Call `setup_logging` once at start-up, then add `RequestIdMiddleware`
first and `AccessLogMiddleware` second, before auth, to the Falcon app::

    setup_logging()                     # LOG_LEVEL and LOG_FORMAT from the environment
    app = falcon.App(middleware=[RequestIdMiddleware(), AccessLogMiddleware(), auth])

Every record becomes one JSON object on one line (``timestamp``, ``level``,
``logger``, ``message``, ``request_id``, ``exception``, extras, and ``app`` /
``instance`` on Cloud Foundry), which is what Loggregator forwards and
Logsearch (ELK) parses.

Examples:
    >>> import io, json, logging
    >>> from common_utils.logs import setup_logging
    >>> out = io.StringIO()
    >>> _ = setup_logging("INFO", "json", out, environ={})
    >>> logging.getLogger("orders").info("order created", extra={"order_id": 7})
    >>> line = json.loads(out.getvalue())
    >>> line["message"], line["level"], line["order_id"]
    ('order created', 'INFO', 7)
"""

from __future__ import annotations

import contextvars
import json
import logging
import math
import os
import re
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from typing import IO, TYPE_CHECKING, Any

import falcon
from pythonjsonlogger.json import JsonFormatter

from common_utils.errors import ConfigurationError

if TYPE_CHECKING:
    import falcon.asgi

try:  # optional (pip install "common-utils[fast]"): the same lines, about 10x faster to encode
    import orjson as _orjson
except ImportError:  # pragma: no cover - exercised by a subprocess test without orjson
    _orjson = None  # type: ignore[assignment]

__all__ = [
    "DEFAULT_REDACT",
    "GOROUTER_REQUEST_ID",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "AccessLogMiddleware",
    "LoggingConfigError",
    "RequestIdMiddleware",
    "current_request_id",
    "server_logging_config",
    "setup_logging",
]

LOG_LEVELS: tuple[str, ...] = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
"""Values accepted for ``LOG_LEVEL`` (case-insensitive)."""

LOG_FORMATS: tuple[str, ...] = ("json", "text")
"""Values accepted for ``LOG_FORMAT`` (case-insensitive)."""

GOROUTER_REQUEST_ID = "X-Vcap-Request-Id"
"""The request id header the Cloud Foundry gorouter sets, replacing what a client sent."""

DEFAULT_REDACT: frozenset[str] = frozenset(
    {"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key"}
)
"""Request headers `AccessLogMiddleware` never logs, whatever it is asked to log."""

_HANDLER_NAME = "common_utils.logs"
_MAX_SHAPES = 1024
_TEXT_FORMAT = "%(asctime)s %(levelname)-8s %(name)s [%(request_id)s] %(message)s"
# Printable ASCII without space: nothing a client sends can break a log line.
_SAFE_ID = re.compile(r"[\x21-\x7e]{1,200}")
_REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "common_utils_request_id", default=None
)
_log = logging.getLogger(__name__)


class LoggingConfigError(ConfigurationError):
    """A logging setting (``LOG_LEVEL``, ``LOG_FORMAT`` or an argument) is invalid.

    The message names the setting and the accepted values, never anything else.

    Examples:
        >>> from common_utils.logs import LoggingConfigError, setup_logging
        >>> try:
        ...     setup_logging(environ={"LOG_LEVEL": "LOUD"})
        ... except LoggingConfigError as ex:
        ...     print(ex)
        LOG_LEVEL='LOUD' is not a log level; use one of DEBUG, INFO, WARNING, ERROR, CRITICAL
    """


def current_request_id() -> str | None:
    """Return the id of the request being handled, or ``None`` outside a request.

    The id is set by `RequestIdMiddleware` in a context variable, so it is
    right in WSGI worker threads and in ASGI tasks alike.

    Examples:
        >>> from common_utils.logs import current_request_id
        >>> current_request_id() is None
        True
    """
    return _REQUEST_ID.get()


# --------------------------------------------------------------------------- setup


# perf: hello world + RequestId + AccessLog under uWSGI, every request with the gorouter's id
# (bench_service's layer_2 case, A/B taking turns against a per-line strftime and format spec):
# +8.8 % req/s, median of 12 rounds (2026-12). The second is formatted once per second (one
# tuple, replaced whole: a thread reads the old pair or the new one); the milliseconds come
# from a table of the 1,000 endings.
_last_second: tuple[int, str] = (-1, "")
_MILLISECONDS = tuple(f".{millisecond:03d}Z" for millisecond in range(1000))


def _iso_utc(created: float) -> str:
    """Format a time as UTC with milliseconds (truncated): ``1970-01-01T00:00:00.500Z``."""
    global _last_second
    seconds = int(created)
    cached, stamp = _last_second
    if cached != seconds:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        _last_second = (seconds, stamp)
    return stamp + _MILLISECONDS[int((created - seconds) * 1000)]


def _to_str(value: object) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001 - a log call must never crash on a bad extra
        return f"<unprintable {type(value).__name__}>"


def _orjson_encode(data: dict[str, Any]) -> str | None:
    """Encode a line with orjson, or return None where only the stdlib gives the same line."""
    try:
        # datetimes and dataclasses go through str(), as with the stdlib encoder.
        line: str = _orjson.dumps(
            data,
            default=_to_str,
            option=_orjson.OPT_PASSTHROUGH_DATETIME | _orjson.OPT_PASSTHROUGH_DATACLASS,
        ).decode()
    except TypeError:  # a key that is no str, an int beyond 64 bits
        return None
    # The stdlib encoder escapes non-ASCII: stdout may not be UTF-8.
    return line if line.isascii() else None


def _non_finite(value: object) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def _no_fast_encode(data: dict[str, Any]) -> str | None:  # pragma: no cover - without orjson
    return None


_fast_encode = _orjson_encode if _orjson is not None else _no_fast_encode


class _RequestIdFilter(logging.Filter):
    """Stamp the current request id on every record the handler sees."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _REQUEST_ID.get()
        if request_id is not None:
            record.request_id = request_id
        return True


class _JsonLineFormatter(JsonFormatter):
    """python-json-logger with the field names Logsearch maps, and a ``Z`` timestamp."""

    def __init__(self, static_fields: dict[str, Any]) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={"levelname": "level", "name": "logger", "exc_info": "exception"},
            static_fields=static_fields,
            json_default=_to_str,
        )
        # PERF: one encoder for all lines; json.dumps(default=...) builds one per call.
        self._strict_encode = json.JSONEncoder(default=_to_str, allow_nan=False).encode
        self._lenient_encode = json.JSONEncoder(default=_to_str).encode
        # Attributes every LogRecord has (and the fixed fields): the rest are extras.
        self._not_extra = frozenset(self.reserved_attrs | {"levelname", "name", "message"})
        self._extras_by_shape: dict[tuple[str, ...], tuple[str, ...]] = {}

    def format(self, record: logging.LogRecord) -> str:
        if isinstance(record.msg, dict) or record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)  # python-json-logger's handling of these
        # PERF: the same line as the base method, without its checks and hooks for
        # what a plain record does not have.
        record.message = record.getMessage()
        log_data: dict[str, Any] = {}
        self.add_fields(log_data, record, {})
        return self.jsonify_log_record(log_data)

    def jsonify_log_record(self, log_data: dict[str, Any]) -> str:
        line = _fast_encode(log_data)
        return line if line is not None else self._encode(log_data)

    def _encode(self, log_data: dict[str, Any]) -> str:
        try:
            return self._strict_encode(log_data)
        except ValueError:  # NaN or Infinity: null, as orjson writes them, not invalid JSON
            finite = {k: None if _non_finite(v) else v for k, v in log_data.items()}
            return self._lenient_encode(finite)

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        # PERF: the base method's generic loops (defaults, renames of the fixed fields)
        # cost about as much as the rest of the line; the fixed fields are set directly.
        log_data["timestamp"] = _iso_utc(record.created)
        log_data["level"] = record.levelname
        log_data["logger"] = record.name
        log_data["message"] = record.message
        log_data.update(self.static_fields)
        for key, value in message_dict.items():
            log_data[self.rename_fields.get(key, key)] = value
        # PERF: python-json-logger's generic merge costs a third of the line; records
        # from one call site have the same attributes in the same order, so the extras
        # among them are picked once per shape instead of once per record.
        attributes = record.__dict__
        shape = tuple(attributes)
        extras = self._extras_by_shape.get(shape)
        if extras is None:
            extras = self._extras_of(shape)
        for key in extras:
            log_data[key] = attributes[key]

    def _extras_of(self, shape: tuple[str, ...]) -> tuple[str, ...]:
        if len(self._extras_by_shape) >= _MAX_SHAPES:  # call sites are few; never grow unbounded
            self._extras_by_shape.clear()
        extras = tuple(key for key in shape if key not in self._not_extra and key[:1] != "_")
        self._extras_by_shape[shape] = extras
        return extras


def _escape_unprintable(line: str) -> str:
    """Write every character `str.isprintable` refuses as its Python escape."""
    # C0 and C1 controls (CR, LF, ESC ...), DEL, U+2028/U+2029, the bidi overrides and
    # every other format or separator character: a forged line or a cleared screen.
    return "".join(
        ch if ch.isprintable() else ch.encode("unicode_escape").decode("ascii") for ch in line
    )


class _TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with UTC ``Z`` timestamps, one record a line."""

    def __init__(self) -> None:
        super().__init__(_TEXT_FORMAT, defaults={"request_id": "-"})

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_utc(record.created)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # PERF: one C-level scan for the usual line; the escaping only for the rest.
        return line if line.isprintable() else _escape_unprintable(line)


def _parse_level(level: str | int | None, env: Mapping[str, str]) -> int:
    if isinstance(level, int):
        if logging.getLevelName(level).startswith("Level "):
            raise LoggingConfigError(
                f"level={level!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"
            )
        return level
    name, source = (level, "level") if level is not None else (env.get("LOG_LEVEL"), "LOG_LEVEL")
    if name is None or (source == "LOG_LEVEL" and not name.strip()):
        return logging.INFO
    if name.strip().upper() not in LOG_LEVELS:
        raise LoggingConfigError(
            f"{source}={name!r} is not a log level; use one of {', '.join(LOG_LEVELS)}"
        )
    return int(getattr(logging, name.strip().upper()))


def _parse_format(
    fmt: str | None, env: Mapping[str, str], stream: IO[str], on_cloud_foundry: bool
) -> str:
    name, source = (fmt, "fmt") if fmt is not None else (env.get("LOG_FORMAT"), "LOG_FORMAT")
    if name is None or (source == "LOG_FORMAT" and not name.strip()):
        is_tty = getattr(stream, "isatty", None)
        return "text" if callable(is_tty) and is_tty() and not on_cloud_foundry else "json"
    if name.strip().lower() not in LOG_FORMATS:
        raise LoggingConfigError(
            f"{source}={name!r} is not a log format; use one of {', '.join(LOG_FORMATS)}"
        )
    return name.strip().lower()


def _cloud_foundry_fields(env: Mapping[str, str]) -> tuple[dict[str, Any], str | None]:
    """Return ``app``/``instance`` from the CF environment and a warning, if it is unreadable.

    A broken VCAP document must not stop logging from starting: logging is what
    tells the operator about it. The service's own ``CFEnv()`` still fails loudly.
    """
    try:
        from common_utils.cfenv import CFEnv, CFEnvError
    except ImportError:
        return {}, None
    try:
        app = CFEnv(environ=dict(env)).app
    except CFEnvError as ex:
        return {}, f"Cloud Foundry environment not readable, app/instance not logged: {ex}"
    fields: dict[str, Any] = {}
    if app.name is not None:
        fields["app"] = app.name
    if app.instance_index is not None:
        fields["instance"] = app.instance_index
    return fields, None


def setup_logging(
    level: str | int | None = None,
    fmt: str | None = None,
    stream: IO[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
) -> logging.Handler:
    """Send all logging to one stream, as JSON lines or text, once.

    Installs one handler on the root logger and sets the root level. Calling it
    again replaces that handler (other handlers are left alone), so there is
    never a duplicated line. Each record is written and flushed at once.
    Nothing else in the process changes: other loggers' handlers (a server's
    own, gunicorn's or uvicorn's) and the logging module's switches
    (``logging.logThreads``, ``logProcesses`` ...) are left as they are, so
    records keep their thread and process fields for every formatter.

    It doubles as a `logging.config.dictConfig` handler factory
    (``"()": "common_utils.logs.setup_logging"``); `server_logging_config`
    builds such a configuration for gunicorn and uvicorn.

    Args:
        level: A level name (``"DEBUG"`` ...) or number; else ``LOG_LEVEL``,
            else ``INFO``.
        fmt: ``"json"`` or ``"text"``; else ``LOG_FORMAT``, else ``json`` when
            the stream is not a terminal or on Cloud Foundry, ``text`` on a
            terminal.
        stream: Where lines go; ``sys.stdout`` (looked up at call time) when
            ``None``.

    Keyword Args:
        environ: The environment to read (``os.environ`` when ``None``).

    Returns:
        The installed handler.

    Raises:
        LoggingConfigError: ``LOG_LEVEL``/``LOG_FORMAT`` (or the arguments) hold
            a value that is not accepted; the message names the variable and
            the accepted values.

    Examples:
        >>> import io, logging
        >>> from common_utils.logs import setup_logging
        >>> out = io.StringIO()
        >>> _ = setup_logging(environ={"LOG_LEVEL": "warning", "LOG_FORMAT": "text"}, stream=out)
        >>> logging.getLogger("x").warning("disk almost full")
        >>> out.getvalue().split(" ", 1)[1].rstrip()
        'WARNING  x [-] disk almost full'
    """
    env = os.environ if environ is None else environ
    out = sys.stdout if stream is None else stream
    numeric_level = _parse_level(level, env)
    cf_fields, warning = _cloud_foundry_fields(env)
    on_cloud_foundry = "VCAP_APPLICATION" in env
    chosen = _parse_format(fmt, env, out, on_cloud_foundry)

    handler = logging.StreamHandler(out)  # StreamHandler.emit flushes after every record
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(_RequestIdFilter())
    handler.setFormatter(_JsonLineFormatter(cf_fields) if chosen == "json" else _TextFormatter())

    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
        old.close()
    root.addHandler(handler)
    root.setLevel(numeric_level)
    if warning is not None:
        _log.warning(warning)
    return handler


def server_logging_config() -> dict[str, Any]:
    """Return a `logging.config.dictConfig` dict for gunicorn's and uvicorn's own lines.

    The servers log through loggers of their own (``gunicorn.error``,
    ``uvicorn.error`` ...) with handlers and formats of their own: plain text,
    some of it on stderr. This configuration sends those loggers' records to the
    root logger, through the handler `setup_logging` installs, so that the
    server's lines (worker boot, timeouts, crashes) are JSON lines on stdout
    like the service's. The servers' access loggers are silenced:
    `AccessLogMiddleware` writes the one line per request.

    The service's own `setup_logging` call (at app start-up) replaces the handler,
    with ``LOG_LEVEL``, ``LOG_FORMAT`` and the Cloud Foundry fields then applied to
    every line; until then (gunicorn without ``--preload`` logs a few lines before
    the app is loaded) the server's lines are JSON at INFO, without ``app`` and
    ``instance``. A bad ``LOG_LEVEL`` is therefore reported once, by the service's
    start-up, not as the server's traceback. Loggers that exist already keep
    working (``disable_existing_loggers`` is false).

    Use it as gunicorn's ``logconfig_dict`` (in ``gunicorn.conf.py``), and as
    uvicorn's ``log_config`` (``uvicorn.run(..., log_config=...)``, or this
    dict saved as the JSON file ``uvicorn --log-config`` reads).

    Returns:
        A new dict each call (`logging.config.dictConfig` changes what it is given).

    Examples:
        >>> import logging.config
        >>> from common_utils.logs import server_logging_config
        >>> config = server_logging_config()
        >>> sorted(config["loggers"])
        ['gunicorn.access', 'gunicorn.error', 'uvicorn', 'uvicorn.access', 'uvicorn.error']
        >>> config["handlers"]["common_utils.logs"]["()"]
        'common_utils.logs.setup_logging'
    """
    through_root = {"handlers": [], "propagate": True}
    # The request line comes from AccessLogMiddleware; a second, plain one is noise.
    silenced = {"handlers": [], "propagate": False, "level": "WARNING"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {},
        "handlers": {
            # The name setup_logging gives its handler: its next call replaces this one.
            _HANDLER_NAME: {
                "()": "common_utils.logs.setup_logging",
                # Not LOG_LEVEL/LOG_FORMAT yet: a bad value is the service's start-up
                # error to report (one line), not a traceback from the server.
                "fmt": "json",
                "environ": {},
            }
        },
        "root": {"handlers": [_HANDLER_NAME]},
        "loggers": {
            "gunicorn.error": dict(through_root),
            "gunicorn.access": dict(silenced),
            "uvicorn": dict(through_root),
            "uvicorn.error": dict(through_root),
            "uvicorn.access": dict(silenced),
        },
    }


# --------------------------------------------------------------------------- request id


_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}")


def _incoming_id(req: falcon.Request | falcon.asgi.Request, trusted: tuple[str, ...]) -> str:
    for header in trusted:
        value = req.get_header(header)
        if value is not None and _SAFE_ID.fullmatch(value):
            return value
    return _new_request_id()


def _header_names(setting: str, names: object) -> tuple[str, ...]:
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise LoggingConfigError(f"{setting}: give a list of header names, not {names!r:.60}")
    found = tuple(names)
    for name in found:
        if not isinstance(name, str) or not _HEADER_NAME.fullmatch(name):
            raise LoggingConfigError(f"{setting}: {name!r:.60} is not an HTTP header name")
    return found


# The UUID variant digit (RFC 9562 4.1: binary 10xx) for each value of a random hex digit.
_VARIANT_DIGIT = dict(zip("0123456789abcdef", "89ab89ab89ab89ab", strict=True))


def _new_request_id() -> str:
    """Return a random UUID (version 4) in its canonical text form, as ``str(uuid.uuid4())``."""
    # perf: hello world + RequestId + AccessLog under uWSGI, requests without an id (calls that
    # bypass the gorouter; bench_service's layer_2 case, A/B taking turns against
    # str(uuid.uuid4())): +10.7 % req/s, median of 12 rounds (2026-12).
    digits = os.urandom(16).hex()
    return (
        f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
        f"{_VARIANT_DIGIT[digits[16]]}{digits[17:20]}-{digits[20:]}"
    )


class _RequestHookForAsgi:
    """The ASGI request hook of a middleware whose WSGI hook does no I/O: the same hook."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise NotImplementedError

    async def process_request_async(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        """ASGI variant of `process_request`."""
        self.process_request(req, resp)


class RequestIdMiddleware(_RequestHookForAsgi):
    """Give every request an id, log it on every line, and echo it in ``X-Request-Id``.

    The id comes from the first of ``trusted_headers`` a request carries with
    1-200 printable ASCII characters without spaces (so no client can inject log
    lines); otherwise a UUID4 is generated. By default only ``X-Vcap-Request-Id``
    is trusted: the Cloud Foundry gorouter sets it on every request it routes,
    replacing what a client sent, and logs it on its RTR line. A header a client
    chooses (``X-Request-Id``) becomes the id only where the service trusts its
    callers with it (calls from its own fleet): ``trusted_headers=
    (GOROUTER_REQUEST_ID, "X-Request-Id")``. The id is in `current_request_id`,
    in ``req.context.request_id`` and in every log record made while the request
    is handled. Works in ``falcon.App`` and ``falcon.asgi.App``; put it first in
    the middleware list.

    Keyword Args:
        trusted_headers: Request headers whose value may become the id, in order
            of preference; ``()`` generates an id for every request.

    Raises:
        LoggingConfigError: ``trusted_headers`` is not a list of header names.

    Examples:
        >>> import falcon, falcon.testing
        >>> from common_utils.logs import RequestIdMiddleware
        >>> app = falcon.App(middleware=[RequestIdMiddleware()])
        >>> client = falcon.testing.TestClient(app)
        >>> client.simulate_get("/", headers={"X-Vcap-Request-Id": "abc-123"}).headers[
        ...     "X-Request-Id"
        ... ]
        'abc-123'
        >>> client.simulate_get("/", headers={"X-Request-Id": "chosen"}).headers[
        ...     "X-Request-Id"
        ... ] != "chosen"
        True
    """

    def __init__(self, *, trusted_headers: Iterable[str] = (GOROUTER_REQUEST_ID,)) -> None:
        self._trusted = _header_names("RequestIdMiddleware trusted_headers", trusted_headers)

    def __repr__(self) -> str:
        return f"RequestIdMiddleware(trusted_headers={self._trusted!r})"

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Pick the request id, publish it, and set the response header."""
        # The access log's clock starts here when it sits after a middleware that
        # refuses requests (auth): a refused request is measured all the same.
        req.context._common_utils_access_start = time.perf_counter()
        request_id = _incoming_id(req, self._trusted)
        req.context.request_id = request_id
        req.context._common_utils_request_id_token = _REQUEST_ID.set(request_id)
        resp.set_header("X-Request-Id", request_id)

    def process_response(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        """Forget the id, so a reused worker thread does not carry it over."""
        token = getattr(req.context, "_common_utils_request_id_token", None)
        if token is not None:
            _REQUEST_ID.reset(token)
            del req.context._common_utils_request_id_token

    async def process_response_async(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        """ASGI variant of `process_response`."""
        self.process_response(req, resp, resource, req_succeeded)


# --------------------------------------------------------------------------- access log


_ACCESS_MESSAGE = "%s %s %d"


def _process_name() -> str | None:
    """``processName`` as `logging.LogRecord` works it out."""
    mp = sys.modules.get("multiprocessing")
    if mp is None:
        return "MainProcess"
    try:
        return str(mp.current_process().name)
    except Exception:  # noqa: BLE001 - as the standard library: a record is made regardless
        return "MainProcess"


def _task_name() -> str | None:  # pragma: no cover - Python 3.12+ only
    """``taskName`` as `logging.LogRecord` works it out (Python 3.12+)."""
    asyncio = sys.modules.get("asyncio")
    try:
        return None if asyncio is None else str(asyncio.current_task().get_name())
    except Exception:  # noqa: BLE001 - no running loop or no task: no name
        return None


class _RecordTemplate:
    """Make the access log's records with the fields `logging.LogRecord` gives them.

    PERF: ``LogRecord.__init__`` works out the same path, module, function and
    level names for every access line; here they are copied from one record
    made at start-up, and only the time, the arguments and the thread and
    process fields (as the logging module's switches ask) are filled in per
    record: 0.8 us instead of 2.9 us per record (benchmarks/bench_logs.py's
    middleware figure), without touching the logging module's switches.
    A record factory of the service's own (`logging.setLogRecordFactory`) is
    always honoured through ``Logger.makeRecord``.
    """

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        first = self._make_slowly(("GET", "/", 200))
        self._fixed = dict(first.__dict__)
        # relativeCreated counts from the logging module's import; its start, once.
        self._start = first.created - first.relativeCreated / 1000.0
        self._has_task_name = "taskName" in self._fixed
        self.levelname: str = first.levelname

    def _make_slowly(self, args: tuple[Any, ...]) -> logging.LogRecord:
        return self._logger.makeRecord(
            self._logger.name, logging.INFO, __file__, 0, _ACCESS_MESSAGE, args, None, "access"
        )

    def make(self, args: tuple[Any, ...]) -> logging.LogRecord:
        """Return a record of ``args`` made now, in this thread."""
        if logging.getLogRecordFactory() is not logging.LogRecord:
            return self._make_slowly(args)
        data = self._fixed.copy()
        now = time.time()
        data["args"] = args
        data["created"] = now
        data["msecs"] = int((now - int(now)) * 1000) + 0.0
        data["relativeCreated"] = (now - self._start) * 1000.0
        if logging.logThreads:
            data["thread"] = threading.get_ident()
            data["threadName"] = threading.current_thread().name
        else:
            data["thread"] = data["threadName"] = None
        data["process"] = os.getpid() if logging.logProcesses else None
        data["processName"] = _process_name() if logging.logMultiprocessing else None
        if self._has_task_name:  # pragma: no cover - Python 3.12+ only
            tasks = getattr(logging, "logAsyncioTasks", True)
            data["taskName"] = _task_name() if tasks else None
        record = logging.LogRecord.__new__(logging.LogRecord)
        record.__dict__ = data
        return record


class AccessLogMiddleware(_RequestHookForAsgi):
    """Log one line per request at INFO: what was asked, by whom, how it went.

    Fields: ``method``, ``route`` (the URI template, so ``/orders/{id}``
    aggregates; ``null`` when no route matched), ``path`` (without the query
    string), ``status`` (int), ``duration_ms``, ``bytes`` (``null`` for a
    stream of unknown length), ``user_agent``, ``subject`` (when
    ``req.context.auth`` has one) and the extra ``headers`` asked for, as
    ``header_<name>``. Query strings are never logged (they carry tokens), and
    neither are the headers in ``redact``, even when listed in ``headers``.
    Works in ``falcon.App`` and ``falcon.asgi.App``; put it right after
    `RequestIdMiddleware` and before auth: it writes its line on the way out,
    so it still sees the auth result, and a request auth refuses is measured
    (its clock starts in `RequestIdMiddleware`, so even an access log placed
    after auth measures it).

    Keyword Args:
        logger: The logger or its name (default ``common_utils.access``).
        headers: Extra request headers to log (case-insensitive).
        redact: Headers never logged; defaults to `DEFAULT_REDACT`
            (Authorization, cookies, API keys). Add to it, do not shrink it.

    Examples:
        >>> import falcon, falcon.testing
        >>> from common_utils.logs import AccessLogMiddleware
        >>> app = falcon.App(middleware=[AccessLogMiddleware(headers=["X-Forwarded-For"])])
        >>> falcon.testing.TestClient(app).simulate_get("/nothing-here").status_code
        404
    """

    def __init__(
        self,
        *,
        logger: logging.Logger | str = "common_utils.access",
        headers: Iterable[str] = (),
        redact: Iterable[str] = DEFAULT_REDACT,
    ) -> None:
        self._logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self._redact = frozenset(name.lower() for name in redact)
        self._headers = tuple(
            (name.lower(), "header_" + name.lower().replace("-", "_"))
            for name in headers
            if name.lower() not in self._redact
        )
        self._user_agent = "user-agent" not in self._redact
        self._records = _RecordTemplate(self._logger)

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Note when the request started, unless `RequestIdMiddleware` already has."""
        req.context.setdefault("_common_utils_access_start", time.perf_counter())

    def process_response(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        """Write the access line."""
        if self._logger.isEnabledFor(logging.INFO):
            body = None if resp.stream is not None else resp.render_body()
            self._emit(req, resp, body)

    async def process_response_async(
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        req_succeeded: bool,
    ) -> None:
        """ASGI variant of `process_response`."""
        if self._logger.isEnabledFor(logging.INFO):
            body = None if resp.stream is not None else await resp.render_body()
            self._emit(req, resp, body)

    def _emit(
        self,
        req: falcon.Request | falcon.asgi.Request,
        resp: falcon.Response | falcon.asgi.Response,
        body: bytes | None,
    ) -> None:
        start = getattr(req.context, "_common_utils_access_start", None)
        duration_ms = None if start is None else round((time.perf_counter() - start) * 1000.0, 3)
        status = resp.status_code
        size: int | None
        if resp.stream is not None:
            length = resp.content_length
            size = int(length) if length is not None and str(length).isdigit() else None
        else:
            size = 0 if body is None else len(body)
        fields: dict[str, Any] = {
            "method": req.method,
            "route": req.uri_template,
            "path": req.path,
            "status": status,
            "duration_ms": duration_ms,
            "bytes": size,
        }
        if self._user_agent:
            fields["user_agent"] = req.user_agent
        subject = getattr(getattr(req.context, "auth", None), "subject", None)
        if subject is not None:
            fields["subject"] = subject
        for name, field in self._headers:
            fields[field] = req.get_header(name)
        args = (req.method, req.path, status)
        handler = _own_json_handler(self._logger)
        if handler is not None:
            self._write(handler, args, fields)
            return
        # PERF: a record + handle is Logger.info without the caller lookup (which
        # would only ever find this line); levels, filters and handlers all apply.
        record = self._records.make(args)
        # PERF: extra= checks every key against the record; ours never collide.
        record.__dict__.update(fields)
        self._logger.handle(record)

    def _write(
        self, handler: logging.StreamHandler[IO[str]], args: tuple[Any, ...], fields: dict[str, Any]
    ) -> None:
        """Write the line ``handler`` would write for the record, without making the record.

        The same dict `_JsonLineFormatter.add_fields` builds for the record (fixed
        fields, static fields, extras in the record's order, then the request id
        `_RequestIdFilter` stamps last), encoded by the same formatter, written
        as ``StreamHandler.emit`` writes it, under the handler's lock.
        """
        formatter: _JsonLineFormatter = handler.formatter  # type: ignore[assignment]
        now = time.time()
        line: dict[str, Any] = {
            "timestamp": _iso_utc(now),
            "level": self._records.levelname,
            "logger": self._logger.name,
            "message": _ACCESS_MESSAGE % args,
        }
        line.update(formatter.static_fields)
        line.update(fields)
        request_id = _REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        # PERF: the handler's lock taken once, and the stream flushed as StreamHandler.flush
        # does it but without taking that lock again: 0.6 us of the line.
        with handler.lock:  # type: ignore[union-attr]  # set by Handler.__init__
            try:
                stream = handler.stream
                stream.write(formatter.jsonify_log_record(line) + handler.terminator)
                if stream and hasattr(stream, "flush"):
                    stream.flush()
            except RecursionError:  # as StreamHandler.emit
                raise
            except Exception:  # noqa: BLE001 - as StreamHandler.emit: reported, never raised
                record = self._records.make(args)
                record.__dict__.update(fields)
                handler.handleError(record)


def _own_json_handler(logger: logging.Logger) -> logging.StreamHandler[IO[str]] | None:
    """Return the handler `setup_logging` installed when it alone would write ``logger``'s line.

    That is: ``logger`` has no filters, the only handler its records reach is a
    plain `logging.StreamHandler` with the library's JSON formatter and request-id
    filter and nothing else, at INFO or below, and records are made by
    `logging.LogRecord` itself. Anything else (a handler or filter added, another
    formatter, a record factory, propagation switched off or on elsewhere) gives
    ``None``: the record takes the normal logging path. Checked on every line, so
    a change made at run time applies from the next line on.
    """
    if logger.filters or logging.getLogRecordFactory() is not logging.LogRecord:
        return None
    current = logger
    while not current.handlers:
        if not current.propagate or current.parent is None:
            return None  # no handler: logging.lastResort's business
        current = current.parent
    handlers = current.handlers
    if len(handlers) != 1 or (current.propagate and current.parent is not None):
        return None  # a second handler here or further up
    handler = handlers[0]
    if type(handler) is not logging.StreamHandler or handler.level > logging.INFO:
        return None
    filters = handler.filters
    if len(filters) != 1 or type(filters[0]) is not _RequestIdFilter:
        return None
    if type(handler.formatter) is not _JsonLineFormatter:
        return None
    return handler
