"""The service over HTTP, served by a real uWSGI (as on Cloud Foundry) and gunicorn."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import pytest
from service_support import (
    SERVERS,
    SERVICE_ROOT,
    RunningService,
    base_environ,
    run_to_exit,
    spawn,
    vcap_services,
    wait_until_ready,
)

from common_utils.testing import TokenIssuer

TALK_INPUT = {"abra": 123, "kadabra": 4}
TALK_OUTPUT = {"abra": 123}


def post(service: RunningService, body: bytes | str, token: str | None, content_type: str):
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return service.request("POST", "/", body=body, headers=headers)


# --------------------------------------------------------------------------- public routes


def test_get_root_says_hello_world_as_text_plain(service: RunningService) -> None:
    resp = service.request("GET", "/")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text == "Hello world\n"


def test_health_answers_ok(service: RunningService) -> None:
    resp = service.request("GET", "/health")
    assert resp.status == 200
    assert resp.json()["status"] == "ok"


def test_version_reports_the_app_and_how_common_utils_was_loaded(
    service: RunningService,
) -> None:
    resp = service.request("GET", "/version")
    assert resp.status == 200
    doc = resp.json()
    assert doc["app"]["name"] == "example-app"
    # The service's own version comes from its git tag (or push-time stamp).
    assert doc["app"]["version"] == os.environ.get("EXPECT_APP_VERSION", doc["app"]["version"])
    library = doc["common_utils"]
    assert library["source"] in {"pip", "submodule"}
    assert Path(library["path"]).name == "common_utils"
    if expected := os.environ.get("EXPECT_LIBRARY_VERSION"):
        assert library["version"] == expected
    expected = os.environ.get("EXPECT_LIBRARY_SOURCE")
    if expected:
        assert library["source"] == expected
    if expected == "submodule":
        submodule = SERVICE_ROOT / "submodules" / "common_utils" / "common_utils"
        assert Path(library["path"]) == submodule.resolve()
        assert library["shadowed_installation"] is None


def test_openapi_document_describes_every_route(service: RunningService) -> None:
    resp = service.request("GET", "/openapi.json")
    assert resp.status == 200
    doc = resp.json()
    assert doc["openapi"].startswith("3.1")
    assert doc["info"]["title"] == "example-app"
    assert {"/", "/health", "/version"} <= set(doc["paths"])
    assert {"get", "post"} <= set(doc["paths"]["/"])


def test_docs_serve_swagger_ui_without_any_outside_url(service: RunningService) -> None:
    resp = service.request("GET", "/docs")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("text/html")
    page = resp.text
    assert "swagger" in page.lower()
    # Offline: every script and stylesheet comes from this service.
    assert not re.findall(r"""(?:src|href)=["']https?://""", page)


# --------------------------------------------------------------------------- auth


def test_post_without_token_gets_401_with_bearer_challenge(service: RunningService) -> None:
    resp = post(service, json.dumps(TALK_INPUT), None, "application/json")
    assert resp.status == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")
    assert "error=" not in resp.headers["www-authenticate"]
    assert resp.headers["content-type"] == "application/problem+json"


def test_post_with_token_without_the_scope_gets_403_insufficient_scope(
    service: RunningService, issuer: TokenIssuer
) -> None:
    token = issuer.token(scopes=["example.read"])
    resp = post(service, json.dumps(TALK_INPUT), token, "application/json")
    assert resp.status == 403
    assert 'error="insufficient_scope"' in resp.headers["www-authenticate"]
    assert "example.filter" in resp.headers["www-authenticate"]


@pytest.mark.parametrize(
    "bad_token",
    [TokenIssuer.forged_token, lambda issuer: issuer.token(exp=1_000_000_000, iat=999_999_000)],
    ids=["signed by an untrusted key", "expired"],
)
def test_post_with_a_bad_token_gets_401_invalid_token(
    service: RunningService, issuer: TokenIssuer, bad_token: Callable[[TokenIssuer], str]
) -> None:
    resp = post(service, json.dumps(TALK_INPUT), bad_token(issuer), "application/json")
    assert resp.status == 401
    assert 'error="invalid_token"' in resp.headers["www-authenticate"]


