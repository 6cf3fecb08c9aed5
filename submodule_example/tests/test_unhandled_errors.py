"""An unhandled exception: one JSON log line with the request id, a bare 500 for the client."""

from __future__ import annotations

import json
from typing import Any

import falcon
import pytest
from example_app.app import create_app
from falcon import testing


class _Broken:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise RuntimeError("database password is hunter2")


class _Missing:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise falcon.HTTPNotFound()


def _app_with_broken_routes(environ: dict[str, str]) -> falcon.App[Any, Any]:
    app = create_app(environ)
    app.add_route("/broken", _Broken())
    app.add_route("/missing", _Missing())
    return app


def test_unhandled_exception_is_one_json_line_with_the_request_id(
    environ: dict[str, str], auth_headers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client = testing.TestClient(_app_with_broken_routes(environ))
    capsys.readouterr()  # drop the start-up lines
    resp = client.simulate_get("/broken", headers={**auth_headers, "X-Vcap-Request-Id": "req-500"})
    assert resp.status_code == 500
    assert resp.headers["content-type"] == "application/problem+json"
    assert resp.json == {"type": "about:blank", "title": "Internal Server Error", "status": 500}
    assert "hunter2" not in resp.text

    out, err = capsys.readouterr()
    assert err == ""  # nothing through wsgi.errors
    lines = [json.loads(line) for line in out.splitlines()]
    error = next(line for line in lines if line["level"] == "ERROR")
    assert error["message"] == "unhandled RuntimeError in GET /broken"
    assert error["request_id"] == "req-500"
    assert error["exception"].endswith("RuntimeError: database password is hunter2")
    access = next(line for line in lines if line["logger"] == "common_utils.access")
    assert access["status"] == 500


def test_http_errors_keep_their_own_handler(
    environ: dict[str, str], auth_headers: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    client = testing.TestClient(_app_with_broken_routes(environ))
    capsys.readouterr()
    resp = client.simulate_get("/missing", headers=auth_headers)
    assert resp.status_code == 404
    assert resp.json["title"] == "Not Found"
    out, _ = capsys.readouterr()
    assert all(json.loads(line)["level"] != "ERROR" for line in out.splitlines())
