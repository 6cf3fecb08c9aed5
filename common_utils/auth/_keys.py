"""Algorithm families and verification keys bound to them.

The key types accepted are a deliberate list, not whatever cryptography can load: RSA of
at least 2048 bits (``RS*``/``PS*``), EC on P-256, P-384 and P-521 (``ES256``/``ES384``/
``ES512``) and Ed25519 (``EdDSA``). DSA, Ed448, secp256k1, Brainpool and every other type
is refused at start-up with one line naming the setting.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from cryptography.utils import CryptographyDeprecationWarning
from jwt.algorithms import HMACAlgorithm

from common_utils.auth._errors import AuthConfigError

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_EC_BY_CURVE = {
    "secp256r1": "ES256",
    "secp384r1": "ES384",
    "secp521r1": "ES512",
}
EC_ALGORITHMS = frozenset(_EC_BY_CURVE.values())
EDDSA_ALGORITHMS = frozenset({"EdDSA"})
SUPPORTED_ALGORITHMS = HMAC_ALGORITHMS | RSA_ALGORITHMS | EC_ALGORITHMS | EDDSA_ALGORITHMS

MIN_HMAC_SECRET_BYTES = 32
MIN_RSA_BITS = 2048

PublicKeyObject = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class VerificationKey:
    """A parsed key and the algorithms it may verify (its family only)."""

    __slots__ = ("algorithms", "key")

    def __init__(self, key: PublicKeyObject | bytes, algorithms: frozenset[str]) -> None:
        self.key = key
        self.algorithms = algorithms

    def __repr__(self) -> str:
        # NOTE: never show key material, not even a public key.
        return f"VerificationKey(algorithms={sorted(self.algorithms)})"


def check_algorithms(algorithms: object) -> tuple[str, ...]:
    """Validate the allow-list: a non-empty list of known names, never ``none``."""
    if isinstance(algorithms, (str, bytes)) or not isinstance(algorithms, Iterable):
        raise AuthConfigError("algorithms: give a list of algorithm names, such as ['RS256']")
    names = tuple(algorithms)
    if not names:
        raise AuthConfigError("algorithms: the allow-list must not be empty")
    for name in names:
        if not isinstance(name, str) or name not in SUPPORTED_ALGORITHMS:
            allowed = ", ".join(sorted(SUPPORTED_ALGORITHMS))
            raise AuthConfigError(
                f"algorithms: {name!r} is not supported (allowed: {allowed}); 'none' never is"
            )
    return names


def algorithms_for_key(key: object) -> frozenset[str]:
    """Return the family of algorithms a public key object can verify."""
    if isinstance(key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(key, ec.EllipticCurvePublicKey):
        alg = _EC_BY_CURVE.get(key.curve.name)
        return frozenset({alg}) if alg else frozenset()
    if isinstance(key, ed25519.Ed25519PublicKey):
        return EDDSA_ALGORITHMS
    return frozenset()


def key_is_strong(key: object) -> bool:
    """Refuse RSA keys shorter than 2048 bits; other families have fixed sizes."""
    return not isinstance(key, rsa.RSAPublicKey) or key.key_size >= MIN_RSA_BITS


def prepare_secret(secret: object) -> bytes:
    """Check an HMAC secret, refusing short or key-like ones; return its bytes."""
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    if not isinstance(secret, bytes):
        raise AuthConfigError("Secret: give the HMAC secret as str or bytes")
    if len(secret) < MIN_HMAC_SECRET_BYTES:
        raise AuthConfigError(
            f"Secret: an HMAC secret must be at least {MIN_HMAC_SECRET_BYTES} bytes long"
        )
    try:
        # PyJWT refuses PEM, SSH and JWK public keys as HMAC secrets; so do we.
        return HMACAlgorithm(HMACAlgorithm.SHA256).prepare_key(secret)
    except Exception:  # noqa: BLE001 - any refusal means the same thing here
        raise AuthConfigError(
            "Secret: looks like a public key or certificate; use PublicKey for those"
        ) from None


def load_public_key(value: object) -> tuple[PublicKeyObject, frozenset[str]]:
    """Parse a PEM public key or certificate (or take a key object); return it and its family."""
    key: object = value
    if isinstance(value, str):
        value = value.encode("utf-8")
    if isinstance(value, bytes):
        key = _load_pem(value)
    family = algorithms_for_key(key)
    if not family:
        raise AuthConfigError(
            "PublicKey: not an RSA, EC (P-256, P-384, P-521) or Ed25519 public key"
        )
    if not key_is_strong(key):
        raise AuthConfigError(f"PublicKey: RSA keys must have at least {MIN_RSA_BITS} bits")
    return key, family  # type: ignore[return-value]  # the family says which type it is


def _load_pem(data: bytes) -> Any:
    try:
        # A refused type (DSA) must not warn first: the caller gets one clear line, not a
        # deprecation warning that a -W error service turns into a traceback.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            if b"-----BEGIN CERTIFICATE-----" in data:
                return x509.load_pem_x509_certificate(data).public_key()
            return load_pem_public_key(data)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise AuthConfigError(
            "PublicKey: not a PEM public key or certificate "
            "(private keys and HMAC secrets are refused)"
        ) from None
