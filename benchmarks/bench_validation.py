"""Per-request cost of ``common_utils.validation.validate`` against bare Cerberus.

Every app below is a real ``falcon.App`` called through WSGI with a fresh
environ and body stream per call (no HTTP, no ``falcon.testing`` overhead), all
answering the same valid order document with the same tiny response.

Definitions (all times are medians per call, measured interleaved in one run):

- ``T_bare``: ``validator.validate(doc)`` plus ``validator.document`` on an
  already-parsed document with one reused ``cerberus.Validator``: the least
  work any Cerberus validation can do.
- ``T_plain``: a request whose responder only reads the body bytes: the
  Falcon cost every variant pays anyway.
- ``T_x``: the same request through variant ``x``.

The reported ratio of a variant is ``(T_x - T_plain) / T_bare``: what the
variant adds to a request, in units of a bare reused validation. For
``@validate`` that addition includes the media-type and size checks, strict
UTF-8 + JSON parsing, the nesting check, the thread-local lookup and storing
the results, so the target ``<= 1.2`` means "at most 20 % on top of the
validation itself, parsing included".

Variants: ``@validate``; the naive hand-written pattern (``req.get_media()``
and a new ``cerberus.Validator`` per request, which re-parses the schema); a
hand-written responder with a shared reused validator (fast but not
thread-safe); and Falcon's ``falcon.media.validators.jsonschema.validate`` with
an equivalent JSON Schema.
"""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from typing import Any

import cerberus
import falcon
import falcon.testing
from _harness import Result, interleaved
from falcon.media.validators import jsonschema as falcon_jsonschema

from common_utils.validation import validate

SCHEMA: dict[str, Any] = {
    "sku": {"type": "string", "required": True, "regex": "^[A-Z0-9-]{3,32}$"},
    "quantity": {"type": "integer", "min": 1, "max": 1000},
    "tags": {"type": "list", "schema": {"type": "string"}, "maxlength": 10},
    "note": {"type": "string", "maxlength": 200},
    "address": {
        "type": "dict",
        "schema": {"city": {"type": "string", "required": True}, "zip": {"type": "string"}},
    },
}
JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["sku"],
    "properties": {
        "sku": {"type": "string", "pattern": "^[A-Z0-9-]{3,32}$"},
        "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 10},
        "note": {"type": "string", "maxLength": 200},
        "address": {
            "type": "object",
            "additionalProperties": False,
            "required": ["city"],
            "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
        },
    },
}
DOC = {
    "sku": "AB-1234",
    "quantity": 3,
    "tags": ["red", "small", "gift"],
    "note": "leave at the door",
    "address": {"city": "Berlin", "zip": "10115"},
}
BODY = json.dumps(DOC).encode()


class _Plain:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        req.bounded_stream.read()
        resp.text = "ok"


class _Validated:
    @validate(body=SCHEMA)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = "ok"


class _Naive:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        validator = cerberus.Validator(SCHEMA)
        if not validator.validate(req.get_media()):
            raise falcon.HTTPUnprocessableEntity(description=str(validator.errors))
        req.context.body = validator.document
        resp.text = "ok"


_SHARED = cerberus.Validator(SCHEMA)


class _Reused:
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not _SHARED.validate(req.get_media()):
            raise falcon.HTTPUnprocessableEntity(description=str(_SHARED.errors))
        req.context.body = _SHARED.document
        resp.text = "ok"


class _JsonSchema:
    @falcon_jsonschema.validate(JSON_SCHEMA)
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = "ok"


def _caller(resource: object) -> Callable[[], object]:
    app = falcon.App()
    app.add_route("/orders", resource)
    template = falcon.testing.create_environ(
        "/orders", method="POST", body=BODY, headers={"Content-Type": "application/json"}
    )
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> Callable[[bytes], None]:
        statuses.append(status)
        return lambda data: None

    def call() -> object:
        environ = dict(template)
        environ["wsgi.input"] = io.BytesIO(BODY)
        return app(environ, start_response)

    call()
    assert statuses[-1].startswith("200"), statuses[-1]
    return call


def run(quick: bool) -> list[Result]:
    bare_validator = cerberus.Validator(SCHEMA)
    doc = json.loads(BODY)

    def bare() -> object:
        bare_validator.validate(doc)
        return bare_validator.document

    def bare_with_parse() -> object:
        bare_validator.validate(json.loads(BODY))
        return bare_validator.document

    timings = interleaved(
        {
            "bare": bare,
            "bare+json.loads": bare_with_parse,
            "plain": _caller(_Plain()),
            "validate": _caller(_Validated()),
            "naive": _caller(_Naive()),
            "reused": _caller(_Reused()),
            "jsonschema": _caller(_JsonSchema()),
        },
        quick=quick,
    )
    us = {name: t.median_us for name, t in timings.items()}
    base = us["bare"]

    def added(name: str) -> float:
        return (us[name] - us["plain"]) / base

    details = {f"{name}_us": round(value, 2) for name, value in us.items()}
    ratio = added("validate")
    results = [
        Result(
            "validation",
            "@validate added per request / bare reused Validator.validate",
            round(ratio, 3),
            "x",
            target="<= 1.2",
            passed=ratio <= 1.2,
            details=details,
            note="(T_validate - T_plain) / T_bare; includes media type, size, UTF-8, JSON "
            "parse and nesting checks; bare+json.loads shown for reference",
        )
    ]
    for name, label, note in (
        ("naive", "new cerberus.Validator per request", "re-parses the schema every request"),
        ("reused", "hand-written shared Validator", "not thread-safe; no 400/415/413 handling"),
        ("jsonschema", "falcon jsonschema.validate", "checks the schema every call, one error"),
    ):
        results.append(
            Result(
                "validation",
                f"{label} added per request / bare",
                round(added(name), 3),
                "x",
                details={f"{name}_us": round(us[name], 2), "plain_us": round(us["plain"], 2)},
                note=note,
            )
        )
    return results


if __name__ == "__main__":
    for result in run(quick="--quick" in sys.argv):
        print(result.as_dict())
