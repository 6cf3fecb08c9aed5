"""Scope checks: the ``require_scopes`` hook and its introspection."""

from __future__ import annotations

import functools
import re
import types
from collections import deque
from collections.abc import Awaitable, Callable, Generator
from typing import Any, Protocol, cast, overload

import falcon
import falcon.asgi

from common_utils.auth._context import AuthContext
from common_utils.auth._errors import insufficient_scope, unauthorized

__all__ = ["ScopeHook", "require_scopes", "scopes_required_by"]

DEFAULT_REALM = "api"


# RFC 6749 section 3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ), separated by %x20.
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")
_SCOPE_STRING = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")


def parse_scopes(claim: object) -> frozenset[str] | None:
    """Read the ``scope`` claim: JSON array (UAA) or space-delimited string (RFC 9068).

    Only %x20 separates scopes; a token with any character outside the
    RFC 6749 grammar (other whitespace, quotes, backslash, non-ASCII) makes
    the whole claim malformed, so a lookalike separator never grants a
    second scope. Returns ``None`` when the claim is malformed (the token is
    then refused).
    """
    if claim is None:
        return frozenset()
    if isinstance(claim, str):
        if _SCOPE_STRING.fullmatch(claim) is None:
            return None
        return frozenset(claim.split(" ")) - {""}
    if not isinstance(claim, list):
        return None
    # PERF: a plain loop; all() over a generator and a map cost twice as much (verified tokens).
    for scope in claim:
        if not isinstance(scope, str) or _SCOPE_TOKEN.fullmatch(scope) is None:
            return None
    return frozenset(claim)


def check_scope_name(scope: object) -> str:
    """Accept a scope token of the RFC 6749 grammar (it then fits a quoted header value)."""
    if not isinstance(scope, str) or _SCOPE_TOKEN.fullmatch(scope) is None:
        raise ValueError(f"require_scopes: {scope!r} is not a valid scope name")
    return scope


class _Ready:
    """An already-completed awaitable (what the hook returns to async responders)."""

    __slots__ = ()

    def __await__(self) -> Generator[None, None, None]:
        return
        yield  # pragma: no cover - makes this a generator


_READY = _Ready()


class ScopeHook(Protocol):
    """The type of the hook `require_scopes` builds: a ``falcon.before`` action.

    Typed as Falcon types a ``before`` action for either kind of app (an
    awaitable for ASGI requests, ``None`` for WSGI ones), so
    ``@falcon.before(require_scopes(...))`` type-checks under ``mypy --strict``.
    """

    # NOTE: an ASGI request is a Request too; the first overload wins for it, as at run time.
    @overload
    def __call__(  # type: ignore[overload-overlap]
        self,
        req: falcon.asgi.Request,
        resp: falcon.asgi.Response,
        resource: object,
        params: dict[str, Any],
    ) -> Awaitable[None]: ...  # pragma: no cover

    @overload
    def __call__(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None: ...  # pragma: no cover


class _ScopeHook:
    """The ``falcon.before`` action built by `require_scopes`."""

    __slots__ = ("_required", "_scope_text", "scopes")

    def __init__(self, scopes: tuple[str, ...]) -> None:
        self.scopes = scopes
        self._required = frozenset(scopes)
        self._scope_text = " ".join(scopes)

    def __repr__(self) -> str:
        return f"require_scopes{self.scopes!r}"

    def __call__(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> Awaitable[None] | None:
        ctx = getattr(req.context, "auth", None)
        if not isinstance(ctx, AuthContext):
            # Fail closed: an exempt route or a missing middleware never grants a scope.
            raise unauthorized(
                DEFAULT_REALM,
                f"authentication required (required: {self._scope_text})",
                scope=self._scope_text,
            )
        if not self._required <= ctx.scopes:
            raise insufficient_scope(ctx._realm, self.scopes)
        # Falcon awaits the action of a coroutine responder.
        return _READY if isinstance(req, falcon.asgi.Request) else None


def require_scopes(*scopes: str) -> ScopeHook:
    """Build a ``falcon.before`` hook that requires all the given scopes.

    Use it on a responder or on a whole resource class, sync or async. A
    token without one of the scopes gets 403 ``insufficient_scope`` with the
    required scopes in the ``WWW-Authenticate`` challenge; a request without a
    verified token (an exempt route, a missing middleware) gets 401.

    Args:
        *scopes: Scope names, all required.

    Returns:
        The hook, for ``@falcon.before(...)``.

    Raises:
        ValueError: No scope given, or a name that is empty or holds a space,
            quote or backslash.

    Examples:
        >>> import falcon
        >>> class Orders:
        ...     @falcon.before(require_scopes("orders.write"))
        ...     def on_post(self, req, resp):
        ...         resp.media = {"by": req.context.auth.subject}
        >>> scopes_required_by(Orders.on_post)
        ('orders.write',)
    """
    if not scopes:
        raise ValueError("require_scopes: name at least one scope")
    hook = _ScopeHook(tuple(dict.fromkeys(check_scope_name(s) for s in scopes)))
    # One implementation serves both overloads ScopeHook declares for callers.
    return cast(ScopeHook, hook)


def scopes_required_by(responder: Callable[..., Any]) -> tuple[str, ...]:
    """Find the scopes that ``require_scopes`` hooks demand of a responder.

    Follows the ``__wrapped__`` chain and the closures of Falcon's
    ``before`` wrappers, so stacked hooks and class-level hooks are found.

    Args:
        responder: A responder function or bound method.

    Returns:
        The required scopes in declaration order, without duplicates;
        empty when none is required.

    Examples:
        >>> import falcon
        >>> @falcon.before(require_scopes("a"))
        ... @falcon.before(require_scopes("b", "a"))
        ... def on_get(self, req, resp): ...
        >>> scopes_required_by(on_get)
        ('a', 'b')
    """
    found: dict[str, None] = {}
    seen: set[int] = set()
    queue: deque[object] = deque([responder])
    while queue:
        fn = queue.popleft()
        fn = getattr(fn, "__func__", fn)  # bound methods
        while isinstance(fn, functools.partial):
            fn = fn.func
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        if isinstance(fn, _ScopeHook):
            found.update(dict.fromkeys(fn.scopes))
            continue
        if isinstance(fn, types.FunctionType):
            for cell in fn.__closure__ or ():
                try:
                    value = cell.cell_contents
                except ValueError:  # an empty cell
                    continue
                if callable(value):
                    queue.append(value)
        wrapped = getattr(fn, "__wrapped__", None)
        if wrapped is not None:
            queue.append(wrapped)
    return tuple(found)
