"""Build the OpenAPI 3.1 document of a Falcon app from its routes and schemas."""

from __future__ import annotations

import ast
import http
import inspect
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

import falcon

from common_utils._compat import routes
from common_utils.errors import ConfigurationError
from common_utils.openapi._convert import cerberus_rules_to_json_schema, cerberus_to_json_schema
from common_utils.problems import PROBLEM_JSON

__all__ = ["build_document", "operation"]

_F = TypeVar("_F", bound=Callable[..., Any])
_DOC_ATTR = "__openapi_operation__"
_FIELD_RE = re.compile(r"{(?P<name>\w+)(?::(?P<conv>\w+)(?:\((?P<args>.*?)\))?)?}")
_PROBLEM_REF = {"$ref": "#/components/schemas/Problem"}
_VALIDATION_REF = {"$ref": "#/components/schemas/ValidationProblem"}
_SCHEME = "bearerAuth"

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "properties": {
        "type": {"type": "string", "format": "uri-reference", "default": "about:blank"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 100, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string", "format": "uri-reference"},
    },
    "required": ["title", "status"],
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    "allOf": [
        _PROBLEM_REF,
        {
            "type": "object",
            "properties": {
                "errors": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "message": {"type": "string"}},
                        "required": ["field", "message"],
                    },
                }
            },
        },
    ],
}
_ERROR_TEXT = {
    400: "Bad request: malformed JSON, a body that is not an object, or a bad query parameter.",
    401: "Missing or invalid bearer token.",
    403: "The token lacks a required scope.",
    413: "The body is larger than the limit.",
    415: "The body is not JSON (`application/json` or a `+json` type).",
    422: "The body or a query parameter does not match the schema.",
}


def operation(
    *,
    summary: str | None = None,
    description: str | None = None,
    tags: Iterable[str] | None = None,
    responses: Mapping[int | str, str | Mapping[str, Any]] | None = None,
    response_schema: Mapping[str, Any] | None = None,
    deprecated: bool = False,
) -> Callable[[_F], _F]:
    """Document a responder beyond what its docstring and schemas say.

    Without it, the first line of the responder's docstring is the summary and
    the rest its description.

    Keyword Args:
        summary: One-line summary.
        description: Longer description (CommonMark).
        tags: Tags that group the operation in Swagger UI (default: the
            route's first path segment, ``orders`` for ``/v1/orders/{id}``;
            the resource class name for ``/``).
        responses: Extra responses: status -> description, or an OpenAPI
            Response Object. They replace the generated ones of that status.
        response_schema: JSON Schema of the ``application/json`` body of the
            success response: ``200``, or the one 2xx status ``responses``
            documents instead (``{201: "Created"}``); a description given
            there is kept, and so is the schema.
        deprecated: Mark the operation deprecated.

    Returns:
        A decorator that returns the responder unchanged (it only attaches data).

    Raises:
        ConfigurationError: ``response_schema`` with several 2xx statuses in
            ``responses`` and no ``200``: which one it describes is not said
            (give each its schema in ``responses`` instead). Raised where the
            decorator is applied, at import, so the service does not start.

    Examples:
        >>> class Things:
        ...     @operation(summary="List things", response_schema={"type": "array"})
        ...     def on_get(self, req, resp):
        ...         resp.media = []
    """
    successes = sorted(str(status) for status in (responses or {}) if str(status)[:1] == "2")
    if response_schema is not None and len(successes) > 1 and "200" not in successes:
        raise ConfigurationError(
            f"operation: response_schema with responses {', '.join(successes)} and no 200: "
            "give each success status its schema in responses instead"
        )
    data: dict[str, Any] = {
        "summary": summary,
        "description": description,
        "tags": list(tags) if tags is not None else None,
        "responses": dict(responses or {}),
        "response_schema": dict(response_schema) if response_schema is not None else None,
        "deprecated": deprecated,
    }

    def decorator(responder: _F) -> _F:
        setattr(responder, _DOC_ATTR, data)
        return responder

    return decorator


