"""common_utils.logs: JSON lines on stdout, request ids and the access log."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common_utils import logs
from common_utils.logs import (
    GOROUTER_REQUEST_ID,
    AccessLogMiddleware,
    LoggingConfigError,
    RequestIdMiddleware,
    current_request_id,
    setup_logging,
)

from .conftest import FIXTURES, REPO_ROOT

SENTINEL = "SENTINEL-7f3a9c-do-not-log"
VCAP_APPLICATION = (FIXTURES / "vcap_application.json").read_text()


@pytest.fixture(autouse=True)
def _restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse every line as one JSON object (what Logsearch requires)."""
    lines = text.splitlines()
    assert lines, "no output"
    parsed = [json.loads(line) for line in lines]
    assert all(isinstance(item, dict) for item in parsed)
    return parsed


# --------------------------------------------------------------------------- a real service

SERVICE = textwrap.dedent(
    """
    import logging, sys, types
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    import falcon
    from common_utils.logs import AccessLogMiddleware, RequestIdMiddleware, setup_logging

    setup_logging()
    setup_logging()  # idempotent: still one handler, no duplicated lines
    log = logging.getLogger("service")


    class FakeAuth:
        def process_request(self, req, resp):
            if req.get_header("Authorization"):
                req.context.auth = types.SimpleNamespace(subject="user-42")


    class Unprintable:
        def __str__(self):
            raise RuntimeError("no str")


    class Orders:
        def on_get(self, req, resp, order_id):
            extra = {"order_id": order_id, "obj": object(), "bad": Unprintable()}
            log.info("order read", extra=extra)
            resp.media = {"id": order_id}

    class Boom:
        def on_get(self, req, resp):
            try:
                1 / 0
            except ZeroDivisionError:
                log.exception("could not divide")
            resp.status = 500


    class Quiet(WSGIRequestHandler):
        def log_message(self, *args):
            pass


    app = falcon.App(
        middleware=[
            RequestIdMiddleware(),
            FakeAuth(),
            AccessLogMiddleware(headers=["Authorization", "X-Forwarded-For"]),
        ]
    )
    app.add_route("/orders/{order_id}", Orders())
    app.add_route("/boom", Boom())
    server = make_server("127.0.0.1", 0, app, handler_class=Quiet)
    with open(sys.argv[1] + ".tmp", "w") as f:
        f.write(str(server.server_port))
    import os
    os.replace(sys.argv[1] + ".tmp", sys.argv[1])
    server.serve_forever()
    """
)


