"""The ``validate`` decorator, its spec and the per-responder checker."""

from __future__ import annotations

import copy
import functools
import inspect
import os
import sys
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import falcon

from common_utils._compat import has_parsed_media, parsed_media, set_parsed_media
from common_utils._compat_cerberus import (
    keep_expanded_schema,
    normalization_is_noop,
    recorded_errors,
    setting,
)
from common_utils.errors import ConfigurationError
from common_utils.validation._body import is_json_media_type, parse_json, too_large, unsupported
from common_utils.validation._compiled import FastPath, compile_fast_path
from common_utils.validation._errors import flat_errors
from common_utils.validation._limits import check_document, problem
from common_utils.validation._validator import (
    BudgetExhaustedError,
    CheckBudget,
    Validator,
    params_schema,
)

if TYPE_CHECKING:
    import falcon.asgi

_T = TypeVar("_T")
_SPEC_ATTR = "__validation_spec__"
_BODY = "The request body"
_QUERY = "The query string"
COMPILED_ENV = "COMMON_UTILS_VALIDATION_COMPILED"


@dataclass(frozen=True)
class ValidationSpec:
    """What `validate` checks for one responder (read by ``common_utils.openapi``).

    Attributes:
        body: The Cerberus schema of the JSON body, or ``None``.
        params: The Cerberus schema of the query parameters, or ``None``.
        allow_unknown: Whether fields not in the schema are accepted.
        purge_unknown: Whether fields not in the schema are dropped.
        update: Whether ``required`` is ignored (partial updates, PATCH).
        error_status: Status of schema failures (422 or 400).
        max_body_bytes: Largest accepted body; larger bodies get 413.
        max_depth: Deepest accepted nesting of arrays and objects.
        max_items: Most values (object members and array items at any depth)
            accepted in a body, and most query parameter values.
        max_errors: Most schema errors listed in a 422 problem.
        max_checks: Most value checks one request may cost (every nested
            document, list and ``*of`` branch Cerberus validates is one); a
            request that needs more gets 400.
        compiled: Whether the compiled fast path may accept valid documents
            without Cerberus (``False`` when switched off by the argument or by
            ``COMMON_UTILS_VALIDATION_COMPILED=0``).

    Examples:
        >>> class R:
        ...     @validate(params={"limit": {"type": "integer"}})
        ...     def on_get(self, req, resp): ...
        >>> validation_spec_of(R.on_get).params
        {'limit': {'type': 'integer'}}
    """

    body: dict[str, Any] | None
    params: dict[str, Any] | None
    allow_unknown: bool = False
    purge_unknown: bool = False
    update: bool = False
    error_status: int = 422
    max_body_bytes: int = 1024 * 1024
    max_depth: int = 64
    max_items: int = 5_000
    max_errors: int = 100
    max_checks: int = 10_000
    compiled: bool = True


def validation_spec_of(responder: Any) -> ValidationSpec | None:
    """Return the `ValidationSpec` of a responder, or ``None``.

    Works on functions, bound methods and ``falcon.before`` wrappers stacked
    on top of `validate` (``functools.wraps`` carries the spec along).

    Args:
        responder: A responder function or method.

    Returns:
        The spec `validate` attached, or ``None`` if it was not decorated.

    Examples:
        >>> class R:
        ...     @validate(body={"name": {"type": "string"}})
        ...     def on_post(self, req, resp): ...
        ...     def on_get(self, req, resp): ...
        >>> validation_spec_of(R().on_post).body, validation_spec_of(R.on_get)
        ({'name': {'type': 'string'}}, None)
    """
    spec = getattr(responder, _SPEC_ATTR, None)
    return spec if isinstance(spec, ValidationSpec) else None