def build_document(
    app: falcon.App[Any, Any],
    *,
    info: dict[str, Any],
    servers: list[dict[str, Any]] | None,
    auth: Any,
    exclude: Iterable[str],
) -> tuple[dict[str, Any], list[str]]:
    """Return the OpenAPI document and the dropped-rule list."""
    excluded = set(exclude)
    paths: dict[str, Any] = {}
    dropped: list[str] = []
    uses_validation = False
    for route in routes(app):
        if route.template in excluded:
            continue
        path, path_params = _path(route.template)
        resource_class = type(route.resource)
        item: dict[str, Any] = {}
        for method, responder in route.responders.items():
            op, op_dropped, validated = _operation(
                route.template,
                method,
                responder,
                resource_class,
                path_params,
                auth,
            )
            uses_validation = uses_validation or validated
            dropped.extend(f"{method} {path} {d}" for d in op_dropped)
            item[method.lower()] = op
        if item:
            paths[path] = item
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    if uses_validation:
        schemas["ValidationProblem"] = VALIDATION_PROBLEM_SCHEMA
    components: dict[str, Any] = {"schemas": schemas}
    document: dict[str, Any] = {"openapi": "3.1.0", "info": info}
    if servers:
        document["servers"] = servers
    document["paths"] = paths
    if auth is not None:
        components["securitySchemes"] = {
            _SCHEME: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
        document["security"] = [{_SCHEME: []}]
    document["components"] = components
    return document, dropped


def _path(template: str) -> tuple[str, list[dict[str, Any]]]:
    """Turn a Falcon URI template into an OpenAPI path and its parameters."""
    params: list[dict[str, Any]] = []

    def field(match: re.Match[str]) -> str:
        params.append(
            {
                "name": match["name"],
                "in": "path",
                "required": True,
                "schema": _converter_schema(match["conv"], match["args"]),
            }
        )
        return "{" + match["name"] + "}"

    return _FIELD_RE.sub(field, template), params


def _converter_schema(converter: str | None, args: str | None) -> dict[str, Any]:
    if converter == "int":
        schema: dict[str, Any] = {"type": "integer"}
        kwargs = _converter_args(args, ("num_digits", "min", "max"))
        if isinstance(kwargs.get("min"), int):
            schema["minimum"] = kwargs["min"]
        if isinstance(kwargs.get("max"), int):
            schema["maximum"] = kwargs["max"]
        if kwargs.get("num_digits") is None:
            schema["minimum"] = max(schema.get("minimum", 0), 0)
        return schema
    if converter == "float":
        return {"type": "number"}
    if converter == "uuid":
        return {"type": "string", "format": "uuid"}
    if converter == "dt":
        return {"type": "string"}
    return {"type": "string", "pattern": "^[^/]+$"}


def _converter_args(args: str | None, names: tuple[str, ...]) -> dict[str, Any]:
    if not args:
        return {}
    try:
        call = ast.parse(f"f({args})", mode="eval").body
        assert isinstance(call, ast.Call)  # noqa: S101 - f(...) always parses to a call
        values = {names[i]: ast.literal_eval(a) for i, a in enumerate(call.args[: len(names)])}
        values.update({k.arg: ast.literal_eval(k.value) for k in call.keywords if k.arg})
    except (SyntaxError, ValueError):
        return {}
    return values


def _docstring(responder: Callable[..., Any]) -> tuple[str | None, str | None]:
    doc = inspect.getdoc(responder)
    if not doc:
        return None, None
    summary, _, rest = doc.partition("\n")
    return summary.strip() or None, rest.strip() or None


def _sync_twin(responder: Callable[..., Any], resource_class: type) -> Callable[..., Any]:
    """Return the sync responder an ``on_<method>_async`` twin mirrors, else the responder.

    A resource serving WSGI and ASGI (``suffix="async"``) documents the operation
    once, on the sync responder; its async twin says only that it is one.
    """
    name = getattr(responder, "__name__", "")
    if not name.endswith("_async"):
        return responder
    twin = getattr(resource_class, name[: -len("_async")], None)
    return twin if callable(twin) else responder


def _operation(
    template: str,
    method: str,
    responder: Callable[..., Any],
    resource_class: type,
    path_params: list[dict[str, Any]],
    auth: Any,
) -> tuple[dict[str, Any], list[str], bool]:
    from common_utils.validation import validation_spec_of

    documented = _sync_twin(responder, resource_class)
    extra: dict[str, Any] = getattr(documented, _DOC_ATTR, None) or {}
    summary, description = _docstring(documented)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", _FIELD_RE.sub(r"\g<name>", template)).strip("_")
    op: dict[str, Any] = {
        "operationId": f"{method.lower()}_{slug}" if slug else method.lower(),
        "tags": extra.get("tags") or [_default_tag(template, resource_class)],
    }
    summary = extra.get("summary") or summary
    description = extra.get("description") or description
    if summary:
        op["summary"] = summary
    if description:
        op["description"] = description
    if extra.get("deprecated") or _is_deprecated(responder):
        op["deprecated"] = True
    parameters = list(path_params)
    dropped: list[str] = []
    errors: dict[int, Any] = {}
    spec = validation_spec_of(responder)
    if spec is not None:
        errors[400] = _PROBLEM_REF
        errors[spec.error_status] = _VALIDATION_REF
        for name, rules in (spec.params or {}).items():
            conv = cerberus_rules_to_json_schema(rules, coerce=False)
            dropped.extend(f"params.{name}: {d}" for d in conv.dropped)
            param: dict[str, Any] = {"name": name, "in": "query", "schema": conv.schema}
            if rules.get("required") and not spec.update:
                param["required"] = True
            parameters.append(param)
        if spec.body is not None:
            conv = cerberus_to_json_schema(
                spec.body,
                allow_unknown=spec.allow_unknown,
                purge_unknown=spec.purge_unknown,
                update=spec.update,
            )
            dropped.extend(f"body.{d}" for d in conv.dropped)
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": conv.schema}},
            }
            errors[413] = _PROBLEM_REF
            errors[415] = _PROBLEM_REF
    if parameters:
        op["parameters"] = parameters
    if auth is not None:
        _security(op, errors, auth, template, method, responder, resource_class)
    op["responses"] = _responses(extra, errors)
    if dropped:
        op["x-dropped-rules"] = dropped
    return op, dropped, spec is not None