def raw_request(port: int, head: str) -> bytes:
    """Send exactly these request bytes (what http.client refuses to send) and read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head.encode("latin-1"))
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def response_header(raw: bytes, name: str) -> str:
    for line in raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower().encode():
            return value.strip().decode("latin-1")
    raise AssertionError(f"no {name} header in {raw[:300]!r}")


@pytest.fixture(scope="module")
def service_output(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the service on loopback, send the requests, return its stdout and the answers."""
    tmp = tmp_path_factory.mktemp("service")
    script, port_file = tmp / "service.py", tmp / "port"
    script.write_text(SERVICE)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(REPO_ROOT),
        "VCAP_APPLICATION": VCAP_APPLICATION,
        "CF_INSTANCE_INDEX": "3",
    }
    proc = subprocess.Popen(
        [sys.executable, str(script), str(port_file)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while not port_file.exists():
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "service did not start"
            time.sleep(0.05)
        port = int(port_file.read_text())
        answers = {
            "vcap": raw_request(
                port,
                "GET /orders/17?token=" + SENTINEL + " HTTP/1.0\r\n"
                "X-Vcap-Request-Id: 5a1e0c3c-vcap-id\r\n"
                "X-Request-Id: client-chosen-id\r\n"
                "Authorization: Bearer " + SENTINEL + "\r\n"
                "Cookie: session=" + SENTINEL + "\r\n"
                "X-Forwarded-For: 10.0.0.1\r\n"
                "User-Agent: test-agent/1.0\r\n\r\n",
            ),
            # obs-fold: the header value reaches the app as "abc\r\n {fake JSON line}"
            "injection": raw_request(
                port,
                "GET /orders/18 HTTP/1.0\r\n"
                'X-Vcap-Request-Id: abc\r\n {"level": "ERROR", "message": "forged"}\r\n\r\n',
            ),
            "boom": raw_request(port, "GET /boom HTTP/1.0\r\nX-Vcap-Request-Id: boom-id\r\n\r\n"),
        }
    finally:
        proc.terminate()
        stdout, stderr = proc.communicate(timeout=20)
    return {"stdout": stdout, "stderr": stderr, "answers": answers}


class TestServiceOutput:
    def test_every_stdout_line_is_one_json_object_with_the_logsearch_keys(
        self, service_output: dict[str, Any]
    ) -> None:
        for line in json_lines(service_output["stdout"]):
            assert {"timestamp", "level", "logger", "message"} <= line.keys()
            assert line["timestamp"].endswith("Z")
            assert len(line["timestamp"]) == len("2026-01-01T00:00:00.000Z")

    def test_calling_setup_twice_does_not_duplicate_lines(
        self, service_output: dict[str, Any]
    ) -> None:
        reads = [
            line for line in json_lines(service_output["stdout"]) if line["message"] == "order read"
        ]
        assert len(reads) == 2

    def test_request_id_comes_from_x_vcap_request_id_and_is_echoed(
        self, service_output: dict[str, Any]
    ) -> None:
        raw = service_output["answers"]["vcap"]
        assert response_header(raw, "X-Request-Id") == "5a1e0c3c-vcap-id"
        lines = [
            line
            for line in json_lines(service_output["stdout"])
            if line.get("request_id") == "5a1e0c3c-vcap-id"
        ]
        assert [line["message"] for line in lines] == ["order read", "GET /orders/17 200"]

    def test_access_line_has_route_template_status_and_size(
        self, service_output: dict[str, Any]
    ) -> None:
        access = next(
            line
            for line in json_lines(service_output["stdout"])
            if line["logger"] == "common_utils.access" and line["path"] == "/orders/17"
        )
        body = service_output["answers"]["vcap"].split(b"\r\n\r\n", 1)[1]
        assert access["method"] == "GET"
        assert access["route"] == "/orders/{order_id}"
        assert access["status"] == 200
        assert access["bytes"] == len(body)
        assert access["user_agent"] == "test-agent/1.0"
        assert access["subject"] == "user-42"
        assert access["header_x_forwarded_for"] == "10.0.0.1"
        assert isinstance(access["duration_ms"], float)
        assert "header_authorization" not in access

    def test_sentinel_token_in_authorization_cookie_and_query_never_appears(
        self, service_output: dict[str, Any]
    ) -> None:
        assert SENTINEL not in service_output["stdout"]
        assert SENTINEL not in service_output["stderr"]

    def test_newline_in_request_id_header_is_replaced_not_logged(
        self, service_output: dict[str, Any]
    ) -> None:
        own_id = response_header(service_output["answers"]["injection"], "X-Request-Id")
        assert own_id != "abc"
        assert len(own_id) == 36  # a UUID4 of our own
        lines = json_lines(service_output["stdout"])
        assert "forged" not in [line["message"] for line in lines]
        assert [line["request_id"] for line in lines if line.get("path") == "/orders/18"] == [
            own_id
        ]

    def test_exception_is_rendered_inside_the_one_line(
        self, service_output: dict[str, Any]
    ) -> None:
        line = next(
            line
            for line in json_lines(service_output["stdout"])
            if line["message"] == "could not divide"
        )
        assert line["level"] == "ERROR"
        assert line["request_id"] == "boom-id"
        assert line["exception"].startswith("Traceback (most recent call last):")
        assert "ZeroDivisionError: division by zero" in line["exception"]

    def test_unserializable_extras_are_strings_and_never_crash(
        self, service_output: dict[str, Any]
    ) -> None:
        line = next(
            line for line in json_lines(service_output["stdout"]) if line["message"] == "order read"
        )
        assert line["obj"].startswith("<object object at")
        assert line["bad"] == "<unprintable Unprintable>"
        assert line["order_id"] == "17"

    def test_cloud_foundry_app_and_instance_are_on_every_line(
        self, service_output: dict[str, Any]
    ) -> None:
        for line in json_lines(service_output["stdout"]):
            assert line["app"] == "example-app"
            assert line["instance"] == 3


# --------------------------------------------------------------------------- setup_logging


class TestSetupLogging:
    def test_json_line_has_fields_in_logsearch_names(self) -> None:
        out = io.StringIO()
        setup_logging("debug", "json", out, environ={})
        logging.getLogger("orders").debug("created %s", 7, extra={"order_id": 7})
        (line,) = json_lines(out.getvalue())
        assert line["level"] == "DEBUG"
        assert line["logger"] == "orders"
        assert line["message"] == "created 7"
        assert line["order_id"] == 7
        assert "request_id" not in line
        assert "exception" not in line

    def test_second_call_replaces_the_handler(self) -> None:
        first, second = io.StringIO(), io.StringIO()
        setup_logging(stream=first, environ={})
        setup_logging(stream=second, environ={})
        logging.getLogger("x").info("once")
        ours = [h for h in logging.getLogger().handlers if h.get_name() == "common_utils.logs"]
        assert len(ours) == 1
        assert first.getvalue() == ""
        assert len(json_lines(second.getvalue())) == 1

    def test_level_comes_from_log_level_case_insensitively(self) -> None:
        setup_logging(stream=io.StringIO(), environ={"LOG_LEVEL": " warning "})
        assert logging.getLogger().level == logging.WARNING

    def test_argument_wins_over_environment(self) -> None:
        out = io.StringIO()
        setup_logging(logging.ERROR, "text", out, environ={"LOG_LEVEL": "DEBUG", "LOG_FORMAT": "x"})
        assert logging.getLogger().level == logging.ERROR
        logging.getLogger("y").error("text line")
        assert out.getvalue().endswith("ERROR    y [-] text line\n")

    def test_empty_or_missing_log_level_means_info(self) -> None:
        setup_logging(stream=io.StringIO(), environ={"LOG_LEVEL": ""})
        assert logging.getLogger().level == logging.INFO
        setup_logging(stream=io.StringIO(), environ={})
        assert logging.getLogger().level == logging.INFO

    def test_os_environ_and_sys_stdout_are_the_defaults(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        out = io.StringIO()
        monkeypatch.setattr(sys, "stdout", out)
        monkeypatch.setenv("LOG_LEVEL", "critical")
        monkeypatch.delenv("LOG_FORMAT", raising=False)
        monkeypatch.delenv("VCAP_APPLICATION", raising=False)
        handler = setup_logging()
        assert isinstance(handler, logging.StreamHandler)
        assert handler.stream is out
        assert logging.getLogger().level == logging.CRITICAL

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            (
                {"environ": {"LOG_LEVEL": "LOUD"}},
                "LOG_LEVEL='LOUD' is not a log level; use one of DEBUG, INFO, WARNING, ERROR, "
                "CRITICAL",
            ),
            (
                {"environ": {"LOG_FORMAT": "xml"}},
                "LOG_FORMAT='xml' is not a log format; use one of json, text",
            ),
            ({"level": "verbose", "environ": {}}, "level='verbose' is not a log level"),
            ({"level": 12, "environ": {}}, "level=12 is not a log level"),
            ({"fmt": "yaml", "environ": {}}, "fmt='yaml' is not a log format"),
        ],
    )
    def test_bad_setting_is_one_clear_error_naming_it(
        self, kwargs: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(LoggingConfigError) as info:
            setup_logging(stream=io.StringIO(), **kwargs)
        assert str(info.value).startswith(message)
        assert isinstance(info.value, ValueError)

    def test_terminal_defaults_to_text_and_pipe_to_json(self) -> None:
        master, replica = os.openpty()
        with os.fdopen(replica, "w") as tty, os.fdopen(master, "rb", buffering=0) as reader:
            setup_logging(stream=tty, environ={})
            logging.getLogger("t").info("hello tty")
            assert b"INFO     t [-] hello tty" in reader.read(4096)
        out = io.StringIO()
        setup_logging(stream=out, environ={})
        logging.getLogger("t").info("hello pipe")
        assert json_lines(out.getvalue())[0]["message"] == "hello pipe"

    def test_terminal_on_cloud_foundry_defaults_to_json(self) -> None:
        master, replica = os.openpty()
        with os.fdopen(replica, "w") as tty, os.fdopen(master, "rb", buffering=0) as reader:
            setup_logging(stream=tty, environ={"VCAP_APPLICATION": VCAP_APPLICATION})
            logging.getLogger("t").info("on cf")
            line = reader.read(4096).decode().strip()
        assert json.loads(line)["message"] == "on cf"

    def test_stream_without_isatty_is_json(self) -> None:
        class Sink:
            def __init__(self) -> None:
                self.parts: list[str] = []

            def write(self, text: str) -> None:
                self.parts.append(text)

            def flush(self) -> None:
                pass

        sink = Sink()
        setup_logging(stream=sink, environ={"LOG_FORMAT": ""})  # type: ignore[arg-type]
        logging.getLogger("s").info("plain object")
        assert json_lines("".join(sink.parts))[0]["message"] == "plain object"

    def test_app_and_instance_come_from_cloud_foundry(self) -> None:
        out = io.StringIO()
        env = {"VCAP_APPLICATION": VCAP_APPLICATION, "CF_INSTANCE_INDEX": "2"}
        setup_logging(stream=out, environ=env)
        logging.getLogger("cf").info("hi")
        line = json_lines(out.getvalue())[0]
        assert (line["app"], line["instance"]) == ("example-app", 2)

    def test_no_app_or_instance_off_cloud_foundry(self) -> None:
        out = io.StringIO()
        setup_logging(stream=out, environ={})
        logging.getLogger("local").info("hi")
        line = json_lines(out.getvalue())[0]
        assert "app" not in line
        assert "instance" not in line

    def test_broken_vcap_document_logs_one_warning_and_does_not_stop_setup(self) -> None:
        out = io.StringIO()
        setup_logging(stream=out, environ={"VCAP_APPLICATION": "{not json " + SENTINEL})
        logging.getLogger("after").info("still logging")
        lines = json_lines(out.getvalue())
        assert lines[0]["level"] == "WARNING"
        assert "VCAP_APPLICATION" in lines[0]["message"]
        assert lines[1]["message"] == "still logging"
        assert SENTINEL not in out.getvalue()

    def test_without_cfenv_module_logging_still_starts(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setitem(sys.modules, "common_utils.cfenv", None)  # import fails
        out = io.StringIO()
        setup_logging(stream=out, environ={"VCAP_APPLICATION": VCAP_APPLICATION})
        logging.getLogger("x").info("hi")
        assert "app" not in json_lines(out.getvalue())[0]

    def test_exception_traceback_is_the_exception_field(self) -> None:
        out = io.StringIO()
        setup_logging(stream=out, environ={})
        try:
            {}["missing"]
        except KeyError:
            logging.getLogger("x").exception("lookup failed")
        (line,) = json_lines(out.getvalue())
        assert line["level"] == "ERROR"
        assert line["exception"].startswith("Traceback (most recent call last):")
        assert line["exception"].endswith("KeyError: 'missing'")
        assert "exc_info" not in line

    def test_extra_whose_str_raises_is_named_not_fatal(self) -> None:
        class Unprintable:
            def __str__(self) -> str:
                raise RuntimeError("no str")

        out = io.StringIO()
        setup_logging(stream=out, environ={})
        logging.getLogger("x").info("with bad extra", extra={"bad": Unprintable(), "n": {1, 2}})
        line = json_lines(out.getvalue())[0]
        assert line["bad"] == "<unprintable Unprintable>"
        assert line["n"] == "{1, 2}"

    @pytest.mark.parametrize(
        ("created", "timestamp"),
        [
            (0.0, "1970-01-01T00:00:00.000Z"),
            (0.5, "1970-01-01T00:00:00.500Z"),
            (7.0625, "1970-01-01T00:00:07.062Z"),
            (86400.25, "1970-01-02T00:00:00.250Z"),
            (86400.875, "1970-01-02T00:00:00.875Z"),
            (1767225599.9999, "2025-12-31T23:59:59.999Z"),  # milliseconds truncated, not rounded
        ],
    )
    def test_timestamp_is_utc_with_milliseconds(self, created: float, timestamp: str) -> None:
        formatter = setup_logging(stream=io.StringIO(), environ={}).formatter
        assert formatter is not None
        record = logging.makeLogRecord({"name": "x", "msg": "m", "created": created})
        assert json.loads(formatter.format(record))["timestamp"] == timestamp

    def test_records_taking_turns_across_a_second_each_name_their_own_second(self) -> None:
        """The formatted second is reused within a second only (it is kept between records)."""
        formatter = setup_logging(stream=io.StringIO(), environ={}).formatter
        assert formatter is not None
        created = [59.75, 60.0, 59.5, 60.125, 3600.0, 59.0]  # binary fractions: exact
        stamps = [
            json.loads(formatter.format(logging.makeLogRecord({"msg": "m", "created": t})))[
                "timestamp"
            ]
            for t in created
        ]
        assert stamps == [
            "1970-01-01T00:00:59.750Z",
            "1970-01-01T00:01:00.000Z",
            "1970-01-01T00:00:59.500Z",
            "1970-01-01T00:01:00.125Z",
            "1970-01-01T01:00:00.000Z",
            "1970-01-01T00:00:59.000Z",
        ]

    def test_extras_follow_each_records_own_attributes_in_order(self) -> None:
        out = io.StringIO()
        handler = setup_logging(stream=out, environ={})
        log = logging.getLogger("shapes")

        def stamp(record: logging.LogRecord) -> bool:
            if record.getMessage() == "stamped":
                record.added_by_filter = "yes"
            return True

        handler.addFilter(stamp)
        try:
            log.info("plain", extra={"b": 1, "a": 2})
            log.info("stamped", extra={"b": 3, "a": 4})  # same call shape, one attribute more
            log.info("plain", extra={"b": 5, "a": 6})
            log.info("other order", extra={"a": 7, "b": 8})
            log.info("none")
        finally:
            handler.removeFilter(stamp)
        lines = out.getvalue().splitlines()
        extras = [list(json.loads(line))[4:] for line in lines]
        assert extras == [["b", "a"], ["b", "a", "added_by_filter"], ["b", "a"], ["a", "b"], []]
        assert [json.loads(line).get("b") for line in lines] == [1, 3, 5, 8, None]

    def test_extras_cache_stays_bounded(self) -> None:
        """Lines of ever new extra fields keep coming out right in bounded formatter memory."""
        out = io.StringIO()
        setup_logging(stream=out, environ={})
        log = logging.getLogger("many")

        def held_after(shapes: range) -> int:
            """Log one new shape of extras per line; the bytes logs.py allocated and keeps."""
            for n in shapes:
                log.info("shape %d", n, extra={f"field_{n}": n})
            snapshot = tracemalloc.take_snapshot()
            kept = snapshot.filter_traces([tracemalloc.Filter(True, logs.__file__)])
            return sum(stat.size for stat in kept.statistics("filename"))

        tracemalloc.start()
        try:
            first = held_after(range(3_000))
            later = held_after(range(3_000, 12_000))  # four times the shapes: not four times
        finally:
            tracemalloc.stop()
        assert 0 < later < 2 * first, (first, later)
        lines = json_lines(out.getvalue())
        assert [line[f"field_{n}"] for n, line in enumerate(lines)] == list(range(12_000))
        assert all(len(line) == 5 for line in lines)

    def test_newline_in_message_stays_inside_one_line(self) -> None:
        out = io.StringIO()
        setup_logging(stream=out, environ={"LOG_FORMAT": "JSON"})
        logging.getLogger("x").info('two\nlines {"level": "ERROR"}\u2028')
        (line,) = json_lines(out.getvalue())
        assert line["message"] == 'two\nlines {"level": "ERROR"}\u2028'


# --------------------------------------------------------------------------- middleware in-process


class Subject:
    subject = "svc-account"


class AuthContext:
    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        if req.get_header("X-Test-Auth"):
            req.context.auth = Subject()

    async def process_request_async(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        self.process_request(req, resp)


class Echo:
    def on_get(self, req: falcon.Request, resp: falcon.Response, item: str) -> None:
        logging.getLogger("echo").info("inside")
        resp.media = {"request_id": current_request_id(), "item": item}

    def on_get_stream(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.stream = io.BytesIO(b"12345")
        if req.get_param("length"):
            resp.content_length = 5

    def on_get_empty(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.status = falcon.HTTP_204


class AsyncEcho:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response, item: str) -> None:
        logging.getLogger("echo").info("inside")
        resp.media = {"request_id": current_request_id(), "item": item}

    async def on_get_stream(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.stream = _chunks()


async def _chunks() -> Any:
    yield b"abc"


def make_app(asgi: bool, request_id: RequestIdMiddleware | None = None, **access: Any) -> Any:
    middleware: list[Any] = [
        request_id or RequestIdMiddleware(),
        AuthContext(),
        AccessLogMiddleware(**access),
    ]
    if asgi:
        app: Any = falcon.asgi.App(middleware=middleware)
        app.add_route("/items/{item}", AsyncEcho())
        app.add_route("/stream", AsyncEcho(), suffix="stream")
    else:
        app = falcon.App(middleware=middleware)
        app.add_route("/items/{item}", Echo())
        app.add_route("/stream", Echo(), suffix="stream")
        app.add_route("/empty", Echo(), suffix="empty")
    return app


@pytest.fixture
def captured() -> io.StringIO:
    out = io.StringIO()
    setup_logging("INFO", "json", out, environ={})
    return out


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
class TestMiddleware:
    def test_request_id_is_visible_inside_the_request_and_cleared_after(
        self, asgi: bool, captured: io.StringIO
    ) -> None:
        client = falcon.testing.TestClient(make_app(asgi))
        result = client.simulate_get(
            "/items/a1", headers={"X-Vcap-Request-Id": "req-1", "X-Test-Auth": "yes"}
        )
        assert result.json == {"request_id": "req-1", "item": "a1"}
        assert result.headers["X-Request-Id"] == "req-1"
        assert current_request_id() is None
        inside, access = json_lines(captured.getvalue())
        assert inside["request_id"] == access["request_id"] == "req-1"
        assert access["subject"] == "svc-account"
        assert access["route"] == "/items/{item}"
        assert access["bytes"] == len(result.content)

    @pytest.mark.parametrize(
        "bad",
        ["has space", "x" * 201, "tab\there", "é-non-ascii", ""],
    )
    def test_unsafe_ids_are_replaced_by_a_uuid4(
        self, asgi: bool, captured: io.StringIO, bad: str
    ) -> None:
        client = falcon.testing.TestClient(make_app(asgi))
        headers = {"X-Vcap-Request-Id": bad, "X-Request-Id": bad}
        result = client.simulate_get("/items/b", headers=headers)
        own = result.headers["X-Request-Id"]
        assert own != bad
        parsed = uuid.UUID(own)
        assert (str(parsed), parsed.version, parsed.variant) == (own, 4, uuid.RFC_4122)

    def test_access_line_has_exactly_these_fields_in_this_order(
        self, asgi: bool, captured: io.StringIO
    ) -> None:
        client = falcon.testing.TestClient(make_app(asgi, headers=["X-Trace"]))
        client.simulate_get(
            "/items/o",
            query_string="q=1",
            headers={"X-Vcap-Request-Id": "req-o", "X-Test-Auth": "yes", "X-Trace": "t-9"},
        )
        access = json_lines(captured.getvalue())[-1]
        assert list(access) == [
            "timestamp",
            "level",
            "logger",
            "message",
            "method",
            "route",
            "path",
            "status",
            "duration_ms",
            "bytes",
            "user_agent",
            "subject",
            "header_x_trace",
            "request_id",
        ]
        duration = access.pop("duration_ms")
        assert isinstance(duration, float)
        assert duration >= 0
        del access["timestamp"]
        assert access == {
            "level": "INFO",
            "logger": "common_utils.access",
            "message": "GET /items/o 200",
            "method": "GET",
            "route": "/items/{item}",
            "path": "/items/o",
            "status": 200,
            "bytes": len('{"request_id": "req-o", "item": "o"}'),
            "user_agent": "falcon-client/" + falcon.__version__,
            "subject": "svc-account",
            "header_x_trace": "t-9",
            "request_id": "req-o",
        }

    def test_access_line_in_text_format(self, asgi: bool) -> None:
        out = io.StringIO()
        setup_logging("INFO", "text", out, environ={})
        client = falcon.testing.TestClient(make_app(asgi))
        client.simulate_get("/items/t", headers={"X-Vcap-Request-Id": "req-t"})
        line = out.getvalue().splitlines()[-1]
        assert line.split(" ", 1)[1] == "INFO     common_utils.access [req-t] GET /items/t 200"

    def test_longest_allowed_id_is_kept(self, asgi: bool, captured: io.StringIO) -> None:
        client = falcon.testing.TestClient(make_app(asgi))
        ok = "a" * 200
        result = client.simulate_get("/items/c", headers={"X-Vcap-Request-Id": ok})
        assert result.headers["X-Request-Id"] == ok

    def test_a_client_chosen_x_request_id_is_not_the_id_unless_trusted(
        self, asgi: bool, captured: io.StringIO
    ) -> None:
        client = falcon.testing.TestClient(make_app(asgi))
        own = client.simulate_get("/items/c", headers={"X-Request-Id": "chosen"})
        assert own.headers["X-Request-Id"] != "chosen"
        assert uuid.UUID(own.headers["X-Request-Id"]).version == 4
        assert "chosen" not in captured.getvalue()

    def test_trusted_headers_give_the_id_in_their_order(
        self, asgi: bool, captured: io.StringIO
    ) -> None:
        trusting = RequestIdMiddleware(trusted_headers=["X-Request-Id", GOROUTER_REQUEST_ID])
        client = falcon.testing.TestClient(make_app(asgi, request_id=trusting))
        both = {"X-Request-Id": "from-caller", "X-Vcap-Request-Id": "from-router"}
        assert client.simulate_get("/items/c", headers=both).json["request_id"] == "from-caller"
        del both["X-Request-Id"]
        assert client.simulate_get("/items/c", headers=both).json["request_id"] == "from-router"

    def test_no_trusted_header_generates_every_id(self, asgi: bool, captured: io.StringIO) -> None:
        client = falcon.testing.TestClient(
            make_app(asgi, request_id=RequestIdMiddleware(trusted_headers=()))
        )
        headers = {"X-Request-Id": "r", "X-Vcap-Request-Id": "v"}
        answer = client.simulate_get("/items/c", headers=headers).headers["X-Request-Id"]
        assert uuid.UUID(answer).version == 4

    def test_unknown_route_is_logged_with_null_route(
        self, asgi: bool, captured: io.StringIO
    ) -> None:
        client = falcon.testing.TestClient(make_app(asgi))
        assert client.simulate_get("/nope", query_string="secret=" + SENTINEL).status_code == 404
        (access,) = json_lines(captured.getvalue())
        assert access["route"] is None
        assert access["status"] == 404
        assert access["path"] == "/nope"
        assert "subject" not in access
        assert SENTINEL not in captured.getvalue()

    def test_stream_of_unknown_length_logs_null_bytes(
        self, asgi: bool, captured: io.StringIO
    ) -> None:
        client = falcon.testing.TestClient(make_app(asgi))
        assert client.simulate_get("/stream").status_code == 200
        assert json_lines(captured.getvalue())[-1]["bytes"] is None

    def test_access_log_is_skipped_when_info_is_disabled(self, asgi: bool) -> None:
        out = io.StringIO()
        setup_logging("WARNING", "json", out, environ={})
        falcon.testing.TestClient(make_app(asgi)).simulate_get("/items/q")
        assert out.getvalue() == ""


# Each is a forged line, a cleared screen, a hidden title change or reordered text.
ATTACKS = {
    "crlf": "\r\n2026-01-01T00:00:00.000Z ERROR    auth [-] admin logged in",
    "lf": '\n{"level": "ERROR", "message": "forged"}',
    "escape_clear_screen": "\x1b[2J\x1b[H",
    "escape_title": "\x1b]0;pwned\x07",
    "c1_csi": "\x9b2J",
    "next_line_c1": "a\x85b",
    "line_separator": "a\u2028b",
    "paragraph_separator": "a\u2029b",
    "bidi_override": "user\u202egnp.exe",
    "bidi_isolate": "a\u2066b\u2069",
    "nul_and_del": "a\x00b\x7f",
    "vertical_tab_form_feed": "a\x0bb\x0c",
}


def _is_clean(line: str) -> bool:
    return line.isprintable()


@pytest.mark.parametrize("attack", sorted(ATTACKS))
@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_text_lines_escape_what_a_client_puts_in_the_path_and_headers(
    asgi: bool, attack: str
) -> None:
    """A path or header a client sends never breaks a text line or reaches the terminal raw."""
    out = io.StringIO()
    setup_logging("INFO", "text", out, environ={})
    payload = ATTACKS[attack]
    client = falcon.testing.TestClient(make_app(asgi))
    # On the wire a header is bytes: non-Latin-1 characters arrive as their UTF-8 bytes.
    header = payload.encode("utf-8").decode("latin-1")
    client.simulate_get("/items/" + payload, headers={"User-Agent": header})
    logging.getLogger("app").info("agent %s", payload)
    lines = out.getvalue().split("\n")
    assert lines[-1] == ""  # every record ends its line, and only there
    records = lines[:-1]
    assert len(records) == 3, records
    assert all(_is_clean(line) for line in records), records
    escaped = payload.encode("unicode_escape").decode("ascii")
    assert records[-1].endswith(" agent " + escaped)


def test_text_lines_keep_a_traceback_on_its_one_line() -> None:
    """One record is one line in the text format too: the traceback's newlines are escaped."""
    out = io.StringIO()
    setup_logging("INFO", "text", out, environ={})
    try:
        raise ValueError("bad\r\nvalue")
    except ValueError:
        logging.getLogger("x").exception("failed")
    (line,) = out.getvalue().splitlines()
    assert "failed\\nTraceback (most recent call last):\\n" in line
    assert line.endswith("ValueError: bad\\r\\nvalue")


def test_text_lines_keep_printable_unicode_as_is() -> None:
    """Escaping is for what a terminal would act on, not for letters: é and ☃ stay readable."""
    out = io.StringIO()
    setup_logging("INFO", "text", out, environ={})
    logging.getLogger("x").info("caf\u00e9 \u2603 tab\tend")
    assert out.getvalue().endswith("caf\u00e9 \u2603 tab\\tend\n")


class Refuse:
    """A middleware that answers before the resource, as auth does for a missing token."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPUnauthorized()

    async def process_request_async(
        self, req: falcon.asgi.Request, resp: falcon.asgi.Response
    ) -> None:
        self.process_request(req, resp)


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize("order", ["access_first", "access_after_auth"])
def test_refused_requests_are_measured_wherever_the_access_log_sits(
    asgi: bool, order: str, captured: io.StringIO
) -> None:
    """With RequestIdMiddleware first, a request auth refuses still has its duration."""
    access, refuse = AccessLogMiddleware(), Refuse()
    middle = [access, refuse] if order == "access_first" else [refuse, access]
    middleware: list[Any] = [RequestIdMiddleware(), *middle]
    app: Any = falcon.asgi.App(middleware=middleware) if asgi else falcon.App(middleware=middleware)
    assert falcon.testing.TestClient(app).simulate_get("/x").status_code == 401
    (line,) = json_lines(captured.getvalue())
    assert line["status"] == 401
    assert isinstance(line["duration_ms"], float)
    assert line["duration_ms"] >= 0


class TestAccessLogOptions:
    def test_stream_with_known_length_logs_it(self, captured: io.StringIO) -> None:
        client = falcon.testing.TestClient(make_app(False))
        client.simulate_get("/stream", query_string="length=1")
        assert json_lines(captured.getvalue())[-1]["bytes"] == 5

    def test_empty_body_is_zero_bytes(self, captured: io.StringIO) -> None:
        client = falcon.testing.TestClient(make_app(False))
        assert client.simulate_get("/empty").status_code == 204
        assert json_lines(captured.getvalue())[-1]["bytes"] == 0

    def test_redact_wins_over_headers_and_can_drop_user_agent(self, captured: io.StringIO) -> None:
        app = make_app(
            False,
            logger=logging.getLogger("custom.access"),
            headers=["X-Api-Key", "X-Trace", "User-Agent"],
            redact={"x-api-key", "User-Agent"},
        )
        falcon.testing.TestClient(app).simulate_get(
            "/items/z",
            headers={"X-Api-Key": SENTINEL, "X-Trace": "t-1", "User-Agent": "agent/" + SENTINEL},
        )
        access = json_lines(captured.getvalue())[-1]
        assert access["logger"] == "custom.access"
        assert access["header_x_trace"] == "t-1"
        assert "user_agent" not in access
        assert SENTINEL not in captured.getvalue()

    def test_response_without_start_time_has_null_duration(self, captured: io.StringIO) -> None:
        class Stop:
            def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
                resp.complete = True

        # A middleware that ends the request before ours never lets ours see it start.
        app = falcon.App(
            middleware=[Stop(), AccessLogMiddleware()],  # type: ignore[arg-type]
            independent_middleware=True,
        )
        falcon.testing.TestClient(app).simulate_get("/")
        (access,) = json_lines(captured.getvalue())
        assert access["duration_ms"] is None

    def test_request_id_response_without_request_is_harmless(self) -> None:
        class Stop:
            def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
                resp.complete = True

        app = falcon.App(
            middleware=[Stop(), RequestIdMiddleware()],  # type: ignore[arg-type]
            independent_middleware=True,
        )
        result = falcon.testing.TestClient(app).simulate_get("/")
        assert "X-Request-Id" not in result.headers
        assert current_request_id() is None


def _generated_request_id() -> str:
    """The id RequestIdMiddleware gives a request that brings none."""
    app = falcon.App(middleware=[RequestIdMiddleware()])
    return str(falcon.testing.TestClient(app).simulate_get("/").headers["X-Request-Id"])


@pytest.mark.parametrize(
    ("trusted", "says"),
    [
        ("X-Request-Id", "give a list of header names"),
        (None, "give a list of header names"),
        (["X-Request-Id", "bad header"], "'bad header' is not an HTTP header name"),
        ([b"X-Request-Id"], "b'X-Request-Id' is not an HTTP header name"),
        ([""], "'' is not an HTTP header name"),
    ],
)
def test_trusted_headers_that_are_not_header_names_are_refused(trusted: Any, says: str) -> None:
    with pytest.raises(LoggingConfigError) as info:
        RequestIdMiddleware(trusted_headers=trusted)
    assert str(info.value).startswith("RequestIdMiddleware trusted_headers: ")
    assert says in str(info.value)


def test_the_middleware_says_which_headers_it_trusts() -> None:
    assert (
        repr(RequestIdMiddleware()) == "RequestIdMiddleware(trusted_headers=('X-Vcap-Request-Id',))"
    )
    assert (
        repr(RequestIdMiddleware(trusted_headers=[])) == "RequestIdMiddleware(trusted_headers=())"
    )


def test_generated_request_ids_are_new_uuid4_text_with_every_random_bit_varying() -> None:
    ids = [_generated_request_id() for _ in range(400)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(own) for own in ids]
    assert {(p.version, p.variant) for p in parsed} == {(4, uuid.RFC_4122)}
    assert [str(p) for p in parsed] == ids
    # 122 random bits: every one of them must take both values over 400 ids
    # (the chance that a fair bit does not is 2 * 2**-400).
    fixed = (0xF << 76) | (0x3 << 62)  # the version nibble and the variant bits
    random_bits = ~fixed & ((1 << 128) - 1)
    seen_set = seen_clear = 0
    for p in parsed:
        seen_set |= p.int
        seen_clear |= ~p.int
    assert seen_set & random_bits == random_bits
    assert seen_clear & random_bits == random_bits


@pytest.mark.parametrize(
    "raw", [bytes(16), b"\xff" * 16, bytes(range(16))], ids=["00", "ff", "0-15"]
)
def test_generated_request_id_is_the_uuid4_of_the_random_bytes(
    monkeypatch: pytest.MonkeyPatch, raw: bytes
) -> None:
    monkeypatch.setattr(os, "urandom", lambda n: raw[:n])
    assert _generated_request_id() == str(uuid.UUID(bytes=raw, version=4))


def test_public_surface_is_listed() -> None:
    assert set(logs.__all__) == {
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
    }
    assert Path(logs.__file__).name == "logs.py"


# --------------------------------------------------------------------------- encoders and cost

ENCODER_PROBE = textwrap.dedent(
    """
    import dataclasses, datetime, io, json, logging, sys
    if sys.argv[1] == "without-orjson":
        sys.modules["orjson"] = None  # import orjson now raises ImportError
    from common_utils.logs import setup_logging

    @dataclasses.dataclass
    class Point:
        x: int

    out = io.StringIO()
    setup_logging("INFO", "json", out, environ={})
    log = logging.getLogger("probe")
    log.info("plain", extra={"n": 1, "ok": True, "none": None, "ratio": 0.5})
    log.info("caf\\u00e9 \\u2028 \\U0001f600", extra={"city": "Z\\u00fcrich"})
    log.info("big", extra={"huge": 2**70, "when": datetime.datetime(2026, 1, 2, 3, 4, 5)})
    log.info("odd", extra={"point": Point(1), "nan": float("nan"), "inf": float("-inf")})
    log.info("keys", extra={"mapping": {1: "a"}, "nested": {"deep": [1, 2.5, "x"]}})
    for line in out.getvalue().splitlines():
        record = json.loads(line)
        record.pop("timestamp")
        print(json.dumps(record, sort_keys=True))
    print("orjson" in sys.modules and sys.modules["orjson"] is not None)
    """
)


def _probe(mode: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", ENCODER_PROBE, mode],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.splitlines()


def test_json_lines_are_the_same_with_and_without_the_optional_orjson() -> None:
    with_orjson, without = _probe("with-orjson"), _probe("without-orjson")
    assert with_orjson[-1] == "True", "orjson is in requirements/test.lock"
    assert without[-1] == "False"
    assert with_orjson[:-1] == without[:-1]
    lines = [json.loads(line) for line in without[:-1]]
    assert lines[1]["message"] == "caf\u00e9 \u2028 \U0001f600"
    assert (lines[2]["huge"], lines[2]["when"]) == (2**70, "2026-01-02 03:04:05")
    assert (lines[3]["point"], lines[3]["nan"], lines[3]["inf"]) == ("Point(x=1)", None, None)


def test_every_json_line_is_ascii_and_valid_json_whatever_the_extras() -> None:
    out = io.StringIO()
    setup_logging("INFO", "json", out, environ={})
    logging.getLogger("x").info("\u00e9", extra={"nan": float("nan"), "s": "\u2603"})
    text = out.getvalue()
    assert text.isascii()
    line = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in a line"))
    assert (line["message"], line["nan"], line["s"]) == ("\u00e9", None, "\u2603")
    logging.getLogger("x").info("big", extra={"huge": 2**70, "by_id": {7: "seven"}})
    line = json.loads(out.getvalue().splitlines()[-1])
    assert (line["huge"], line["by_id"]) == (2**70, {"7": "seven"})


SWITCHES = ("logThreads", "logProcesses", "logMultiprocessing")


def test_setup_leaves_the_logging_modules_switches_and_other_formats_working() -> None:
    """A server's own format with %(process)d still formats after setup_logging (gunicorn's)."""
    before = {name: getattr(logging, name) for name in SWITCHES}
    setup_logging("INFO", "json", io.StringIO(), environ={})
    assert {name: getattr(logging, name) for name in SWITCHES} == before
    record = logging.LogRecord("gunicorn.error", logging.INFO, "f.py", 1, "Booting", None, None)
    line = logging.Formatter("[%(process)d] [%(thread)d] %(message)s").format(record)
    assert line.startswith(f"[{os.getpid()}] [")


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_access_records_carry_the_fields_a_standard_record_has(asgi: bool) -> None:
    """Another handler formatting thread and process fields gets them on access lines too."""
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    falcon.testing.TestClient(make_app(asgi)).simulate_get("/items/a1")
    (record,) = [r for r in seen if r.name == "common_utils.access"]
    plain = logging.LogRecord("x", logging.INFO, __file__, 0, "m", None, None)
    assert set(record.__dict__) >= set(plain.__dict__)
    assert (record.process, record.processName) == (plain.process, plain.processName)
    assert isinstance(record.thread, int)
    assert isinstance(record.threadName, str)
    assert (record.filename, record.module, record.funcName) == ("logs.py", "logs", "access")
    assert abs(record.created - time.time()) < 60
    assert record.getMessage() == "GET /items/a1 200"
    text = logging.Formatter("%(asctime)s [%(process)d] %(threadName)s %(message)s")
    assert text.format(record).endswith(f"[{os.getpid()}] {record.threadName} GET /items/a1 200")


def test_access_records_follow_the_switches_and_a_record_factory_of_the_service() -> None:
    """Switched off, the fields are None as on any record; a record factory is honoured."""
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    logging.getLogger().setLevel(logging.INFO)
    client = falcon.testing.TestClient(make_app(False))
    factory = logging.getLogRecordFactory()

    def tagged(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.tagged = True
        return record

    try:
        for name in SWITCHES:
            setattr(logging, name, False)
        client.simulate_get("/items/a1")
        logging.setLogRecordFactory(tagged)
        client.simulate_get("/items/a2")
    finally:
        logging.setLogRecordFactory(factory)
        for name in SWITCHES:
            setattr(logging, name, True)
    first, second = [r for r in seen if r.name == "common_utils.access"]
    assert (first.thread, first.threadName, first.process, first.processName) == (None,) * 4
    assert getattr(second, "tagged", False) is True
    assert second.getMessage() == "GET /items/a2 200"


def test_server_logging_config_makes_gunicorn_and_uvicorn_lines_json() -> None:
    """The recipe: the servers' loggers through the JSON handler, their access lines off."""
    import logging.config

    server_loggers = ("gunicorn.error", "gunicorn.access", "uvicorn", "uvicorn.error")
    saved = {name: logging.getLogger(name).propagate for name in server_loggers}
    out = io.StringIO()
    try:
        logging.config.dictConfig(logs.server_logging_config())
        root = logging.getLogger()
        (handler,) = [h for h in root.handlers if h.get_name() == "common_utils.logs"]
        handler.setStream(out)  # type: ignore[attr-defined]
        logging.getLogger("gunicorn.error").info("Booting worker with pid: %s", 42)
        logging.getLogger("uvicorn.error").warning("Application startup failed")
        logging.getLogger("gunicorn.access").info("GET / 200")
        logging.getLogger("uvicorn.access").info("GET / 200")
        # The service's own setup replaces the server's handler: never a line twice.
        setup_logging("INFO", "json", out, environ={})
        logging.getLogger("gunicorn.error").info("Worker exiting")
    finally:
        for name, propagate in saved.items():
            logging.getLogger(name).propagate = propagate
            logging.getLogger(name).setLevel(logging.NOTSET)
    lines = json_lines(out.getvalue())
    assert [(line["logger"], line["message"]) for line in lines] == [
        ("gunicorn.error", "Booting worker with pid: 42"),
        ("uvicorn.error", "Application startup failed"),
        ("gunicorn.error", "Worker exiting"),
    ]
    assert logs.server_logging_config() == json.loads(json.dumps(logs.server_logging_config()))


def test_server_logging_config_does_not_read_log_level() -> None:
    """A bad LOG_LEVEL is the service's start-up error (one line), not a server traceback."""
    env = dict(os.environ, LOG_LEVEL="LOUD")
    code = (
        "import logging, logging.config\n"
        "from common_utils.logs import server_logging_config\n"
        "logging.config.dictConfig(server_logging_config())\n"
        "logging.getLogger('gunicorn.error').info('up')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert (done.returncode, done.stderr) == (0, "")
    (line,) = json_lines(done.stdout)
    assert (line["logger"], line["message"]) == ("gunicorn.error", "up")


def test_access_lines_pass_through_the_loggers_filters_and_handlers() -> None:
    out = io.StringIO()
    setup_logging("INFO", "json", out, environ={})
    access = logging.getLogger("common_utils.access")
    seen: list[logging.LogRecord] = []

    def only_errors(record: logging.LogRecord) -> bool:
        seen.append(record)
        return bool(record.status >= 400)

    access.addFilter(only_errors)
    try:
        client = falcon.testing.TestClient(make_app(False))
        client.simulate_get("/items/ok")
        client.simulate_get("/nowhere")
    finally:
        access.removeFilter(only_errors)
    (line,) = [line for line in json_lines(out.getvalue()) if line["logger"] != "echo"]
    assert (line["route"], line["status"], line["logger"]) == (None, 404, "common_utils.access")
    assert [r.getMessage() for r in seen] == ["GET /items/ok 200", "GET /nowhere 404"]
    assert seen[0].funcName == "access"


# --------------------------------------------------------------------------- the direct access line


class Fixed:
    """Every clock the access line reads, stopped: two requests give byte-identical lines."""

    def __enter__(self) -> Fixed:
        self._patch = pytest.MonkeyPatch()
        self._patch.setattr(time, "time", lambda: 1767225600.25)
        # Python 3.13's LogRecord reads time_ns(), the others time()
        self._patch.setattr(time, "time_ns", lambda: 1767225600_250_000_000)
        self._patch.setattr(time, "perf_counter", lambda: 42.0)
        self._patch.setattr(os, "urandom", lambda n: bytes(range(n)))  # the generated ids
        return self

    def __exit__(self, *exc: object) -> None:
        self._patch.undo()


def _pass_all(record: logging.LogRecord) -> bool:
    return True


@contextlib.contextmanager
def only_library_handler() -> Iterator[None]:
    """Take pytest's capturing handlers off the root logger: the library's is the only one."""
    root = logging.getLogger()
    others = [h for h in root.handlers if h.get_name() != "common_utils.logs"]
    for handler in others:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in others:
            root.addHandler(handler)


def _both_paths(requests: list[dict[str, Any]], static_env: dict[str, str]) -> tuple[str, str]:
    """Return what the requests log with the library's own configuration, then through logging."""
    out = io.StringIO()
    setup_logging("INFO", "json", out, environ=static_env)
    root = logging.getLogger()
    assert [h.get_name() for h in root.handlers] == ["common_utils.logs"]
    access = logging.getLogger("common_utils.access")
    client = falcon.testing.TestClient(make_app(False, headers=["X-Forwarded-For", "X-Tenant"]))
    texts = []
    for through_logging in (False, True):
        if through_logging:  # a filter that keeps every line: the normal path, the same line
            access.addFilter(_pass_all)
        try:
            with Fixed():
                for request in requests:
                    client.simulate_request(**request)
        finally:
            access.removeFilter(_pass_all)
        texts.append(out.getvalue())
        out.seek(0)
        out.truncate()
    return texts[0], texts[1]


_header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0x2FFF, exclude_categories=("Cs",)), max_size=30
).map(str.strip)
_requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(["GET", "HEAD", "POST", "DELETE"]),
        "path": st.one_of(
            st.text(max_size=20).map(lambda s: "/items/" + s.replace("/", "%2F")),
            st.sampled_from(["/stream", "/empty", "/nowhere", "/items/\u00e9t\u00e9"]),
        ),
        "headers": st.dictionaries(
            st.sampled_from(
                ["User-Agent", "X-Request-Id", "X-Forwarded-For", "X-Tenant", "X-Test-Auth"]
            ),
            _header_text,
        ),
    }
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(requests=st.lists(_requests, min_size=1, max_size=4), on_cf=st.booleans())
def test_access_line_is_the_same_bytes_written_directly_or_through_logging(
    requests: list[dict[str, Any]], on_cf: bool
) -> None:
    """The direct line and the normal logging path write byte-identical lines."""
    env = {"VCAP_APPLICATION": VCAP_APPLICATION} if on_cf else {}
    root = logging.getLogger()
    saved = list(root.handlers)
    try:
        with only_library_handler():
            direct, through_logging = _both_paths(requests, env)
    finally:
        for handler in list(root.handlers):
            if handler not in saved:
                root.removeHandler(handler)
    assert direct == through_logging
    access_lines = [r for r in json_lines(direct) if r["logger"] == "common_utils.access"]
    assert len(access_lines) == len(requests)


def _add_handler(seen: list[str]) -> Any:
    handler = logging.Handler()
    handler.addFilter(logging.Filter("common_utils.access"))
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger().addHandler(handler)
    return lambda: logging.getLogger().removeHandler(handler)


def _filter_access(seen: list[str]) -> Any:
    access = logging.getLogger("common_utils.access")
    access.addFilter(lambda record: seen.append(record.getMessage()) or False)  # type: ignore[func-returns-value]
    return lambda: access.filters.clear()


def _filter_handler(seen: list[str]) -> Any:
    (handler,) = logging.getLogger().handlers
    drop = logging.Filter("nothing-by-this-name")
    handler.addFilter(drop)
    return lambda: handler.removeFilter(drop)


def _handler_level(seen: list[str]) -> Any:
    (handler,) = logging.getLogger().handlers
    handler.setLevel(logging.WARNING)
    return lambda: handler.setLevel(logging.NOTSET)


def _plain_formatter(seen: list[str]) -> Any:
    (handler,) = logging.getLogger().handlers
    formatter = handler.formatter
    handler.setFormatter(logging.Formatter("plain %(message)s"))
    return lambda: handler.setFormatter(formatter)


def _record_factory(seen: list[str]) -> Any:
    factory = logging.getLogRecordFactory()

    def tagged(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.tagged = "yes"
        return record

    logging.setLogRecordFactory(tagged)
    return lambda: logging.setLogRecordFactory(factory)


def _no_propagation(seen: list[str]) -> Any:
    access = logging.getLogger("common_utils.access")
    access.propagate = False
    return lambda: setattr(access, "propagate", True)


def _handler_on_parent(seen: list[str]) -> Any:
    parent = logging.getLogger("common_utils")
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    parent.addHandler(handler)
    return lambda: parent.removeHandler(handler)


def _disable(seen: list[str]) -> Any:
    logging.disable(logging.INFO)
    return lambda: logging.disable(logging.NOTSET)


def _disabled_logger(seen: list[str]) -> Any:
    access = logging.getLogger("common_utils.access")
    access.disabled = True
    return lambda: setattr(access, "disabled", False)


@pytest.mark.parametrize(
    ("change", "written", "seen_lines"),
    [
        (_add_handler, ['"GET /items/b 200"'], ["GET /items/b 200"]),
        (_filter_access, [], ["GET /items/b 200"]),
        (_filter_handler, [], []),
        (_handler_level, [], []),
        (_plain_formatter, ["plain GET /items/b 200"], []),
        (_record_factory, ['"tagged"'], []),
        (_no_propagation, [], []),
        (_handler_on_parent, ['"GET /items/b 200"'], ["GET /items/b 200"]),
        (_disable, [], []),
        (_disabled_logger, [], []),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:] if callable(v) else "",
)
def test_a_logging_change_at_run_time_applies_from_the_next_request(
    change: Any, written: list[str], seen_lines: list[str]
) -> None:
    """A handler, filter, level, formatter or factory changed at run time is honoured at once."""
    out = io.StringIO()
    setup_logging("INFO", "json", out, environ={})
    client = falcon.testing.TestClient(make_app(False))
    seen: list[str] = []
    with only_library_handler():
        client.simulate_get("/items/a")
        undo = change(seen)
        try:
            client.simulate_get("/items/b")
        finally:
            undo()
        client.simulate_get("/items/c")
    lines = [line for line in out.getvalue().splitlines() if "inside" not in line]
    assert '"GET /items/a 200"' in lines[0]
    assert '"GET /items/c 200"' in lines[-1]
    assert len(lines) == 2 + len(written)
    for line, expected in zip(lines[1:-1], written, strict=True):
        assert expected in line
    assert seen == seen_lines


def test_the_librarys_own_configuration_writes_the_access_line_without_a_log_record(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With nothing but setup_logging's handler, no record reaches Logger.handle."""
    handled: list[str] = []
    original = logging.Logger.handle

    def handle(self: logging.Logger, record: logging.LogRecord) -> None:
        handled.append(record.name)
        original(self, record)

    monkeypatch.setattr(logging.Logger, "handle", handle)
    out = io.StringIO()
    setup_logging("INFO", "json", out, environ={})
    with only_library_handler():
        falcon.testing.TestClient(make_app(False)).simulate_get("/items/a")
    assert handled == ["echo"]  # the resource's own line; the access line went directly
    assert [line["message"] for line in json_lines(out.getvalue())] == [
        "inside",
        "GET /items/a 200",
    ]