# --------------------------------------------------------------------------- the filter


def test_post_keeps_only_keys_starting_with_a_as_in_the_talk(
    service: RunningService, issuer: TokenIssuer
) -> None:
    resp = post(service, json.dumps(TALK_INPUT), issuer.token(), "application/json")
    assert resp.status == 200
    assert resp.headers["content-type"].startswith("application/json")
    assert resp.json() == TALK_OUTPUT


def test_post_filter_is_case_insensitive_and_keeps_values(
    service: RunningService, issuer: TokenIssuer
) -> None:
    body = {"Apple": [1, {"x": None}], "ALPHA": "é", "beta": 2, "": 0, "a": True}
    resp = post(service, json.dumps(body), issuer.token(), "application/json")
    assert resp.status == 200
    assert resp.json() == {"Apple": [1, {"x": None}], "ALPHA": "é", "a": True}


def test_post_accepts_json_with_charset_parameter(
    service: RunningService, issuer: TokenIssuer
) -> None:
    resp = post(service, json.dumps(TALK_INPUT), issuer.token(), "application/json; charset=utf-8")
    assert resp.status == 200
    assert resp.json() == TALK_OUTPUT


def test_post_text_plain_gets_415(service: RunningService, issuer: TokenIssuer) -> None:
    resp = post(service, json.dumps(TALK_INPUT), issuer.token(), "text/plain")
    assert resp.status == 415
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["status"] == 415


def test_post_malformed_json_gets_400(service: RunningService, issuer: TokenIssuer) -> None:
    resp = post(service, b'{"abra": 1', issuer.token(), "application/json")
    assert resp.status == 400
    assert resp.headers["content-type"] == "application/problem+json"


def test_post_json_array_gets_400(service: RunningService, issuer: TokenIssuer) -> None:
    resp = post(service, b'[{"abra": 1}]', issuer.token(), "application/json")
    assert resp.status == 400
    assert resp.headers["content-type"] == "application/problem+json"


def test_post_oversized_body_gets_413_before_it_is_sent(
    service: RunningService, issuer: TokenIssuer
) -> None:
    # The service answers from Content-Length alone; a client that kept sending the
    # whole body after that answer would only see a broken pipe. So send the head
    # and a first chunk, as a client waiting for the early answer does.
    length = 2 * 1024 * 1024
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{service.port}\r\n"
        f"Authorization: Bearer {issuer.token()}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as sock:
        sock.sendall(head.encode() + b'{"abra": "' + b"x" * 1000)
        resp = http.client.HTTPResponse(sock)
        resp.begin()
        body = resp.read()
    assert resp.status == 413
    assert resp.getheader("content-type") == "application/problem+json"
    assert json.loads(body)["status"] == 413


# --------------------------------------------------------------------------- operations


def test_request_id_from_the_router_is_echoed(service: RunningService) -> None:
    resp = service.request("GET", "/", headers={"X-Vcap-Request-Id": "router-id-123"})
    assert resp.headers["x-request-id"] == "router-id-123"


def test_request_id_is_generated_when_none_is_sent(service: RunningService) -> None:
    first = service.request("GET", "/").headers["x-request-id"]
    second = service.request("GET", "/").headers["x-request-id"]
    assert first
    assert first != second


def test_many_keep_alive_connections_are_served_side_by_side(
    service: RunningService, issuer: TokenIssuer
) -> None:
    # More open connections than workers, used in turn: a server that pins a worker
    # to one keep-alive connection (uWSGI's --http11-socket) stalls here.
    conns = [service.connection() for _ in range(8)]
    token = issuer.token()
    for _ in range(5):
        for conn in conns:
            assert service.request("GET", "/", conn=conn).status == 200
            assert post_on(service, conn, token).status == 200
    for conn in conns:
        conn.close()


