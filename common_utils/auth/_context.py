"""What a verified token leaves on ``req.context.auth``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = ["AuthContext", "freeze"]


def _read_only(*args: object, **kwargs: object) -> NoReturn:
    raise TypeError("the claims of a verified token are read-only")


class _FrozenDict(dict[str, Any]):
    """A JSON object of the claims: a dict (JSON-serializable, equal to one) without mutators."""

    __slots__ = ()
    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __copy__(self) -> dict[str, Any]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: thaw(v) for k, v in self.items()}

    def __reduce__(self) -> tuple[Any, ...]:
        return dict, (thaw(self),)


class _FrozenList(list[Any]):
    """A JSON array of the claims: a list (JSON-serializable, equal to one) without mutators."""

    __slots__ = ()
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _read_only
    append = clear = extend = insert = pop = remove = reverse = sort = _read_only

    def __copy__(self) -> list[Any]:
        return list(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> list[Any]:
        return [thaw(v) for v in self]

    def __reduce__(self) -> tuple[Any, ...]:
        return list, (thaw(self),)


def freeze(claims: Mapping[str, Any]) -> Mapping[str, Any]:
    """Return a read-only copy of a JSON object (its objects and arrays at every depth)."""
    frozen = _FrozenDict(claims)
    # PERF: a flat copy in C; only the (few) nested objects and arrays are walked.
    nested = {k: _freeze(v) for k, v in claims.items() if isinstance(v, (dict, list))}
    if nested:
        dict.update(frozen, nested)
    return frozen


def _freeze(value: dict[str, Any] | list[Any]) -> Any:
    if isinstance(value, dict):
        return freeze(value)
    return _FrozenList([_freeze(v) if isinstance(v, (dict, list)) else v for v in value])


def thaw(value: Any) -> Any:
    """Return a plain, mutable deep copy of a frozen JSON value."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list):
        return [thaw(v) for v in value]
    return value


class AuthContext:
    """Hold the verified claims of the request's bearer token.

    The middleware sets one on ``req.context.auth`` after the token verified;
    nothing is set when verification fails or the route is exempt. It is
    immutable: its attributes cannot be set, and ``claims`` is read-only at
    every depth (its objects and arrays are a ``dict`` and ``list`` that
    refuse changes, so they still compare equal to plain ones and serialize
    as JSON); ``copy.deepcopy(ctx.claims)`` gives a mutable copy.

    Attributes:
        claims: The verified claims, read-only.
        subject: The ``sub`` claim, or ``None``.
        scopes: The granted scopes, from a JSON array (UAA) or a
            space-delimited string (RFC 9068).
        token_id: The ``jti`` claim, or ``None``.

    Examples:
        >>> claims = {"sub": "alice", "scope": ["orders.read"]}
        >>> ctx = AuthContext(claims, scopes=frozenset({"orders.read"}))
        >>> ctx.subject, "orders.read" in ctx.scopes
        ('alice', True)
        >>> ctx.claims["sub"] = "mallory"
        Traceback (most recent call last):
        ...
        TypeError: the claims of a verified token are read-only
    """

    __slots__ = ("_claims", "_frozen", "_realm", "_scopes", "_subject", "_token_id")

    def __init__(
        self,
        claims: Mapping[str, Any],
        *,
        scopes: frozenset[str] = frozenset(),
        realm: str = "api",
    ) -> None:
        sub = claims.get("sub")
        jti = claims.get("jti")
        # NOTE: a private copy now; the read-only view on first use (most responders
        # never read claims beyond subject and scopes, so most requests never pay for it).
        self._claims: Mapping[str, Any] = dict(claims)
        self._frozen: Mapping[str, Any] | None = None
        self._subject: str | None = sub if isinstance(sub, str) else None
        self._token_id: str | None = jti if isinstance(jti, str) else None
        self._scopes = scopes
        self._realm = realm

    @classmethod
    def _verified(cls, claims: dict[str, Any], scopes: frozenset[str], realm: str) -> AuthContext:
        """Build one over a claims dict nobody else holds (PyJWT's fresh result): no copy."""
        ctx = cls.__new__(cls)
        sub, jti = claims.get("sub"), claims.get("jti")
        ctx._claims = claims
        ctx._frozen = None
        ctx._subject = sub if isinstance(sub, str) else None
        ctx._token_id = jti if isinstance(jti, str) else None
        ctx._scopes = scopes
        ctx._realm = realm
        return ctx

    @property
    def claims(self) -> Mapping[str, Any]:
        """The verified claims, read-only at every depth."""
        frozen = self._frozen
        if frozen is None:
            # Two threads may both get here: each builds an equal view, either one is kept.
            frozen = self._frozen = freeze(self._claims)
        return frozen

    @property
    def subject(self) -> str | None:
        """The ``sub`` claim, or ``None``."""
        return self._subject

    @property
    def scopes(self) -> frozenset[str]:
        """The granted scopes."""
        return self._scopes

    @property
    def token_id(self) -> str | None:
        """The ``jti`` claim, or ``None``."""
        return self._token_id

    def __repr__(self) -> str:
        # NOTE: claim values stay out of reprs, which end up in logs.
        return f"AuthContext(claims=<{len(self._claims)} claims>, scopes={sorted(self._scopes)})"
