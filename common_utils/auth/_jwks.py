"""A JWKS cache: one configured URL, TTL, refresh cooldown, one fetch at a time."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt

from common_utils.auth._errors import AuthConfigError
from common_utils.auth._keys import VerificationKey, algorithms_for_key, key_is_strong

_log = logging.getLogger("common_utils.auth")

MAX_JWKS_BYTES = 1 << 20
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class _JWKSFetchError(Exception):
    """The key server did not answer a usable key set (reason is safe to log)."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    # Keys come from the configured URL only: a redirect is a failed fetch.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def shown_uri(uri: str) -> str:
    """The URL as reprs and log lines show it: no userinfo, query values or fragment.

    A key server may be reached through a signed URL (``?sig=...``) or one with a
    token in its query; the names of the query parameters stay, for debugging.
    """
    parts = urlsplit(uri)
    host = parts.netloc.rpartition("@")[2]
    query = "&".join(
        f"{name.partition('=')[0]}=<hidden>" for name in parts.query.split("&") if name
    )
    return urlunsplit((parts.scheme, host, parts.path, query, ""))


def check_jwks_uri(uri: object) -> str:
    """Accept https URLs, and plain http only on loopback (tests, sidecars)."""
    if not isinstance(uri, str):
        raise AuthConfigError("JWKS uri: give the key set URL as a string")
    parts = urlsplit(uri)
    if not parts.hostname or parts.scheme not in {"https", "http"}:
        raise AuthConfigError("JWKS uri: not an absolute http(s) URL")
    if parts.scheme == "http" and parts.hostname not in _LOOPBACK_HOSTS:
        raise AuthConfigError("JWKS uri: must use https (plain http only on loopback)")
    if parts.username or parts.password:
        raise AuthConfigError("JWKS uri: must not carry credentials")
    return uri


def parse_jwks(
    document: object,
    algorithms: frozenset[str],
    previous: Mapping[str, VerificationKey],
) -> list[tuple[str | None, VerificationKey, str]]:
    """Return the usable signature keys of a JWKS document, each bound to its family.

    Keys are skipped (not fatal) when they are for encryption, symmetric,
    private, weak, malformed, or of an algorithm outside the allow-list. A
    well-formed document may leave none: the list is then empty (the key
    server is authoritative, so that withdraws every key). Each entry carries
    the JWK's fingerprint; a key whose JWK is unchanged since ``previous``
    (fingerprint -> key) is that same object, so what it verified stays valid.
    """
    if not isinstance(document, Mapping) or not isinstance(document.get("keys"), list):
        raise _JWKSFetchError("not a JWKS document")
    usable = []
    for jwk in document["keys"]:
        entry = _parse_jwk(jwk, algorithms)
        if entry is not None:
            kid, key = entry
            fingerprint = json.dumps(jwk, sort_keys=True)
            usable.append((kid, previous.get(fingerprint, key), fingerprint))
    return usable


def _parse_jwk(jwk: object, allowed: frozenset[str]) -> tuple[str | None, VerificationKey] | None:
    if not isinstance(jwk, Mapping):
        return None
    kid = jwk.get("kid")
    if jwk.get("use", "sig") != "sig" or jwk.get("kty") == "oct" or "d" in jwk:
        return None
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return None
    if kid is not None and not isinstance(kid, str):
        return None
    alg = jwk.get("alg")
    if alg is not None and alg not in allowed:
        return None
    try:
        key = jwt.PyJWK(dict(jwk)).key
    except Exception:  # noqa: BLE001 - a malformed key is skipped, whatever PyJWT says
        return None
    family = algorithms_for_key(key) & allowed
    if alg is not None:
        family &= {alg}
    if not family or not key_is_strong(key):
        return None
    return kid, VerificationKey(key, family)