def validate(
    body: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    allow_unknown: bool = False,
    purge_unknown: bool = False,
    update: bool = False,
    error_status: int = 422,
    max_body_bytes: int = 1024 * 1024,
    max_depth: int = 64,
    max_items: int = 5_000,
    max_errors: int = 100,
    max_checks: int | None = None,
    compiled: bool = True,
    validator_class: type[Validator] = Validator,
) -> Callable[[_T], _T]:
    """Validate the JSON body and query parameters of a responder or resource.

    The schemas are checked when the decorator is applied, so an invalid
    schema raises `cerberus.SchemaError` at import time. On a class,
    every ``on_*`` responder without its own ``@validate`` is wrapped.

    ``require_scopes`` hooks beneath it (``falcon.before`` below
    ``@validate``) are checked first: a caller without the scope gets 403
    (401 without a verified token) before anything is read, whatever the
    order of the decorators.

    On success ``req.context.body`` holds the normalized body (coerced,
    defaults set) and ``req.context.params`` the normalized query parameters;
    ``req.get_media()`` returns the parsed body. Neither holds a non-finite
    number or an unpaired UTF-16 surrogate: those get 400.

    Args:
        body: Cerberus schema of the JSON object body; ``None`` skips the body.
        params: Cerberus schema of the query parameters; ``None`` skips them.
            Fields typed ``integer``, ``float``, ``number`` or ``boolean``
            without a ``coerce`` rule get the matching named coercer.

    Keyword Args:
        allow_unknown: Accept fields that the schema does not name.
        purge_unknown: Drop fields that the schema does not name.
        update: Ignore ``required`` (for partial updates such as PATCH).
        error_status: Status for schema failures: 422 (default) or 400.
        max_body_bytes: Largest body accepted (Content-Length and bytes read);
            larger bodies get 413.
        max_depth: Deepest nesting of arrays and objects accepted; deeper
            bodies get 400.
        max_items: Most values a body may hold, counting every object member
            and array item at any depth (and most query parameter values);
            more get 400 before the schema runs, which bounds the work of a
            request.
        max_errors: Most schema errors listed; a 422 with more lists the
            first ``max_errors`` and sets ``errors_truncated: true``.
        max_checks: Most value checks a request may cost across every
            validator Cerberus creates (nested documents, list items,
            ``anyof``/``oneof``/``allof``/``noneof`` branches, ``keysrules``,
            ``valuesrules``); a request that needs more gets 400 with
            ``max_checks`` in the problem. ``2 * max_items`` by default: a
            document whose containers each have one rule fits (Cerberus
            normalizes and validates each), nested alternatives cannot
            multiply the work. A ``*of`` branch counts twice (Cerberus
            builds and checks a schema for each).
        compiled: Let the compiled fast path accept valid documents without
            calling Cerberus (rules it cannot express exactly, and every
            invalid document, still go to Cerberus, which writes every error
            and normalized document). ``False``, or the environment variable
            ``COMMON_UTILS_VALIDATION_COMPILED=0`` read when the decorator
            runs, uses Cerberus alone.
        validator_class: A `Validator` subclass with custom rules (never
            compiled: a subclass may change what any rule means).

    Returns:
        A decorator for a responder function or a resource class.

    Raises:
        cerberus.SchemaError: A schema is invalid.
        common_utils.errors.ConfigurationError: No schema given, a limit is not
            a positive integer, ``error_status`` is neither 400 nor 422, or
            ``COMMON_UTILS_VALIDATION_COMPILED`` is set to neither ``0`` nor
            ``1`` (a ``ValueError``).
        TypeError: The decorated object is neither a function nor a class.

    Examples:
        >>> class Orders:
        ...     @validate(body={"quantity": {"type": "integer", "min": 1}},
        ...               params={"dry_run": {"type": "boolean"}})
        ...     def on_post(self, req, resp):
        ...         resp.media = {"qty": req.context.body["quantity"],
        ...                       "dry": req.context.params.get("dry_run", False)}
    """
    if body is None and params is None:
        raise ConfigurationError("validate() needs a body schema, a params schema or both")
    if error_status not in (400, 422):
        raise ConfigurationError(f"error_status must be 400 or 422, not {error_status!r}")
    limits = {
        "max_body_bytes": max_body_bytes,
        "max_depth": max_depth,
        "max_items": max_items,
        "max_errors": max_errors,
        "max_checks": 2 * max_items if max_checks is None else max_checks,
    }
    for name, value in limits.items():
        if type(value) is not int or value < 1:  # bool is an int: refuse it by type
            raise ConfigurationError(f"{name} must be a positive integer, not {value!r}")
    spec = ValidationSpec(
        body=copy.deepcopy(dict(body)) if body is not None else None,
        params=copy.deepcopy(dict(params)) if params is not None else None,
        allow_unknown=allow_unknown,
        purge_unknown=purge_unknown,
        update=update,
        error_status=error_status,
        max_body_bytes=max_body_bytes,
        max_depth=max_depth,
        max_items=max_items,
        max_errors=max_errors,
        max_checks=limits["max_checks"],
        compiled=compiled and _compiled_by_environment(),
    )
    checker = _Checker(spec, validator_class)

    def decorator(target: _T) -> _T:
        if inspect.isclass(target):
            for name, member in list(vars(target).items()):
                if name.startswith("on_") and callable(member) and not hasattr(member, _SPEC_ATTR):
                    setattr(target, name, _wrap(member, checker))
            return target
        if callable(target):
            return cast(_T, _wrap(target, checker))
        raise TypeError(f"@validate decorates a responder or a resource class, not {target!r}")

    return decorator


