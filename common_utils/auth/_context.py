"""What a verified token leaves on ``req.context.auth``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["AuthContext"]


class AuthContext:
    """Hold the verified claims of the request's bearer token.

    The middleware sets one on ``req.context.auth`` after the token verified;
    nothing is set when verification fails or the route is exempt.

    Attributes:
        claims: The verified claims (a read-only view of the payload).
        subject: The ``sub`` claim, or ``None``.
        scopes: The granted scopes, from a JSON array (UAA) or a
            space-delimited string (RFC 9068).
        token_id: The ``jti`` claim, or ``None``.

    Example:
        >>> claims = {"sub": "alice", "scope": ["orders.read"]}
        >>> ctx = AuthContext(claims, scopes=frozenset({"orders.read"}))
        >>> ctx.subject, "orders.read" in ctx.scopes
        ('alice', True)
    """

    __slots__ = ("_realm", "claims", "scopes", "subject", "token_id")

    def __init__(
        self,
        claims: Mapping[str, Any],
        *,
        scopes: frozenset[str] = frozenset(),
        realm: str = "api",
    ) -> None:
        self.claims = claims
        sub = claims.get("sub")
        jti = claims.get("jti")
        self.subject: str | None = sub if isinstance(sub, str) else None
        self.token_id: str | None = jti if isinstance(jti, str) else None
        self.scopes = scopes
        self._realm = realm

    def __repr__(self) -> str:
        # NOTE: claim values stay out of reprs, which end up in logs.
        return f"AuthContext(claims=<{len(self.claims)} claims>, scopes={sorted(self.scopes)})"
