"""common_utils.service: the skeleton every service wires, and its start-up line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pytest

from common_utils.auth import JWTAuthMiddleware
from common_utils.cfenv import CFEnv
from common_utils.service import CONFIGURATION_ERROR_EXIT_STATUS, build_or_exit, create_app
from common_utils.testing import LogCapture, TokenIssuer, service_entry, vcap_services

SECRET = "a-development-secret-of-32-bytes-or-more"


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer(algorithm="HS256", secret=SECRET, scopes=["orders.read"])


def _auth(issuer: TokenIssuer) -> JWTAuthMiddleware:
    env = CFEnv(environ={"VCAP_SERVICES": vcap_services(issuer.service())})
    return JWTAuthMiddleware.from_service(env.service(tag="jwt"))


class Orders:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"orders": []}

    async def on_get_async(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"orders": []}


def _app(issuer: TokenIssuer, *, asgi: bool, **kwargs: Any) -> falcon.App[Any, Any]:
    app = create_app(name="orders", version="1.4.0", auth=_auth(issuer), asgi=asgi, **kwargs)
    app.add_route("/orders", Orders(), **({"suffix": "async"} if asgi else {}))
    return app


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_refused_request_is_logged_and_measured_with_its_request_id(
    issuer: TokenIssuer, asgi: bool
) -> None:
    """Request id, then access log, then auth: a 401 gets one access line with a duration."""
    client = falcon.testing.TestClient(_app(issuer, asgi=asgi))
    with LogCapture() as logs:
        result = client.simulate_get("/orders", headers={"X-Vcap-Request-Id": "req-401"})
    assert result.status_code == 401
    assert result.headers["x-request-id"] == "req-401"
    (line,) = logs.lines("common_utils.access")
    assert (line["status"], line["path"], line["request_id"]) == (401, "/orders", "req-401")
    assert isinstance(line["duration_ms"], float)


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize("route", ["/health", "/version", "/openapi.json", "/docs"])
def test_the_skeleton_routes_are_public(issuer: TokenIssuer, asgi: bool, route: str) -> None:
    client = falcon.testing.TestClient(_app(issuer, asgi=asgi))
    assert client.simulate_get(route).status_code == 200


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_the_service_route_needs_a_token(issuer: TokenIssuer, asgi: bool) -> None:
    """The service's own route needs a token, and the document says which routes do."""
    client = falcon.testing.TestClient(_app(issuer, asgi=asgi))
    assert client.simulate_get("/orders").status_code == 401
    token = issuer.token()
    authorized = client.simulate_get("/orders", headers={"Authorization": f"Bearer {token}"})
    assert authorized.json == {"orders": []}
    document = client.simulate_get("/openapi.json").json
    assert document["info"] == {"title": "orders", "version": "1.4.0"}
    assert document["paths"]["/health"]["get"]["security"] == []
    assert "security" not in document["paths"]["/orders"]["get"]


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/nowhere", 401), ("GET", "/orders", 401), ("DELETE", "/health", 405)],
    ids=["unrouted", "no-token", "method-not-allowed"],
)
def test_errors_are_problem_json(
    issuer: TokenIssuer, asgi: bool, method: str, path: str, status: int
) -> None:
    """Falcon's own errors and the auth refusals answer application/problem+json."""
    client = falcon.testing.TestClient(_app(issuer, asgi=asgi))
    result = client.simulate_request(method, path)
    assert result.headers["content-type"] == "application/problem+json"
    assert result.json["status"] == status


def test_health_runs_the_given_checks(issuer: TokenIssuer) -> None:
    """health_checks reach /health: a failing check is a 503 naming it."""
    client = falcon.testing.TestClient(
        _app(issuer, asgi=False, health_checks={"db": lambda: False})
    )
    result = client.simulate_get("/health")
    assert (result.status_code, result.json["failing"]) == (503, ["db"])


def test_extra_middleware_runs_after_auth(issuer: TokenIssuer) -> None:
    """middleware= comes after auth: it never sees a refused request."""
    seen: list[str] = []

    class Record:
        def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
            seen.append(req.path)

    client = falcon.testing.TestClient(_app(issuer, asgi=False, middleware=[Record()]))
    client.simulate_get("/orders")
    client.simulate_get("/orders", headers={"Authorization": f"Bearer {issuer.token()}"})
    assert seen == ["/orders"]


def test_build_or_exit_returns_what_the_factory_built() -> None:
    """Without a configuration error it is a plain call."""
    assert build_or_exit(lambda: 42, name="orders") == 42


def test_build_or_exit_lets_a_bug_through_with_its_traceback() -> None:
    """Only ConfigurationError becomes the one line; any other exception propagates."""

    def broken() -> None:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        build_or_exit(broken, name="orders")


_START_UP = """
from common_utils.auth import JWTAuthMiddleware
from common_utils.cfenv import CFEnv
from common_utils.service import build_or_exit, create_app


def make_app():
    env = CFEnv()
    auth = JWTAuthMiddleware.from_service(env.service(tag="jwt"))
    return create_app(name="orders", version="1.4.0", auth=auth)


app = build_or_exit(make_app, name="orders")
print("started")
"""

_SHORT_SECRET = "short-secret-value"
_BAD_ENVIRONMENTS = {
    "bad-port": ({"PORT": "http"}, "orders: configuration error: PORT must be an integer"),
    "no-binding": ({}, "orders: configuration error: no bound service matches tag='jwt'"),
    "short-secret": (
        {
            "VCAP_SERVICES": vcap_services(
                service_entry(
                    "jwt",
                    tags=["jwt"],
                    credentials={
                        "issuer": "https://uaa.test/oauth/token",
                        "audience": "orders",
                        "secret": _SHORT_SECRET,
                        "algorithms": ["HS256"],
                    },
                )
            )
        },
        "orders: configuration error: ",
    ),
}


@pytest.mark.parametrize(
    ("environ", "line_start"), list(_BAD_ENVIRONMENTS.values()), ids=list(_BAD_ENVIRONMENTS)
)
def test_configuration_error_at_start_up_prints_one_line_and_exits_3(
    tmp_path: Path, environ: dict[str, str], line_start: str
) -> None:
    """A real process: status 3, one stderr line naming the setting, no traceback, no secret."""
    script = tmp_path / "wsgi.py"
    script.write_text(_START_UP, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1", **environ}
    completed = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == CONFIGURATION_ERROR_EXIT_STATUS, completed.stderr
    assert completed.stdout == ""
    (line,) = completed.stderr.splitlines()
    assert line.startswith(line_start)
    assert "Traceback" not in completed.stderr
    assert _SHORT_SECRET not in completed.stderr


def test_a_good_environment_starts(tmp_path: Path, issuer: TokenIssuer) -> None:
    """The same start-up with a usable binding builds the app and goes on."""
    script = tmp_path / "wsgi.py"
    script.write_text(_START_UP, encoding="utf-8")
    env = {"PATH": "/usr/bin:/bin", "VCAP_SERVICES": vcap_services(issuer.service())}
    completed = subprocess.run(
        [sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (completed.returncode, completed.stdout) == (0, "started\n"), completed.stderr