_VERSION_SEGMENT = re.compile(r"^v[0-9]+$")


def _default_tag(template: str, resource_class: type) -> str:
    """Name the group of an operation: the route's first literal path segment.

    An API version segment (``v1``) is skipped, so ``/v1/orders`` and
    ``/v2/orders`` group under ``orders``; a route with no literal segment
    (``/``, ``/{id}``) falls back to the resource's class name.

    Examples:
        >>> _default_tag("/orders/{order_id}", object)
        'orders'
        >>> _default_tag("/v2/orders", object)
        'orders'
        >>> _default_tag("/", object)
        'object'
    """
    for segment in template.split("/"):
        if segment and "{" not in segment and not _VERSION_SEGMENT.match(segment):
            return segment
    return resource_class.__name__


def _is_deprecated(responder: Any) -> bool:
    # NOTE: reads the marker @deprecated (common_utils.deprecation) leaves on a responder.
    from common_utils.deprecation import deprecation_of

    return deprecation_of(responder) is not None


def _security(
    op: dict[str, Any],
    errors: dict[int, Any],
    auth: Any,
    template: str,
    method: str,
    responder: Callable[..., Any],
    resource_class: type,
) -> None:
    from common_utils.auth import scopes_required_by

    if auth.is_exempt(template, method, resource_class):
        op["security"] = []
        return
    scopes = list(scopes_required_by(responder))
    if scopes:
        op["security"] = [{_SCHEME: scopes}]
        errors[403] = _PROBLEM_REF
    errors.setdefault(400, _PROBLEM_REF)
    errors[401] = _PROBLEM_REF


def _responses(extra: Mapping[str, Any], errors: Mapping[int, Any]) -> dict[str, Any]:
    custom = {str(k): v for k, v in (extra.get("responses") or {}).items()}
    successes = sorted(k for k in custom if k.startswith("2"))
    # The documented success status: 200, or the one 2xx status given instead (201 ...).
    success_key = "200" if "200" in custom or not successes else successes[0]
    success: dict[str, Any] = {"description": _reason(success_key)}
    if extra.get("response_schema") is not None:
        success["content"] = {"application/json": {"schema": extra["response_schema"]}}
    responses: dict[str, Any] = {success_key: success}
    for status in sorted(errors):
        responses[str(status)] = {
            "description": _ERROR_TEXT[status],
            "content": {PROBLEM_JSON: {"schema": errors[status]}},
        }
    for key, value in custom.items():
        if isinstance(value, str):
            value = {**responses.get(key, {}), "description": value}
        elif key == success_key:  # a Response Object without content keeps the schema
            value = {**responses[key], **value}
        responses[key] = dict(value)
    return dict(sorted(responses.items()))


def _reason(status: str) -> str:
    try:
        return http.HTTPStatus(int(status)).phrase
    except ValueError:
        return "Success"
