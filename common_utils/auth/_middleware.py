"""The Falcon middleware that verifies bearer JWTs (WSGI and ASGI)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import functools
import json
import logging
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import falcon
import jwt

from common_utils.auth._context import AuthContext
from common_utils.auth._errors import (
    AuthConfigError,
    invalid_request,
    invalid_token,
    keys_unavailable,
    unauthorized,
)
from common_utils.auth._jwks import JWKSCache, check_jwks_uri
from common_utils.auth._keys import (
    HMAC_ALGORITHMS,
    VerificationKey,
    check_algorithms,
    public_key,
    secret_key,
)
from common_utils.auth._scopes import DEFAULT_REALM, parse_scopes

if TYPE_CHECKING:
    from jwt.types import Options

__all__ = ["JWTAuthMiddleware"]

_log = logging.getLogger("common_utils.auth")

# A compact JWS: three base64url segments. JWE (five) and unsecured forms never pass.
_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_KID_CHARS = 256
# At most this many parsed JOSE headers are kept per middleware (tokens of one issuer
# and key share one header, so a handful is the norm; the cap bounds hostile input).
_MAX_CACHED_HEADERS = 64
_MAX_LEEWAY = 300
_RESOURCE_AUTH_KEYS = frozenset({"exempt", "exempt_methods"})

# Fixed, short reasons: clients and logs never see exception text or claim values.
_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not yet valid"),
    (jwt.InvalidIssuerError, "wrong issuer"),
    (jwt.InvalidAudienceError, "wrong audience"),
    (jwt.MissingRequiredClaimError, "missing required claim"),
    (jwt.InvalidSignatureError, "signature verification failed"),
    (jwt.InvalidAlgorithmError, "algorithm not allowed"),
    (jwt.DecodeError, "malformed token"),
)


class _ServiceLike(Protocol):
    """What ``from_service`` reads of a ``common_utils.cfenv.Service``."""

    @property
    def name(self) -> str: ...  # pragma: no cover

    @property
    def label(self) -> str: ...  # pragma: no cover

    @property
    def credentials(self) -> Mapping[str, Any]: ...  # pragma: no cover


class JWTAuthMiddleware:
    """Verify ``Authorization: Bearer <JWT>`` on every non-exempt route.

    One middleware for WSGI (``falcon.App``) and ASGI (``falcon.asgi.App``).
    Give exactly one key source: ``jwks_uri`` (asymmetric keys fetched from
    that URL only, cached), ``public_key`` (a PEM public key or certificate)
    or ``secret`` (HMAC, at least 32 bytes). Each key verifies only the
    algorithms of its own family from the ``algorithms`` allow-list.

    On success ``req.context.auth`` is an :class:`AuthContext`. Failures are
    RFC 6750 responses: no credentials or another scheme -> 401 with a bare
    ``Bearer realm`` challenge; malformed header -> 400 ``invalid_request``;
    bad token -> 401 ``invalid_token``; keys unreachable on a cold cache ->
    503 with ``Retry-After``. Install
    :func:`common_utils.problems.problem_error_serializer` for problem+json
    bodies.

    Keyword Args:
        jwks_uri: URL of the JWKS (https; plain http only on loopback).
        public_key: PEM public key or certificate (str or bytes), or a
            ``cryptography`` public key object.
        secret: HMAC secret (str or bytes, at least 32 bytes).
        issuer: The exact ``iss`` value tokens must carry.
        audience: Our audience; the token's ``aud`` must contain it (or one
            of them, given a list).
        algorithms: Allow-list, such as ``["RS256"]``; required.
        exempt_routes: URI templates (``"/items/{id}"``) that need no token.
        exempt_methods: Methods that need no token (CORS preflight by default).
        leeway: Clock skew allowed on ``exp``, ``nbf`` and ``iat``, in
            seconds (0 to 300).
        required_claims: Claims that must be present besides ``exp``,
            ``iss`` and ``aud``.
        realm: The ``realm`` of the challenges.
        max_header_bytes: Longer Authorization headers get 400 before any
            decoding.
        jwks_ttl: Seconds a fetched key set is used before a refresh.
        jwks_refresh_cooldown: Minimum seconds between two fetches, whatever
            the number of unknown ``kid`` values or failures.
        jwks_timeout: Seconds the key fetch may take.

    Raises:
        AuthConfigError: A setting is missing, unsafe or inconsistent; the
            message names it and never shows its value.

    Example:
        >>> import falcon, falcon.testing
        >>> auth = JWTAuthMiddleware(
        ...     secret="a-32-byte-long-secret-for-hs256!", issuer="https://issuer.example",
        ...     audience="orders", algorithms=["HS256"], exempt_routes=["/health"])
        >>> app = falcon.App(middleware=[auth])
        >>> class Health:
        ...     def on_get(self, req, resp):
        ...         resp.media = {"status": "ok"}
        >>> app.add_route("/health", Health())
        >>> app.add_route("/orders", Health())
        >>> client = falcon.testing.TestClient(app)
        >>> client.simulate_get("/health").status_code
        200
        >>> r = client.simulate_get("/orders")
        >>> r.status_code, r.headers["WWW-Authenticate"]
        (401, 'Bearer realm="api"')
    """

    def __init__(
        self,
        *,
        jwks_uri: str | None = None,
        public_key: str | bytes | object | None = None,
        secret: str | bytes | None = None,
        issuer: str,
        audience: str | Iterable[str],
        algorithms: Iterable[str],
        exempt_routes: Iterable[str] = (),
        exempt_methods: Iterable[str] = ("OPTIONS",),
        leeway: float = 30,
        required_claims: Iterable[str] = (),
        realm: str = DEFAULT_REALM,
        max_header_bytes: int = 8192,
        jwks_ttl: float = 600,
        jwks_refresh_cooldown: float = 60,
        jwks_timeout: float = 5,
    ) -> None:
        given = [n for n, v in (("jwks_uri", jwks_uri), ("public_key", public_key),
                                ("secret", secret)) if v is not None]  # fmt: skip
        if len(given) != 1:
            raise AuthConfigError(
                "give exactly one key source: jwks_uri, public_key or secret "
                f"(got {', '.join(given) or 'none'})"
            )
        self._algorithms = check_algorithms(algorithms)
        self._issuer = _text("issuer", issuer)
        self._audience = _audience(audience)
        self._realm = _header_safe("realm", realm)
        self._leeway = _number("leeway", leeway, 0, _MAX_LEEWAY)
        self._max_header = int(_number("max_header_bytes", max_header_bytes, 64, 1 << 20))
        self._exempt_routes = frozenset(_strings("exempt_routes", exempt_routes))
        self._exempt_methods = frozenset(
            m.upper() for m in _strings("exempt_methods", exempt_methods)
        )
        claims = _strings("required_claims", required_claims)
        self._options: Options = {
            "require": list(dict.fromkeys(["exp", "iss", "aud", *claims])),
            "verify_signature": True,
            "verify_exp": True,
            "verify_nbf": True,
            "verify_iat": True,
            "verify_aud": True,
            "verify_iss": True,
        }
        # PERF: one list per algorithm, so the hot path allocates nothing for it.
        self._single = {alg: [alg] for alg in self._algorithms}
        # PERF: a decoder holding our options: jwt.decode(options=...) merges two
        # option dicts per call; PyJWT.decode without options reuses these as they are.
        self._decoder = jwt.PyJWT(options=self._options)
        # PERF: parsed JOSE headers by header segment: all tokens of one issuer and
        # key share one, so a small LRU cache (bounded against hostile input) spares
        # the base64 and JSON work on almost every request.
        self._header_fields = functools.lru_cache(maxsize=_MAX_CACHED_HEADERS)(self._parse_header)
        self._static: VerificationKey | None = None
        self._jwks: JWKSCache | None = None
        if secret is not None:
            self._static = secret_key(secret, self._algorithms)
        elif public_key is not None:
            self._static = _public_key_only(public_key, self._algorithms)
        else:
            hmac = [a for a in self._algorithms if a in HMAC_ALGORITHMS]
            if hmac:
                raise AuthConfigError(
                    f"algorithms: {hmac} need secret=; a JWKS never serves HMAC keys"
                )
            self._jwks = JWKSCache(
                check_jwks_uri(jwks_uri),
                algorithms=self._algorithms,
                ttl=_number("jwks_ttl", jwks_ttl, 0.001, 86400),
                cooldown=_number("jwks_refresh_cooldown", jwks_refresh_cooldown, 0, 3600),
                timeout=_number("jwks_timeout", jwks_timeout, 0.01, 60),
            )

    def __repr__(self) -> str:
        source = f"jwks_uri={self._jwks.uri!r}" if self._jwks else "static key"
        return (
            f"JWTAuthMiddleware({source}, issuer={self._issuer!r}, "
            f"algorithms={list(self._algorithms)!r})"
        )

    @classmethod
    def from_service(cls, service: _ServiceLike, **overrides: Any) -> JWTAuthMiddleware:
        """Build the middleware from a Cloud Foundry service binding.

        A binding labelled ``xsuaa`` or ``uaa`` is read as a UAA: keys from
        ``<url>/token_keys``, issuer ``<url>/oauth/token``, ``RS256``, and as
        audience the ``xsappname`` (XSUAA) or the ``audience`` credential,
        else the ``clientid`` (UAA). Any other binding (a user-provided
        service) gives ``issuer``, ``audience``, one of ``jwks_uri`` /
        ``public_key`` / ``secret`` and optionally ``algorithms`` (a list;
        ``HS256`` for a secret, else ``RS256`` by default).

        Args:
            service: A :class:`common_utils.cfenv.Service` (anything with
                ``name``, ``label`` and a ``credentials`` mapping).
            **overrides: Keyword arguments of the constructor; they win over
                what the binding says.

        Returns:
            The configured middleware (no network call is made here).

        Raises:
            AuthConfigError: A credential is missing or unusable; the message
                names the service and the credential, never the value.

        Example:
            >>> from common_utils.cfenv import CFEnv
            >>> env = CFEnv(environ={"VCAP_SERVICES": '{"xsuaa": [{"name": "uaa", "label": "xsuaa",'
            ...     ' "tags": ["xsuaa"], "credentials": {"url": "https://t.auth.example.com",'
            ...     ' "uaadomain": "auth.example.com", "clientid": "sb-orders!t1", "xsappname": "orders!t1"}}]}'})
            >>> auth = JWTAuthMiddleware.from_service(env.service(label="xsuaa"))
            >>> auth
            JWTAuthMiddleware(jwks_uri='https://t.auth.example.com/token_keys', issuer='https://t.auth.example.com/oauth/token', algorithms=['RS256'])
        """  # noqa: E501
        creds = service.credentials
        name = getattr(service, "name", "?")
        label = str(getattr(service, "label", "") or "").lower()

        def need(key: str) -> Any:
            value = creds.get(key)
            if value is None or value == "":
                raise AuthConfigError(f"service {name!r}: credential {key!r} is missing")
            return value

        config: dict[str, Any]
        if label in {"xsuaa", "uaa"}:
            url = str(need("url")).rstrip("/")
            domain = creds.get("uaadomain")
            host = urlsplit(url).hostname or ""
            if domain and not (host == domain or host.endswith("." + str(domain))):
                raise AuthConfigError(
                    f"service {name!r}: credential 'url' is not under credential 'uaadomain'"
                )
            if label == "xsuaa":
                audience = creds.get("xsappname") or need("clientid")
            else:
                audience = creds.get("audience") or need("clientid")
            config = {
                "jwks_uri": f"{url}/token_keys",
                "issuer": f"{url}/oauth/token",
                "audience": audience,
                "algorithms": ["RS256"],
            }
        else:
            config = {"issuer": need("issuer"), "audience": need("audience")}
            sources = [k for k in ("jwks_uri", "public_key", "secret") if creds.get(k)]
            if len(sources) != 1:
                raise AuthConfigError(
                    f"service {name!r}: give exactly one of the credentials "
                    "'jwks_uri', 'public_key', 'secret'"
                )
            config[sources[0]] = creds.get(sources[0])
            algorithms = creds.get("algorithms")
            if isinstance(algorithms, str):
                algorithms = algorithms.replace(",", " ").split()
            elif algorithms is None:
                algorithms = ["HS256"] if sources[0] == "secret" else ["RS256"]
            config["algorithms"] = algorithms
        config.update(overrides)
        return cls(**config)

    def is_exempt(
        self, uri_template: str | None, method: str, resource: object | None = None
    ) -> bool:
        """Say whether a route and method need no token.

        A resource may override the global settings with a plain ``auth``
        dict attribute: ``{"exempt": True}`` (the whole resource is public)
        and/or ``{"exempt_methods": ["GET"]}`` (replaces ``exempt_methods``
        for that resource).

        Args:
            uri_template: The route's URI template (``req.uri_template``).
            method: The HTTP method.
            resource: The routed resource, for its ``auth`` override.

        Returns:
            True when the request passes without authentication.

        Raises:
            AuthConfigError: The resource's ``auth`` dict has an unknown key
                or a value of the wrong type.

        Example:
            >>> auth = JWTAuthMiddleware(secret="s" * 32, issuer="i", audience="a",
            ...     algorithms=["HS256"], exempt_routes=["/health"])
            >>> auth.is_exempt("/health", "GET"), auth.is_exempt("/orders", "OPTIONS")
            (True, True)
            >>> auth.is_exempt("/orders", "GET")
            False
        """
        methods = self._exempt_methods
        route_exempt = uri_template in self._exempt_routes
        override = getattr(resource, "auth", None) if resource is not None else None
        if isinstance(override, dict):
            route_exempt, methods = _resource_override(override, route_exempt, methods)
        return route_exempt or method.upper() in methods

    # -- Falcon hooks ---------------------------------------------------------

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: object
    ) -> None:
        """Authenticate a routed request (WSGI); see the class docstring.

        Example:
            >>> # Falcon calls it; install the middleware with falcon.App(middleware=[auth]).
        """
        if self.is_exempt(req.uri_template, req.method, resource):
            return
        token, alg, kid = self._read_token(req)
        key = self._cached_key(kid, alg)
        jwks = self._jwks
        if jwks is not None and jwks.refresh_due(key is not None):
            jwks.refresh(wait=key is None)
            key = self._cached_key(kid, alg)
        req.context.auth = self._verify(token, alg, key)

    async def process_resource_async(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: object
    ) -> None:
        """Authenticate a routed request (ASGI); a key fetch runs in a thread.

        Example:
            >>> # Falcon calls it; install with falcon.asgi.App(middleware=[auth]).
        """
        if self.is_exempt(req.uri_template, req.method, resource):
            return
        token, alg, kid = self._read_token(req)
        key = self._cached_key(kid, alg)
        jwks = self._jwks
        if jwks is not None and jwks.refresh_due(key is not None):
            # NOTE: the fetch blocks for up to jwks_timeout; keep it off the event loop.
            await asyncio.to_thread(jwks.refresh, wait=key is None)
            key = self._cached_key(kid, alg)
        req.context.auth = self._verify(token, alg, key)

    # -- one implementation behind both -----------------------------------------

    def _read_token(self, req: falcon.Request) -> tuple[str, str, str | None]:
        """Return (token, alg, kid) from the Authorization header, or raise 400/401."""
        value = req.get_header("Authorization")
        if value is None:
            raise unauthorized(self._realm)
        if len(value) > self._max_header:
            raise self._reject(invalid_request(self._realm, "authorization header too large"))
        scheme, _, rest = value.partition(" ")
        if scheme.lower() != "bearer":
            raise unauthorized(self._realm)
        token = rest.strip(" ")
        if not token or " " in token:
            raise self._reject(invalid_request(self._realm, "malformed bearer credentials"))
        if _JWS.fullmatch(token) is None:
            raise self._bad_token("malformed token")
        fields = self._header_fields(token.partition(".")[0])
        if isinstance(fields, str):
            raise self._bad_token(fields)
        return token, fields[0], fields[1]

    def _parse_header(self, segment: str) -> tuple[str, str | None] | str:
        """Return (alg, kid) of a JOSE header segment, or the reason it is refused."""
        header = _read_header(segment)
        if header is None:
            return "malformed token"
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._single:
            return "algorithm not allowed"
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > _MAX_KID_CHARS):
            return "malformed key id"
        return alg, kid

    def _cached_key(self, kid: str | None, alg: str) -> VerificationKey | None:
        if self._static is not None:
            return self._static
        assert self._jwks is not None  # noqa: S101 - exactly one source, checked at start
        return self._jwks.lookup(kid, alg)

    def _verify(self, token: str, alg: str, key: VerificationKey | None) -> AuthContext:
        if key is None:
            assert self._jwks is not None  # noqa: S101 - static keys are never None
            if not self._jwks.warm:
                _log.warning("no JWKS yet from %s: answering 503", self._jwks.uri)
                raise keys_unavailable(self._jwks.retry_after())
            raise self._bad_token("unknown key")
        if alg not in key.algorithms:
            raise self._bad_token("algorithm not allowed for this key")
        try:
            claims = self._decoder.decode(
                token,
                key.key,
                algorithms=self._single[alg],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
            )
        except Exception as ex:  # noqa: BLE001 - whatever fails, the token is refused
            raise self._bad_token(_reason(ex)) from None
        scopes = parse_scopes(claims.get("scope"))
        if scopes is None:
            raise self._bad_token("malformed scope claim")
        return AuthContext(claims, scopes=scopes, realm=self._realm)

    def _bad_token(self, reason: str) -> falcon.HTTPError:
        return self._reject(invalid_token(self._realm, reason))

    @staticmethod
    def _reject(error: falcon.HTTPError) -> falcon.HTTPError:
        _log.info("bearer token rejected: %s", error.description)
        return error


def _reason(ex: Exception) -> str:
    for cls, reason in _REASONS:
        if isinstance(ex, cls):
            return reason
    if not isinstance(ex, jwt.PyJWTError):
        _log.warning("unexpected %s while verifying a token", type(ex).__name__)
    return "invalid token"


def _read_header(segment: str) -> dict[str, Any] | None:
    # PERF: parse the JOSE header once ourselves (PyJWT's get_unverified_header
    # decodes every segment); PyJWT then verifies the whole token.
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):  # bad base64, bad UTF-8, bad JSON
        return None
    return header if isinstance(header, dict) else None


def _public_key_only(value: object, algorithms: tuple[str, ...]) -> VerificationKey:
    hmac = [a for a in algorithms if a in HMAC_ALGORITHMS]
    if hmac:
        raise AuthConfigError(
            f"algorithms: {hmac} need secret=; a public key never serves as an HMAC secret"
        )
    return public_key(value, algorithms)


def _resource_override(
    override: dict[str, Any], route_exempt: bool, methods: frozenset[str]
) -> tuple[bool, frozenset[str]]:
    unknown = override.keys() - _RESOURCE_AUTH_KEYS
    if unknown:
        raise AuthConfigError(f"resource auth: unknown keys {sorted(unknown)}")
    if "exempt" in override:
        if not isinstance(override["exempt"], bool):
            raise AuthConfigError("resource auth: 'exempt' must be True or False")
        route_exempt = override["exempt"]
    if "exempt_methods" in override:
        methods = frozenset(
            m.upper() for m in _strings("exempt_methods", override["exempt_methods"])
        )
    return route_exempt, methods


def _text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise AuthConfigError(f"{name}: give a non-empty string")
    return value


def _header_safe(name: str, value: object) -> str:
    text = _text(name, value)
    if any(c in text for c in '"\\') or not text.isprintable():
        raise AuthConfigError(f"{name}: must hold no quote, backslash or control character")
    return text


def _audience(value: object) -> str | list[str]:
    if isinstance(value, str):
        return _text("audience", value)
    audiences = _strings("audience", value)
    if not audiences or not all(audiences):
        raise AuthConfigError("audience: give a non-empty string or list of strings")
    return list(audiences)


def _strings(name: str, value: object) -> tuple[str, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise AuthConfigError(f"{name}: give a list of strings")
    items = tuple(value)
    if not all(isinstance(item, str) for item in items):
        raise AuthConfigError(f"{name}: give a list of strings")
    return items


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise AuthConfigError(f"{name}: give a number from {low:g} to {high:g}")
    return float(value)