def post_on(service: RunningService, conn, token: str):
    return service.request(
        "POST",
        "/",
        body=json.dumps(TALK_INPUT),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        conn=conn,
    )


def test_every_stdout_line_is_a_json_object_with_access_lines(
    service: RunningService, issuer: TokenIssuer
) -> None:
    token = issuer.token()
    service.request("GET", "/", headers={"X-Vcap-Request-Id": "stdout-check-1"})
    post_on(service, service.connection(), token)
    lines = service.stdout_lines()
    assert lines, "the service wrote nothing to stdout"
    records = []
    for line in lines:
        record = json.loads(line)
        assert isinstance(record, dict), line
        assert {"timestamp", "level", "logger", "message"} <= set(record)
        records.append(record)
    access = [r for r in records if r.get("request_id") == "stdout-check-1"]
    assert access
    assert access[-1]["status"] == 200
    assert access[-1]["route"] == "/"
    assert token not in service.stdout_path.read_text(encoding="utf-8")


# The logger each server writes its own lines with, once configured by the service's files.
SERVER_LOGGERS = {"gunicorn": "gunicorn.error", "uvicorn": "uvicorn.error"}


# uWSGI is not among them: it writes its own banner to stderr as text (uwsgi.ini).
@pytest.mark.parametrize("server", [name for name in SERVERS if name in SERVER_LOGGERS])
def test_the_servers_own_lines_are_json_on_stdout_and_stderr_stays_empty(
    server: str, service_env: dict[str, str], issuer: TokenIssuer, tmp_path: Path
) -> None:
    """A whole life (boot, requests, a refused one, SIGTERM): only JSON lines, only on stdout."""
    running = spawn(server, service_env, tmp_path)
    try:
        wait_until_ready(running)
        assert running.request("GET", "/").status == 200
        assert post(running, json.dumps(TALK_INPUT), None, "application/json").status == 401
        token = issuer.token()
        assert post(running, json.dumps(TALK_INPUT), token, "application/json").status == 200
    finally:
        # uvicorn re-raises SIGTERM after its graceful shutdown: -15 is a clean stop too.
        assert running.stop() in (0, -signal.SIGTERM)
    stderr = running.stderr_text()
    assert "Logging error" not in stderr
    assert stderr == ""
    records = []
    for line in running.stdout_lines():
        record = json.loads(line)
        assert isinstance(record, dict), line
        records.append(record)
    loggers = {record["logger"] for record in records}
    assert SERVER_LOGGERS[server] in loggers  # the server's own lines, now JSON
    assert "common_utils.access" in loggers
    # The access log is the one request line: the server's own is switched off.
    assert not any(name.endswith(".access") for name in loggers - {"common_utils.access"})
    refused = [r for r in records if r.get("status") == 401]
    assert refused
    assert isinstance(refused[0]["duration_ms"], float)


# --------------------------------------------------------------------------- bad configuration


CONFIG_ERRORS = {
    "no_jwt_service": ({}, "jwt"),
    "bad_port": ({"PORT": "abc"}, "PORT"),
    "bad_log_level": ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_ERRORS))
def test_bad_configuration_stops_startup_with_one_clear_line(
    case: str, server: str, issuer: TokenIssuer, jwks_uri: str, tmp_path: Path
) -> None:
    overrides, named = CONFIG_ERRORS[case]
    env = base_environ(**overrides)
    if case != "no_jwt_service":
        env["VCAP_SERVICES"] = vcap_services(issuer, jwks_uri)
    stopped = run_to_exit(server, env, tmp_path)
    stderr = stopped.stderr_text()
    ours = [line for line in stderr.splitlines() if "example-app: configuration error:" in line]
    assert stopped.process.returncode == 3
    assert len(ours) == 1, stderr
    assert named in ours[0]
    assert "Traceback" not in stderr
    for line in stopped.stdout_lines():  # stdout stays JSON even here
        assert isinstance(json.loads(line), dict), line
