"""The verified-token cache: tokens the middleware verified, by their exact text."""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, NamedTuple

from common_utils.auth._errors import AuthConfigError
from common_utils.auth._sources import number

if TYPE_CHECKING:
    from collections.abc import Mapping

    from common_utils.auth._context import AuthContext
    from common_utils.auth._keys import VerificationKey

__all__ = ["Entry", "TokenCache", "TokenCacheInfo", "VerifiedTokens"]

_MAX_SIZE = 1_000_000


class TokenCache:
    """Size and lifetime of the middleware's verified-token cache.

    A client reuses one access token for minutes or hours, so most requests
    carry a token the middleware has verified before. The cache keeps the
    result of each successful verification, keyed by the whole token text,
    and answers a request with the same token from it: the signature, issuer,
    audience, required claims, scopes and ID-token checks are not repeated,
    ``exp``/``nbf``/``iat`` are checked against the clock (with the leeway) on
    every request, and the key that verified the token must still be in the
    key set. See "Verified-token cache" in ``docs/auth.md``.

    Keyword Args:
        size: At most this many tokens are kept (least recently used out
            first); ``0`` turns the cache off.
        max_age: Seconds after its verification that a token is verified
            again, even if it has not expired (1 to 86400).

    Raises:
        AuthConfigError: A setting is out of range.

    Examples:
        >>> TokenCache(size=10_000, max_age=60)
        TokenCache(size=10000, max_age=60)
        >>> TokenCache(size=0)  # off
        TokenCache(size=0, max_age=300)
    """

    __slots__ = ("max_age", "size")

    def __init__(self, *, size: int = 4096, max_age: float = 300) -> None:
        if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= _MAX_SIZE:
            raise AuthConfigError(f"TokenCache size: give a whole number from 0 to {_MAX_SIZE}")
        self.size = size
        self.max_age = number("TokenCache max_age", max_age, 1, 86400)

    def __repr__(self) -> str:
        return f"TokenCache(size={self.size}, max_age={self.max_age:g})"


class TokenCacheInfo(NamedTuple):
    """What `JWTAuthMiddleware.cache_info` reports (counts are approximate under load)."""

    hits: int
    misses: int
    size: int
    maxsize: int


class Entry(NamedTuple):
    """One verified token: who verified it, what it said, and when it is valid."""

    key: VerificationKey
    kid: str | None
    alg: str
    context: AuthContext
    not_before: float  # wall clock: nbf/iat minus leeway (-inf without them)
    expires: float  # wall clock: exp plus leeway; from then on the token is expired
    stale_at: float  # monotonic clock: verified time plus max_age


class VerifiedTokens:
    """A thread-safe LRU of `Entry` by token text; holds verified tokens only."""

    def __init__(self, config: TokenCache) -> None:
        self.maxsize = config.size
        self.max_age = config.max_age
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str) -> Entry | None:
        """Return the entry of this exact token, or ``None``."""
        if not self.maxsize:
            return None
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                self.misses += 1
            else:
                self._entries.move_to_end(token)
        return entry

    def put(
        self,
        token: str,
        key: VerificationKey,
        kid: str | None,
        alg: str,
        context: AuthContext,
        claims: Mapping[str, Any],
        leeway: float,
    ) -> None:
        """Keep a verified token, pushing the least recently used one out when full.

        Its window on the wall clock is the one PyJWT judged: PyJWT refuses
        ``iat``/``nbf`` greater than ``now + leeway`` and ``exp`` less than or
        equal to ``now - leeway``, each read with ``int()``; the claims were
        verified by it, so ``int()`` succeeds. An integer beyond a float (JSON
        numbers have no limit: ``2**1100``) is ±infinity on the clock here.
        """
        iat, nbf = claims.get("iat"), claims.get("nbf")
        not_before = -math.inf if iat is None else _seconds(iat) - leeway
        if nbf is not None:
            not_before = max(not_before, _seconds(nbf) - leeway)
        expires = _seconds(claims["exp"]) + leeway
        stale_at = time.monotonic() + self.max_age
        entry = Entry(key, kid, alg, context, not_before, expires, stale_at)
        entries = self._entries
        with self._lock:
            # NOTE: a token is put after a miss, so it is new (or was just discarded): it
            # lands at the most recent end; the least recent one leaves when full.
            entries[token] = entry
            if len(entries) > self.maxsize:
                entries.popitem(last=False)

    def discard(self, token: str) -> None:
        """Forget a token (it expired, went stale, or its key left the key set)."""
        with self._lock:
            self._entries.pop(token, None)

    def info(self) -> TokenCacheInfo:
        """Report hits, misses, current and maximum size."""
        return TokenCacheInfo(self.hits, self.misses, len(self._entries), self.maxsize)


def _seconds(claim: Any) -> float:
    """A verified time claim as PyJWT read it (``int()``), on the float clock of the entry."""
    whole = int(claim)
    try:
        return float(whole)
    except OverflowError:  # beyond any float: the far past or the far future
        return math.inf if whole > 0 else -math.inf