def _compiled_by_environment() -> bool:
    """Read ``COMMON_UTILS_VALIDATION_COMPILED``: unset or ``1`` on, ``0`` off."""
    value = os.environ.get(COMPILED_ENV, "1").strip()
    if value not in ("0", "1"):
        raise ConfigurationError(f"{COMPILED_ENV} must be 0 or 1")  # names the setting only
    return value == "1"


def _scope_check(responder: Callable[..., Any]) -> Callable[..., Any] | None:
    """Return a hook for the scopes ``require_scopes`` demands beneath ``responder``.

    `validate` runs it before it reads anything, so whatever order a service
    stacks the decorators in, a caller without the scope gets 401/403 before
    any parameter or body is read and before any schema is revealed.
    """
    # NOTE: require_scopes hooks exist only once common_utils.auth was imported; importing
    # it here would make every service that only validates pay for PyJWT.
    auth = sys.modules.get("common_utils.auth")
    if auth is None:
        return None
    scopes = auth.scopes_required_by(responder)
    return cast("Callable[..., Any]", auth.require_scopes(*scopes)) if scopes else None


def _wrap(responder: Callable[..., Any], checker: _Checker) -> Callable[..., Any]:
    scope_check = _scope_check(responder)
    if inspect.iscoroutinefunction(responder):

        @functools.wraps(responder)
        async def async_wrapper(
            resource: Any, req: falcon.asgi.Request, resp: Any, *args: Any, **kwargs: Any
        ) -> Any:
            if scope_check is not None:
                await scope_check(req, resp, resource, kwargs)
            checker.check_params(req)
            if checker.has_body:
                data = None
                if checker.needs_read(req):
                    data = await req.stream.read(checker.spec.max_body_bytes + 1)
                checker.check_body(req, data)
            return await responder(resource, req, resp, *args, **kwargs)

        wrapper: Callable[..., Any] = async_wrapper
    else:

        @functools.wraps(responder)
        def sync_wrapper(
            resource: Any, req: falcon.Request, resp: falcon.Response, *args: Any, **kwargs: Any
        ) -> Any:
            if scope_check is not None:
                scope_check(req, resp, resource, kwargs)
            checker.check_params(req)
            if checker.has_body:
                data = None
                if checker.needs_read(req):
                    data = req.bounded_stream.read(checker.spec.max_body_bytes + 1)
                checker.check_body(req, data)
            return responder(resource, req, resp, *args, **kwargs)

        wrapper = sync_wrapper
    setattr(wrapper, _SPEC_ATTR, checker.spec)
    return wrapper


