"""Key sources: where the middleware's verification keys come from.

One object per kind of source, each validating its own options when it is
built, so a combination that means nothing (a secret with a JWKS refresh
interval) cannot be written. The middleware binds a source to its algorithm
allow-list (`KeySource._open`) and gets a key store back: one
interface for a fixed key and for a refreshed key set, so the hot path never
asks which one it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from common_utils.auth._errors import AuthConfigError
from common_utils.auth._jwks import JWKSCache, check_jwks_uri, shown_uri
from common_utils.auth._keys import (
    HMAC_ALGORITHMS,
    PublicKeyObject,
    VerificationKey,
    load_public_key,
    prepare_secret,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["JWKS", "KeySource", "KeyStore", "PublicKey", "Secret", "number"]


class KeyStore(Protocol):
    """What the middleware asks of its keys on every request."""

    def lookup(self, kid: str | None, alg: str) -> VerificationKey | None:
        """Return the key for a token header, or ``None`` (unknown kid, no usable key)."""

    def refresh_due(self, found: bool) -> bool:
        """Say whether a fetch should be attempted before verifying."""

    def refresh(self, *, wait: bool) -> None:
        """Fetch the keys again (never raises)."""

    def unavailable(self) -> str | None:
        """Say why no key can be used now, or ``None`` when the kid is simply unknown."""

    def retry_after(self) -> int:
        """Seconds a client should wait before retrying after a 503."""


class _StaticKeys:
    """One fixed key: every lookup finds it; nothing is ever fetched."""

    __slots__ = ("_key",)

    def __init__(self, key: VerificationKey) -> None:
        self._key = key

    def lookup(self, kid: str | None, alg: str) -> VerificationKey:
        return self._key

    def refresh_due(self, found: bool) -> bool:
        return False

    # NOTE: a fixed key is never missing and never due, so the middleware never calls these.
    def refresh(self, *, wait: bool) -> None:  # pragma: no cover - never due
        return None

    def unavailable(self) -> str | None:  # pragma: no cover - never missing
        return None

    def retry_after(self) -> int:  # pragma: no cover - never missing
        return 1


class KeySource:
    """Base of `JWKS`, `PublicKey` and `Secret` (not for subclassing)."""

    __slots__ = ()

    def _open(self, algorithms: Sequence[str]) -> KeyStore:
        """Bind the source to the allow-list, refusing algorithms it cannot verify."""
        raise NotImplementedError  # pragma: no cover - every source overrides it


class Secret(KeySource):
    """An HMAC secret shared with the issuer (``HS256``, ``HS384``, ``HS512``).

    At least 32 bytes; a PEM or JWK public key is refused (it would let anyone
    who has the public key forge tokens). Its ``repr`` never shows it.

    Args:
        value: The secret, as ``str`` (UTF-8) or ``bytes``.

    Raises:
        AuthConfigError: The secret is short, not text or bytes, or looks like
            a public key.

    Examples:
        >>> Secret("a-32-byte-long-secret-for-hs256!")
        Secret(<hidden>)
    """

    __slots__ = ("_value",)

    def __init__(self, value: str | bytes) -> None:
        self._value = prepare_secret(value)

    def __repr__(self) -> str:
        return "Secret(<hidden>)"

    def _open(self, algorithms: Sequence[str]) -> KeyStore:
        wrong = [a for a in algorithms if a not in HMAC_ALGORITHMS]
        if wrong:
            raise AuthConfigError(
                f"algorithms: {wrong} cannot be verified with a Secret; use PublicKey or JWKS"
            )
        return _StaticKeys(VerificationKey(self._value, frozenset(algorithms)))


class PublicKey(KeySource):
    """A fixed public key: PEM, an X.509 certificate, or a ``cryptography`` key object.

    Parsed once, here. RSA (at least 2048 bits), EC (P-256, P-384, P-521)
    and Ed25519 keys; each verifies the algorithms of its own family only.
    DSA and every other key type is refused. This is UAA's ``verificationkey``.

    Args:
        value: The PEM text (str or bytes) or a public key object.

    Raises:
        AuthConfigError: Not a public key (private keys are refused too), a
            weak RSA key, or an unsupported key type.

    Examples:
        >>> from cryptography.hazmat.primitives.asymmetric import ec
        >>> PublicKey(ec.generate_private_key(ec.SECP256R1()).public_key())
        PublicKey(ES256)
    """

    __slots__ = ("_family", "_key")

    def __init__(self, value: str | bytes | PublicKeyObject) -> None:
        self._key, self._family = load_public_key(value)

    def __repr__(self) -> str:
        # NOTE: never key material, not even of a public key: the family says enough.
        return f"PublicKey({'/'.join(sorted(self._family))})"

    def _open(self, algorithms: Sequence[str]) -> KeyStore:
        hmac = [a for a in algorithms if a in HMAC_ALGORITHMS]
        if hmac:
            raise AuthConfigError(
                f"algorithms: {hmac} need a Secret; a public key never serves as an HMAC secret"
            )
        wrong = [a for a in algorithms if a not in self._family]
        if wrong:
            raise AuthConfigError(
                f"algorithms: {wrong} cannot be verified with this PublicKey "
                f"(it serves {sorted(self._family)})"
            )
        return _StaticKeys(VerificationKey(self._key, frozenset(algorithms)))


class JWKS(KeySource):
    """Keys fetched from a JWK Set URL (UAA's ``/token_keys``) and cached.

    Fetched on the first request (building it does no network I/O), used for
    ``ttl`` seconds, fetched again when a token names an unknown ``kid`` (at
    most once per ``refresh_cooldown``), and kept while refreshes fail for at
    most ``max_age`` seconds after the fetch that brought them.

    Args:
        uri: The key set's URL: https, or plain http on loopback only; no
            credentials in it. Redirects are never followed.

    Keyword Args:
        ttl: Seconds a fetched key set is used before a refresh (0.001 to 86400).
        refresh_cooldown: Minimum seconds between two fetches, whatever the
            number of unknown ``kid`` values or failures (0 to 3600).
        timeout: Seconds one fetch may take (0.01 to 60).
        max_age: Seconds after a successful fetch that its keys may still
            verify while refreshes fail (at least ``ttl``, at most 7 days).

    Raises:
        AuthConfigError: A setting is out of range; the message names it.

    Examples:
        >>> JWKS("https://uaa.example.com/token_keys", ttl=300)
        JWKS('https://uaa.example.com/token_keys', ttl=300)
    """

    __slots__ = ("_max_age", "_refresh_cooldown", "_timeout", "_ttl", "_uri")

    _DEFAULTS = (("ttl", 600.0), ("refresh_cooldown", 60.0), ("timeout", 5.0), ("max_age", 3600.0))

    def __init__(
        self,
        uri: str,
        *,
        ttl: float = 600,
        refresh_cooldown: float = 60,
        timeout: float = 5,
        max_age: float = 3600,
    ) -> None:
        self._uri = check_jwks_uri(uri)
        self._ttl = number("JWKS ttl", ttl, 0.001, 86400)
        self._refresh_cooldown = number("JWKS refresh_cooldown", refresh_cooldown, 0, 3600)
        self._timeout = number("JWKS timeout", timeout, 0.01, 60)
        self._max_age = number("JWKS max_age", max_age, 0.001, 7 * 86400)
        if self._max_age < self._ttl:
            raise AuthConfigError(f"JWKS max_age: must be at least ttl ({self._ttl:g})")

    def __repr__(self) -> str:
        options = "".join(
            f", {name}={getattr(self, '_' + name):g}"
            for name, default in self._DEFAULTS
            if getattr(self, "_" + name) != default
        )
        return f"JWKS({shown_uri(self._uri)!r}{options})"

    @property
    def uri(self) -> str:
        """The key set's URL."""
        return self._uri

    def _open(self, algorithms: Sequence[str]) -> KeyStore:
        hmac = [a for a in algorithms if a in HMAC_ALGORITHMS]
        if hmac:
            raise AuthConfigError(
                f"algorithms: {hmac} need a Secret; a JWKS never serves HMAC keys"
            )
        return JWKSCache(
            self._uri,
            algorithms=algorithms,
            ttl=self._ttl,
            cooldown=self._refresh_cooldown,
            timeout=self._timeout,
            max_age=self._max_age,
        )


def number(name: str, value: object, low: float, high: float) -> float:
    """Accept an int or float (not a bool) from ``low`` to ``high``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise AuthConfigError(f"{name}: give a number from {low:g} to {high:g}")
    return float(value)
