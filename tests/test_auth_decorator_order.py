"""A caller without the scope gets 403 whatever order the decorators are stacked in.

Issue 31, item 3: with ``@validate`` above ``require_scopes``, ``validate``'s
wrapper ran first, so a token without the scope got a 422 listing the schema's
fields (and the body was read) instead of a 403.
"""

from __future__ import annotations

import io
import json
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pytest
from falcon.util import async_to_sync

from common_utils.auth import JWTAuthMiddleware, Secret, require_scopes
from common_utils.problems import problem_error_serializer
from common_utils.validation import validate
from tests.auth_support import AUDIENCE, ISSUER, SECRET, bearer, token

SCHEMA = {"secret_plan": {"type": "string", "required": True}}
PARAMS = {"internal_flag": {"type": "boolean", "required": True}}
WRITE = require_scopes("orders.write")
QUERY = "internal_flag=true"  # the parameters pass: only the body schema is left to reveal


class ValidateAbove:
    @validate(body=SCHEMA, params=PARAMS)
    @falcon.before(WRITE)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = req.context.body


class ScopesAbove:
    @falcon.before(WRITE)
    @validate(body=SCHEMA, params=PARAMS)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = req.context.body


@validate(body=SCHEMA, params=PARAMS)
@falcon.before(WRITE)
class ClassLevel:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = req.context.body


@validate(body=SCHEMA, params=PARAMS)
class ClassValidateMethodScopes:
    @falcon.before(WRITE)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = req.context.body


class AsyncValidateAbove:
    @validate(body=SCHEMA, params=PARAMS)
    @falcon.before(WRITE)
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = req.context.body


class AsyncScopesAbove:
    @falcon.before(WRITE)
    @validate(body=SCHEMA, params=PARAMS)
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = req.context.body


RESOURCES = {
    "validate above": (ValidateAbove, False),
    "scopes above": (ScopesAbove, False),
    "class validate and hook": (ClassLevel, False),
    "class validate, method hook": (ClassValidateMethodScopes, False),
    "async validate above": (AsyncValidateAbove, True),
    "async scopes above": (AsyncScopesAbove, True),
}


def _app(name: str, *, middleware: bool = True) -> tuple[Any, bool]:
    cls, asgi = RESOURCES[name]
    auth = JWTAuthMiddleware(
        keys=Secret(SECRET), issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"]
    )
    stack = [auth] if middleware else []
    app = falcon.asgi.App(middleware=stack) if asgi else falcon.App(middleware=stack)
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/orders", cls())
    return app, asgi


def _post(name: str, headers: dict[str, str], *, middleware: bool = True) -> tuple[int, str, bool]:
    """POST a body the schema refuses; return status, response text and whether it was read."""
    app, asgi = _app(name, middleware=middleware)
    body = json.dumps({"wrong": 1}).encode()
    read: list[bool] = []
    raw_headers = {"Content-Type": "application/json", **headers}
    if asgi:
        sent: list[dict[str, Any]] = []

        events = [
            {"type": "http.request", "body": b"", "more_body": True},
            {"type": "http.request", "body": body, "more_body": False},
        ]

        async def receive() -> dict[str, Any]:
            # Falcon awaits the first event up front and drains an unread body after the
            # response: only an event taken in between is a read of the body.
            if len(events) < 2 and not sent:
                read.append(True)
            return events.pop(0) if events else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = falcon.testing.create_scope(
            "/orders",
            method="POST",
            headers=raw_headers,
            content_length=len(body),
            query_string=QUERY,
        )
        # Falcon's own runner: asyncio.run() would unset the loop its TestClient reuses on 3.10.
        async_to_sync(app, scope, receive, send)
        status = sent[0]["status"]
        text = b"".join(m.get("body", b"") for m in sent[1:]).decode()
        return status, text, bool(read)

    class Stream(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            read.append(True)
            return super().read(size)

    environ = falcon.testing.create_environ(
        "/orders", method="POST", headers=raw_headers, body=body, query_string=QUERY
    )
    environ["wsgi.input"] = Stream(body)
    statuses: list[str] = []
    chunks = app(environ, lambda status, headers: statuses.append(status))
    return int(statuses[0][:3]), b"".join(chunks).decode(), bool(read)


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_a_token_without_the_scope_gets_403_before_the_body_is_read(name):
    headers = bearer(token(SECRET, "HS256", scope=["other"]))
    status, text, read = _post(name, headers)
    assert status == 403, text
    assert "secret_plan" not in text
    assert "internal_flag" not in text
    assert not read


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_no_verified_token_gets_401_before_the_schema(name):
    """Without the middleware's context (an exempt route), the hook's 401 comes first."""
    status, text, read = _post(name, {}, middleware=False)
    assert status == 401, text
    assert "secret_plan" not in text
    assert not read


@pytest.mark.parametrize("name", sorted(RESOURCES))
def test_a_token_with_the_scope_is_validated_as_before(name):
    client = falcon.testing.TestClient(_app(name)[0])
    headers = bearer(token(SECRET, "HS256", scope=["orders.write"]))
    bad = client.simulate_post("/orders", json={}, headers=headers)
    assert bad.status_code == 422
    good = client.simulate_post(
        "/orders",
        json={"secret_plan": "x"},
        params={"internal_flag": "true"},
        headers=headers,
    )
    assert good.json == {"secret_plan": "x"}