class _Checker:
    """The per-decoration state: spec, schemas and one validator per thread."""

    def __init__(self, spec: ValidationSpec, validator_class: type[Validator]) -> None:
        self.spec = spec
        self.has_body = spec.body is not None
        self._validator_class = validator_class
        self._schemas: dict[str, dict[str, Any]] = {}
        if spec.body is not None:
            self._schemas["body"] = spec.body
        if spec.params is not None:
            self._schemas["params"] = params_schema(spec.params)
        self._local = threading.local()
        # Whether Cerberus' normalization pass could change a document, per kind.
        self._normalizes: dict[str, bool] = {}
        # The compiled fast path per kind, where the schema is within its subset.
        self._fast: dict[str, FastPath] = {}
        for kind in self._schemas:  # check the schemas now: fail at import, not per request
            validator = self._validator(kind)
            # PERF: a pass that provably changes nothing costs as much as the validation.
            self._normalizes[kind] = not normalization_is_noop(validator)
            if not spec.compiled:
                continue
            fast = compile_fast_path(
                validator.schema,  # expanded and checked by Cerberus just now
                validator_class=validator_class,
                allow_unknown=spec.allow_unknown,
                purge_unknown=spec.purge_unknown,
                update=spec.update,
                normalizes=self._normalizes[kind],
                max_checks=spec.max_checks,
            )
            if fast is not None:
                self._fast[kind] = fast

    def _validator(self, kind: str) -> Validator:
        # Cerberus validators keep per-call state: never share one between threads.
        validator = cast("Validator | None", getattr(self._local, kind, None))
        if validator is None:
            validator = self._validator_class(
                self._schemas[kind],
                allow_unknown=self.spec.allow_unknown,
                purge_unknown=self.spec.purge_unknown,
                max_errors=self.spec.max_errors,  # kept by every child validator too
                check_budget=CheckBudget(self.spec.max_checks),  # shared with every child
            )
            # PERF: the schema was expanded and checked just now; no request repeats it.
            keep_expanded_schema(validator)
            setattr(self._local, kind, validator)
        return validator

    def _check(self, kind: str, document: Mapping[str, Any], noun: str, subject: str) -> Any:
        fast = self._fast.get(kind)
        if fast is not None:
            # The limits were checked before; a document the fast path accepts is one
            # Cerberus accepts, normalized alike; anything else is Cerberus' to answer.
            # Its values are the caller's, already checked: no walk after it.
            accepted = fast(document)  # type: ignore[arg-type]
            if accepted is not None:
                return accepted
        validator = self._validator(kind)
        budget: CheckBudget = setting(validator, "check_budget")
        budget.left = budget.limit
        try:
            return self._validate(validator, kind, document, noun, subject)
        except BudgetExhaustedError:
            limit = self.spec.max_checks
            raise problem(
                400,
                f"{subject} takes more than {limit} value checks to validate.",
                max_checks=limit,
            ) from None

    def _validate(
        self, validator: Validator, kind: str, document: Mapping[str, Any], noun: str, subject: str
    ) -> Any:
        if not self._normalizes[kind]:
            # Same errors and document as with the pass (see normalization_is_noop), whose
            # values are those the caller checked: no second walk.
            if validator.validate(document, update=self.spec.update, normalize=False):
                return validator.document
        elif validator.validate(document, update=self.spec.update):
            # Coercers (``float`` on "nan", "number" on "1e999") may create what JSON cannot carry.
            check_document(
                validator.document, subject, max_depth=sys.maxsize, max_items=sys.maxsize
            )
            return validator.document
        errors, cut = flat_errors(recorded_errors(validator), self.spec.max_errors)
        if cut:
            detail = f"Too many {noun}s are invalid; listing the first {len(errors)}."
            raise problem(self.spec.error_status, detail, errors=errors, errors_truncated=True)
        plural = "s are" if len(errors) != 1 else " is"
        raise problem(
            self.spec.error_status, f"{len(errors)} {noun}{plural} invalid", errors=errors
        )

    def check_params(self, req: falcon.Request) -> None:
        if "params" in self._schemas:
            # Values are strings or lists of them: depth is no concern, their number is.
            check_document(req.params, _QUERY, max_depth=2, max_items=self.spec.max_items)
            req.context.params = self._check("params", req.params, "query parameter", _QUERY)

    def needs_read(self, req: falcon.Request) -> bool:
        """Check the headers; tell whether the body must still be read."""
        content_type = req.content_type
        if content_type is not None and not is_json_media_type(content_type):
            raise unsupported()
        if has_parsed_media(req):
            return False  # another component already called get_media()
        length = req.content_length
        if length is not None and length > self.spec.max_body_bytes:
            raise too_large(self.spec.max_body_bytes)
        return True

    def check_body(self, req: falcon.Request, data: bytes | None) -> None:
        if data is None:
            document = parsed_media(req)
            if req.content_type is None:
                raise unsupported()
        else:
            if len(data) > self.spec.max_body_bytes:
                raise too_large(self.spec.max_body_bytes)
            if not data:
                raise problem(400, "A JSON object request body is required.")
            if req.content_type is None:
                raise unsupported()
            document = parse_json(
                data, max_depth=self.spec.max_depth, max_items=self.spec.max_items
            )
            set_parsed_media(req, document)
        if type(document) is not dict:
            raise problem(400, "The request body must be a JSON object.")
        if data is None:  # parsed by someone else: no text to rule the walk out
            spec = self.spec
            check_document(document, _BODY, max_depth=spec.max_depth, max_items=spec.max_items)
        req.context.body = self._check("body", document, "field", _BODY)
