"""Which requests need no token: routes, path prefixes, methods, per-resource overrides."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any, NamedTuple

from common_utils.auth._errors import AuthConfigError
from common_utils.auth._routing import Route, falcon_answers

__all__ = ["Exempt", "Exemptions", "check_prefixes", "strings"]

_log = logging.getLogger("common_utils.auth")

_OVERRIDE_KEYS = frozenset({"exempt", "exempt_methods"})
# Resources are few and live as long as their app; the cap only bounds a process that
# builds apps in a loop (tests), after which the verdicts are simply computed again.
_MAX_CACHED_OVERRIDES = 4096
# Verdicts per (route, method): routes x methods Falcon knows, bounded the same way.
_MAX_CACHED_VERDICTS = 4096


class _Override(NamedTuple):
    exempt: bool | None
    methods: frozenset[str] | None


# A resource whose ``auth`` dict cannot be read is protected for every method.
_FAIL_CLOSED = _Override(False, frozenset())


class Exempt:
    """Say which requests need no token: routes, path prefixes and methods.

    Keyword Args:
        routes: URI templates as routed (``"/items/{item_id}"``): one entry
            covers every id.
        prefixes: Paths under which nothing needs a token, for public sinks
            and static routes: ``"/static"`` covers ``/static`` and
            ``/static/...``, not ``/statics``.
        methods: Methods that need no token where Falcon itself answers
            them on a routed resource (its default OPTIONS responder, which
            CORS preflight uses, or a 405); never on a resource's own
            responder, a sink, a static route or an unrouted path. HEAD
            follows GET. ``("OPTIONS",)`` by default, ``()`` for none.

    Raises:
        AuthConfigError: A value is not a list of strings, or a prefix is not
            an absolute path below ``/``.

    Examples:
        >>> Exempt(routes=["/health"], prefixes=["/static"])
        Exempt(routes=('/health',), prefixes=('/static',), methods=('OPTIONS',))
    """

    __slots__ = ("methods", "prefixes", "routes")

    def __init__(
        self,
        *,
        routes: Iterable[str] = (),
        prefixes: Iterable[str] = (),
        methods: Iterable[str] = ("OPTIONS",),
    ) -> None:
        self.routes = strings("Exempt routes", routes)
        self.prefixes = check_prefixes(prefixes)
        self.methods = tuple(m.upper() for m in strings("Exempt methods", methods))

    def __repr__(self) -> str:
        return (
            f"Exempt(routes={self.routes!r}, prefixes={self.prefixes!r}, methods={self.methods!r})"
        )


class Exemptions:
    """Answer "does this request pass without a token?" for the middleware.

    A resource may override the global settings with a plain ``auth`` dict
    attribute, read once per resource: ``{"exempt": True}`` and/or
    ``{"exempt_methods": [...]}``. Any other value of ``auth`` is not ours
    and is ignored; a dict we cannot read is logged once at ERROR and the
    resource then needs a token for every method (fail closed, never a 500).
    """

    def __init__(self, exempt: Exempt) -> None:
        self._routes = frozenset(exempt.routes)
        self._prefixes = tuple(p.rstrip("/") for p in exempt.prefixes)
        self.methods = frozenset(exempt.methods)
        self._overrides: dict[int, tuple[object, _Override | None]] = {}
        self._verdicts: dict[
            tuple[int, str | None, str | None], tuple[object, object, bool, bool]
        ] = {}

    def exempt(
        self,
        path: str | None,
        uri_template: str | None,
        method: str | None,
        resource: object | None,
        falcon_answers: bool,
    ) -> bool:
        """Say whether the request passes without a token (``method`` as sent).

        A method exemption applies only to a routed ``resource``: a global one
        (`Exempt.methods`) only where ``falcon_answers`` (the responder is one
        Falcon made: its default OPTIONS responder or a 405), a resource's own
        ``exempt_methods`` to its responders. HEAD is decided as GET. ``method``
        is ``None`` for a WebSocket handshake: no method exemption applies.
        """
        under_prefix = path is not None and bool(self._prefixes) and self._under_prefix(path)
        return self._decide(under_prefix, uri_template, method, resource, falcon_answers)

    def exempt_route(self, path: str, route: Route, method: str | None) -> bool:
        """Say whether a request to ``route`` passes without a token, as `exempt` would.

        The verdict for a routed resource depends on the route and the method, and
        on the path only through the prefixes: it is worked out once per route's
        method map and method (both ways, under a prefix or not) and then looked
        up. A route added later, or another app's, has a method map of its own, so
        it never gets another route's verdict. ``method`` is None for a WebSocket
        handshake.
        """
        resource, uri_template, method_map = route
        if (
            resource is None
            or method_map is None
            or (method is not None and method not in method_map)
        ):
            answers = method is not None and falcon_answers(route, method)
            return self.exempt(path, uri_template, method, resource, answers)
        key = (id(method_map), uri_template, method)
        cached = self._verdicts.get(key)
        if cached is None or cached[0] is not method_map or cached[1] is not resource:
            answers = method is not None and falcon_answers(route, method)
            cached = (
                method_map,
                resource,
                self._decide(True, uri_template, method, resource, answers),
                self._decide(False, uri_template, method, resource, answers),
            )
            if len(self._verdicts) >= _MAX_CACHED_VERDICTS:
                self._verdicts.clear()
            self._verdicts[key] = cached
        _, _, under, elsewhere = cached
        if under == elsewhere or not self._prefixes:
            return elsewhere
        return under if self._under_prefix(path) else elsewhere

    def _decide(
        self,
        under_prefix: bool,
        uri_template: str | None,
        method: str | None,
        resource: object | None,
        falcon_answers: bool,
    ) -> bool:
        route_exempt = under_prefix or uri_template in self._routes
        methods: frozenset[str] | None = None
        if resource is not None:
            override = self._override(resource)
            if override is not None:
                if override.exempt is not None:
                    route_exempt = override.exempt
                methods = override.methods
        if route_exempt:
            return True
        if method is None or resource is None:
            return False
        if method == "HEAD":  # HEAD tells what GET would: it follows GET's rule
            method = "GET"
        if methods is not None:
            return method in methods
        return falcon_answers and method in self.methods

    def _under_prefix(self, path: str) -> bool:
        # A prefix ends at a segment boundary: "/files" covers "/files/a", not "/filesystem".
        return any(path == p or path.startswith(p + "/") for p in self._prefixes)

    def _override(self, resource: object) -> _Override | None:
        # PERF: keyed by identity (resources need not be hashable); the entry holds the
        # resource itself, so its id cannot be reused by another object meanwhile.
        entry = self._overrides.get(id(resource))
        if entry is not None and entry[0] is resource:
            return entry[1]
        override = _read_override(resource)
        if len(self._overrides) >= _MAX_CACHED_OVERRIDES:
            self._overrides.clear()
        self._overrides[id(resource)] = (resource, override)
        return override


def _read_override(resource: object) -> _Override | None:
    value = getattr(resource, "auth", None)
    if not isinstance(value, dict):
        return None  # no override, or an unrelated attribute that happens to be named auth
    try:
        return _parse_override(value)
    except AuthConfigError as ex:
        cls = resource if isinstance(resource, type) else type(resource)
        name = f"{cls.__module__}.{cls.__qualname__}"
        # NOTE: the message names keys, never values (an unrelated dict may hold secrets).
        _log.error("resource %s: auth override ignored, every method needs a token: %s", name, ex)
        return _FAIL_CLOSED


def _parse_override(override: dict[Any, Any]) -> _Override:
    unknown = override.keys() - _OVERRIDE_KEYS
    if unknown:
        raise AuthConfigError(f"resource auth: unknown keys {sorted(map(str, unknown))}")
    exempt = None
    if "exempt" in override:
        exempt = override["exempt"]
        if not isinstance(exempt, bool):
            raise AuthConfigError("resource auth: 'exempt' must be True or False")
    methods = None
    if "exempt_methods" in override:
        methods = frozenset(
            m.upper() for m in strings("exempt_methods", override["exempt_methods"])
        )
    return _Override(exempt, methods)


def check_prefixes(value: object) -> tuple[str, ...]:
    """Validate exempt prefixes: absolute paths below ``/``."""
    prefixes = strings("Exempt prefixes", value)
    for prefix in prefixes:
        if not prefix.startswith("/") or not prefix.strip("/"):
            raise AuthConfigError(
                "Exempt prefixes: each must start with '/' and name a path below '/'"
            )
    return prefixes


def strings(name: str, value: object) -> tuple[str, ...]:
    """Accept a list (any iterable but a string) of strings."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise AuthConfigError(f"{name}: give a list of strings")
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise AuthConfigError(f"{name}: give a list of strings")
    return items
