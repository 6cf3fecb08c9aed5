"""RFC 9457 problem+json rendering of Falcon errors."""

from __future__ import annotations

import json

import falcon
import falcon.asgi
import falcon.testing
import pytest

from common_utils.problems import (
    PROBLEM_JSON,
    ProblemError,
    problem_dict,
    problem_error_serializer,
)


class _Raises:
    def __init__(self, error: falcon.HTTPError) -> None:
        self.error = error

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        raise self.error


class _RaisesAsync(_Raises):
    async def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:  # type: ignore[override]
        raise self.error


def _client(error: falcon.HTTPError, *, asgi: bool = False) -> falcon.testing.TestClient:
    app: falcon.App = falcon.asgi.App() if asgi else falcon.App()
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/", _RaisesAsync(error) if asgi else _Raises(error))
    return falcon.testing.TestClient(app)


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_problem_error_renders_problem_json_with_extensions(asgi: bool) -> None:
    error = ProblemError(
        422,
        detail="2 fields are invalid",
        extensions={"errors": [{"field": "sku", "message": "required field"}]},
    )
    result = _client(error, asgi=asgi).simulate_get("/")
    assert result.status_code == 422
    assert result.headers["content-type"] == PROBLEM_JSON
    assert result.json == {
        "type": "about:blank",
        "title": "Unprocessable Entity",
        "status": 422,
        "detail": "2 fields are invalid",
        "errors": [{"field": "sku", "message": "required field"}],
    }


def test_falcon_builtin_errors_become_problems_without_detail() -> None:
    result = _client(falcon.HTTPNotFound()).simulate_get("/")
    assert result.status_code == 404
    assert result.headers["content-type"] == PROBLEM_JSON
    assert result.json == {"type": "about:blank", "title": "Not Found", "status": 404}


def test_unrouted_path_is_a_problem_too() -> None:
    result = _client(falcon.HTTPNotFound()).simulate_get("/nowhere")
    assert result.json["status"] == 404


def test_custom_title_type_and_headers_are_kept() -> None:
    error = ProblemError(
        401,
        title="Invalid token",
        type_uri="https://docs.example/problems/invalid-token",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )
    result = _client(error).simulate_get("/")
    assert result.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert result.json["title"] == "Invalid token"
    assert result.json["type"] == "https://docs.example/problems/invalid-token"


def test_description_of_plain_http_error_becomes_detail() -> None:
    problem = problem_dict(falcon.HTTPBadRequest(description="body is not JSON"))
    assert problem["detail"] == "body is not JSON"
    assert problem["title"] == "Bad Request"


@pytest.mark.parametrize("member", ["type", "title", "status", "detail", "instance"])
def test_extensions_cannot_shadow_standard_members(member: str) -> None:
    with pytest.raises(ValueError, match="may not redefine"):
        ProblemError(400, extensions={member: "x"})


def test_body_is_compact_json() -> None:
    result = _client(falcon.HTTPForbidden()).simulate_get("/")
    assert json.loads(result.text) == result.json
    assert ", " not in result.text


def test_falcons_default_serializer_shows_the_extension_members() -> None:
    """An app that never installed problem_error_serializer still shows what was wrong."""
    errors = [{"field": "sku", "message": "required field"}]

    class Orders:
        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            raise ProblemError(
                422,
                detail="1 field is invalid",
                type_uri="/problems/x",
                extensions={"errors": errors},
            )

    app = falcon.App()  # Falcon's own JSON error serializer
    app.add_route("/orders", Orders())
    result = falcon.testing.TestClient(app).simulate_post("/orders")
    assert result.status_code == 422
    assert result.json == {
        "title": "422 Unprocessable Entity",
        "description": "1 field is invalid",
        "errors": errors,
        "type": "/problems/x",
    }


def test_the_default_serializer_keeps_falcons_own_members_over_extensions() -> None:
    error = ProblemError(400, detail="bad", extensions={"description": "x", "code": 7})
    assert error.to_dict()["description"] == "bad"
    assert error.to_dict()["code"] == 7