class JWKSCache:
    """Signing keys from one JWKS URL, refreshed by TTL and on unknown ``kid``.

    A successful fetch is authoritative: its keys replace the cached ones,
    even when it holds no usable key. A failed fetch keeps the cached keys,
    but never past ``max_age`` seconds after the fetch that brought them.

    Thread-safe: one fetch at a time; readers never take the lock on the
    steady-state path (the key dict is replaced, never mutated).
    """

    def __init__(
        self,
        uri: str,
        *,
        algorithms: Sequence[str],
        ttl: float,
        cooldown: float,
        timeout: float,
        max_age: float,
    ) -> None:
        self.uri = uri
        self._algorithms = frozenset(algorithms)
        self._ttl = ttl
        self._cooldown = cooldown
        self._timeout = timeout
        self._max_age = max_age
        self._lock = threading.Lock()
        self._by_kid: dict[str, VerificationKey] = {}
        self._all: list[VerificationKey] = []
        self._by_fingerprint: dict[str, VerificationKey] = {}
        self._stale_at = -math.inf  # monotonic time after which the TTL asks for a refresh
        self._expires_at = -math.inf  # monotonic time after which the keys are never used
        self._attempted_at = -math.inf  # monotonic time of the last fetch attempt
        self._fetched = False

    def __repr__(self) -> str:
        return f"JWKSCache(uri={shown_uri(self.uri)!r}, keys={len(self._all)})"

    def lookup(self, kid: str | None, alg: str) -> VerificationKey | None:
        """Return the key for ``kid`` (or the only key for ``alg`` when no kid)."""
        if time.monotonic() >= self._expires_at:
            return None  # too old to trust: refreshes have failed for max_age
        if kid is not None:
            return self._by_kid.get(kid)
        candidates = [k for k in self._all if alg in k.algorithms]
        return candidates[0] if len(candidates) == 1 else None

    def unavailable(self) -> str | None:
        """Say why no token can verify now (a reason safe to log), or ``None``."""
        if not self._fetched:
            return "no JWKS fetched yet"
        if time.monotonic() >= self._expires_at:
            return "JWKS keys are older than the JWKS max_age and could not be refreshed"
        if not self._all:
            return "the JWKS holds no usable signature key"
        return None

    def refresh_due(self, found: bool) -> bool:
        """Say whether a fetch should be attempted now (cheap; no lock)."""
        if not found and self._lock.locked():
            return True  # a fetch is in flight: wait for it rather than refuse
        now = time.monotonic()
        if now - self._attempted_at < self._cooldown:
            return False
        return not found or now >= self._stale_at

    def refresh(self, *, wait: bool) -> None:
        """Fetch the key set unless another thread just did; never raise.

        With ``wait=False`` (a stale but usable cache) a request does not queue
        behind a fetch already in flight; it goes on with the keys it has.
        """
        if wait:
            acquired = self._lock.acquire(timeout=self._timeout + 1)
        else:
            acquired = self._lock.acquire(blocking=False)
        if not acquired:
            return
        try:
            now = time.monotonic()
            if now - self._attempted_at < self._cooldown:
                return  # another thread fetched (or failed) while we waited
            self._attempted_at = now
            try:
                entries = parse_jwks(self._fetch(), self._algorithms, self._by_fingerprint)
            except _JWKSFetchError as ex:
                _log.warning("JWKS fetch from %s failed: %s", shown_uri(self.uri), ex)
                return
            # NOTE: a key that left the set is no longer found by lookup(): tokens it
            # verified (cached by the middleware) are then verified again, and refused.
            self._by_kid = {kid: key for kid, key, _ in entries if kid is not None}
            self._all = [key for _, key, _ in entries]
            self._by_fingerprint = {fingerprint: key for _, key, fingerprint in entries}
            self._stale_at = now + self._ttl
            self._expires_at = now + self._max_age
            self._fetched = True
            if entries:
                _log.info("JWKS from %s: %d usable keys", shown_uri(self.uri), len(entries))
            else:
                _log.warning(
                    "JWKS from %s: no usable signature key; no token verifies", shown_uri(self.uri)
                )
        finally:
            self._lock.release()

    def retry_after(self) -> int:
        """Seconds until the next fetch attempt is allowed (at least 1)."""
        remaining = self._cooldown - (time.monotonic() - self._attempted_at)
        return max(1, math.ceil(remaining))

    def _fetch(self) -> object:
        request = urllib.request.Request(  # noqa: S310 - scheme checked by check_jwks_uri
            self.uri, headers={"Accept": "application/json", "User-Agent": "common_utils.auth"}
        )
        try:
            with _OPENER.open(request, timeout=self._timeout) as response:
                body = response.read(MAX_JWKS_BYTES + 1)
        except urllib.error.HTTPError as ex:
            raise _JWKSFetchError(f"HTTP {ex.code}") from None
        except (OSError, ValueError) as ex:  # URLError, timeouts, resets
            raise _JWKSFetchError(type(ex).__name__) from None
        if len(body) > MAX_JWKS_BYTES:
            raise _JWKSFetchError("JWKS document larger than 1 MiB")
        try:
            return json.loads(body)
        except ValueError:
            raise _JWKSFetchError("JWKS document is not JSON") from None
