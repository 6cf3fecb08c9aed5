"""A token issuer for tests: its keys, its JWKS and tokens shaped like UAA's."""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from common_utils.testing._bindings import service_entry

__all__ = ["TokenIssuer"]

_RSA = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512")
_EC_CURVES: Mapping[str, ec.EllipticCurve] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
}
_HMAC = ("HS256", "HS384", "HS512")
# Far enough outside the largest leeway the middleware accepts (300 s).
_FAR = 3600


class TokenIssuer:
    """An identity provider for tests: a fresh key pair and tokens signed with it.

    Tokens carry what UAA puts in an access token (``iss``, ``aud`` as a list,
    ``sub``, ``client_id``, ``scope`` as a list, ``iat``, ``exp``, ``jti``) so
    a middleware built from `service` accepts them. The key is generated
    per instance; build one per test session, not per test (RSA generation
    takes tens of milliseconds).

    Keyword Args:
        issuer: The ``iss`` of every token.
        audience: The ``aud`` of every token (the middleware's audience).
        algorithm: ``RS256`` (default), ``RS384/512``, ``PS256/384/512``,
            ``ES256/384/512`` or ``HS256/384/512`` (a random secret).
        kid: The key id in the token header and the JWKS.
        lifetime: Seconds from ``iat`` to ``exp``.
        client_id: The ``client_id`` claim.
        scopes: The scopes of a token when `token` is not given any
            (a service's tests usually want the scope its routes require).
        secret: A known HMAC secret for an ``HS*`` issuer (text or bytes), for
            tokens a shell command (``curl``) or another tool must also sign
            or verify; random when not given.
        private_key: A known private key (PEM, unencrypted PKCS#8 or
            traditional) for an ``RS*``/``PS*``/``ES*`` issuer; generated when
            not given.

    Defaults, which a middleware built from `service` matches: ``iss``
    ``https://uaa.test/oauth/token``, ``aud`` ``["test-app"]``, ``sub``
    ``test-user``, ``client_id`` ``test-client``, kid ``test-key-1``, RS256,
    a lifetime of 300 s and no scopes.

    Examples:
        >>> import falcon, falcon.testing
        >>> from common_utils.auth import JWTAuthMiddleware
        >>> from common_utils.cfenv import CFEnv
        >>> from common_utils.testing import TokenIssuer, vcap_services
        >>> issuer = TokenIssuer(audience="orders")
        >>> env = CFEnv(environ={"VCAP_SERVICES": vcap_services(issuer.service())})
        >>> app = falcon.App(middleware=[JWTAuthMiddleware.from_service(env.service(tag="jwt"))])
        >>> class Orders:
        ...     def on_get(self, req, resp):
        ...         resp.media = {"for": req.context.auth.claims["sub"]}
        >>> app.add_route("/orders", Orders())
        >>> client = falcon.testing.TestClient(app)
        >>> client.get("/orders", headers={"Authorization": f"Bearer {issuer.token()}"}).json
        {'for': 'test-user'}
        >>> client.get("/orders", headers={"Authorization": f"Bearer {issuer.expired_token()}"}).status
        '401 Unauthorized'
    """  # noqa: E501

    def __init__(
        self,
        *,
        issuer: str = "https://uaa.test/oauth/token",
        audience: str = "test-app",
        algorithm: str = "RS256",
        kid: str = "test-key-1",
        lifetime: int = 300,
        client_id: str = "test-client",
        scopes: Iterable[str] = (),
        secret: str | bytes | None = None,
        private_key: str | bytes | None = None,
    ) -> None:
        if lifetime <= 0:
            raise ValueError("lifetime must be a positive number of seconds")
        if secret is not None and algorithm not in _HMAC:
            raise ValueError(f"secret is for HS256/384/512, not {algorithm}; use private_key")
        if private_key is not None and algorithm in _HMAC:
            raise ValueError(f"private_key is for key pairs, not {algorithm}; use secret")
        self.issuer = issuer
        self.audience = audience
        self.algorithm = algorithm
        self.kid = kid
        self.lifetime = lifetime
        self.client_id = client_id
        self.scopes = tuple(scopes)
        self._secret: bytes | None = None
        self._private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | None = None
        if algorithm in _HMAC:
            known = secret.encode() if isinstance(secret, str) else secret
            self._secret = known if known is not None else secrets.token_urlsafe(48).encode()
        elif private_key is not None:
            self._private = _known_private_key(algorithm, private_key)
        else:
            self._private = _new_private_key(algorithm)

    def __repr__(self) -> str:  # never the secret or the key
        return (
            f"TokenIssuer(issuer={self.issuer!r}, audience={self.audience!r}, "
            f"algorithm={self.algorithm!r}, kid={self.kid!r})"
        )

    @property
    def secret(self) -> bytes:
        """The HMAC secret of an ``HS*`` issuer (``TypeError`` for key pairs)."""
        if self._secret is None:
            raise TypeError(f"a {self.algorithm} issuer has a key pair, not a secret")
        return self._secret

    @property
    def public_pem(self) -> str:
        """The public key, PEM (SubjectPublicKeyInfo), for a ``public_key`` credential."""
        return (
            self._key_pair()
            .public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def jwks(self) -> dict[str, Any]:
        """The public JWK Set, as a ``/token_keys`` endpoint would publish it."""
        jwk = jwt.algorithms.get_default_algorithms()[self.algorithm].to_jwk(
            self._key_pair().public_key(), as_dict=True
        )
        jwk.update(kid=self.kid, alg=self.algorithm, use="sig")
        return {"keys": [jwk]}

    def claims(self, *, scopes: Iterable[str] | None = None, **claims: Any) -> dict[str, Any]:
        """Return the claims `token` signs; a claim set to ``None`` is left out."""
        now = int(time.time())
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": [self.audience],
            "sub": "test-user",
            "client_id": self.client_id,
            "scope": list(self.scopes if scopes is None else scopes),
            "iat": now,
            "exp": now + self.lifetime,
            "jti": uuid.uuid4().hex,
        }
        payload.update(claims)
        return {key: value for key, value in payload.items() if value is not None}

    def token(
        self,
        *,
        scopes: Iterable[str] | None = None,
        headers: Mapping[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """Return a signed access token; keyword claims override the defaults.

        ``scopes`` replaces the issuer's default scopes (``[]`` for none).

        Examples:
            >>> import jwt
            >>> issuer = TokenIssuer(algorithm="HS256")
            >>> token = issuer.token(scopes=["orders.read"], sub="alice", jti=None)
            >>> claims = jwt.decode(token, issuer.secret, algorithms=["HS256"], audience="test-app")
            >>> claims["sub"], claims["scope"], "jti" in claims
            ('alice', ['orders.read'], False)
        """
        key = self._secret if self._secret is not None else self._key_pair()
        header = {"kid": self.kid, **(headers or {})}
        return jwt.encode(
            self.claims(scopes=scopes, **claims), key, algorithm=self.algorithm, headers=header
        )

    def expired_token(self, **claims: Any) -> str:
        """Return a token that expired an hour ago (beyond any allowed leeway)."""
        now = int(time.time())
        return self.token(**{"iat": now - 2 * _FAR, "exp": now - _FAR, **claims})

    def not_yet_valid_token(self, **claims: Any) -> str:
        """Return a token whose ``nbf`` is an hour from now."""
        return self.token(**{"nbf": int(time.time()) + _FAR, **claims})

    def wrong_audience_token(self, **claims: Any) -> str:
        """Return a token issued for another audience."""
        return self.token(**{"aud": [f"not-{self.audience}"], **claims})

    def forged_token(self, **claims: Any) -> str:
        """Return a token with this issuer's claims and ``kid`` but signed by another key."""
        impostor = copy.copy(self)
        if self._secret is not None:
            impostor._secret = secrets.token_urlsafe(48).encode()
        else:
            impostor._private = _new_private_key(self.algorithm)
        return impostor.token(**claims)

    def credentials(self, *, jwks_uri: str | None = None) -> dict[str, Any]:
        """Return user-provided service credentials that trust this issuer.

        The key source is ``jwks_uri`` when given (see `JWKSServer`),
        else ``secret`` for an ``HS*`` issuer, else the PEM ``public_key``.
        """
        creds: dict[str, Any] = {
            "issuer": self.issuer,
            "audience": self.audience,
            "algorithms": [self.algorithm],
        }
        if jwks_uri is not None:
            creds["jwks_uri"] = jwks_uri
        elif self._secret is not None:
            creds["secret"] = self._secret.decode()
        else:
            creds["public_key"] = self.public_pem
        return creds

    def service(
        self, name: str = "jwt", *, tags: Iterable[str] = ("jwt",), jwks_uri: str | None = None
    ) -> dict[str, Any]:
        """Return a user-provided ``VCAP_SERVICES`` entry whose credentials trust this issuer."""
        return service_entry(name, tags=tags, credentials=self.credentials(jwks_uri=jwks_uri))

    def _key_pair(self) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
        if self._private is None:
            raise TypeError(f"a {self.algorithm} issuer has a secret, not a key pair")
        return self._private


def _new_private_key(algorithm: str) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if algorithm in _RSA:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm in _EC_CURVES:
        return ec.generate_private_key(_EC_CURVES[algorithm])
    supported = ", ".join((*_RSA, *_EC_CURVES, *_HMAC))
    raise ValueError(f"algorithm {algorithm!r} is not one of {supported}")


def _known_private_key(
    algorithm: str, pem: str | bytes
) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(
            pem.encode() if isinstance(pem, str) else pem, password=None
        )
    except (ValueError, TypeError):
        raise ValueError("private_key is not an unencrypted PEM private key") from None
    if algorithm in _RSA and isinstance(key, rsa.RSAPrivateKey):
        return key
    curve = _EC_CURVES.get(algorithm)
    fits_curve = curve is not None and isinstance(key, ec.EllipticCurvePrivateKey)
    if fits_curve and key.curve.name == curve.name:  # type: ignore[union-attr]
        return key  # type: ignore[return-value]
    raise ValueError(f"private_key does not fit {algorithm}")
