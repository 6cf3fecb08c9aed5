"""The Falcon middleware that verifies bearer JWTs (WSGI and ASGI)."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import re
import sys
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
from common_utils.auth._exemptions import Exemptions, check_prefixes, strings
from common_utils.auth._jwks import JWKSCache, check_jwks_uri
from common_utils.auth._keys import (
    HMAC_ALGORITHMS,
    VerificationKey,
    check_algorithms,
    public_key,
    secret_key,
)
from common_utils.auth._routing import Route, falcon_route
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
# The JOSE header segment (base64url): UAA's is ~150 characters; 4 KiB leaves room for
# an x5c certificate and bounds the JSON a request can make us parse.
_MAX_JOSE_HEADER_CHARS = 4096
# RFC 8725 3.11 explicit typing: an access token's header says JWT or at+jwt (RFC 9068),
# or nothing; logout, security event, DPoP... tokens of the same issuer are refused.
_ACCESS_TOKEN_TYPES = frozenset({"jwt", "application/jwt", "at+jwt", "application/at+jwt"})
# UAA and XSUAA write ID tokens with exactly this scope (IdToken.java in cloudfoundry/uaa).
_ID_TOKEN_SCOPES = frozenset({"openid"})
_UNKNOWN_ROUTE = Route(None, None)

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
    """Verify ``Authorization: Bearer <JWT>`` on every request that is not exempt.

    One middleware for WSGI (``falcon.App``) and ASGI (``falcon.asgi.App``).
    Every request is checked, whatever serves it: routed resources, sinks,
    static routes and unrouted paths (401 before 404) alike; exemptions are
    decided before routing with the app's own router.
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
        exempt_prefixes: Paths under which nothing needs a token
            (``"/static"`` covers ``/static`` and ``/static/...``), for
            public sinks and static routes.
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
        jwks_max_age: Seconds after a successful fetch that its keys may
            still verify while refreshes fail (at least ``jwks_ttl``).
        accept_id_tokens: Accept tokens shaped like OpenID Connect ID
            tokens (refused by default: they prove a login to a client, they
            grant no access to an API).

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
        exempt_prefixes: Iterable[str] = (),
        jwks_max_age: float = 3600,
        accept_id_tokens: bool = False,
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
        self._exemptions = Exemptions(
            routes=strings("exempt_routes", exempt_routes),
            prefixes=check_prefixes(exempt_prefixes),
            methods=strings("exempt_methods", exempt_methods),
        )
        if not isinstance(accept_id_tokens, bool):
            raise AuthConfigError("accept_id_tokens: give True or False")
        self._accept_id_tokens = accept_id_tokens
        self._warned_no_app = False
        claims = strings("required_claims", required_claims)
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
            ttl = _number("jwks_ttl", jwks_ttl, 0.001, 86400)
            max_age = _number("jwks_max_age", jwks_max_age, 0.001, 7 * 86400)
            if max_age < ttl:
                raise AuthConfigError(f"jwks_max_age: must be at least jwks_ttl ({ttl:g})")
            self._jwks = JWKSCache(
                check_jwks_uri(jwks_uri),
                algorithms=self._algorithms,
                ttl=ttl,
                cooldown=_number("jwks_refresh_cooldown", jwks_refresh_cooldown, 0, 3600),
                timeout=_number("jwks_timeout", jwks_timeout, 0.01, 60),
                max_age=max_age,
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
        else the ``clientid`` (UAA), and the ``scope`` claim required (UAA
        access tokens always carry it). Any other binding (a user-provided
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
                # NOTE: UAA access tokens always carry scope; its JWT refresh tokens carry
                # granted_scopes instead, so this keeps them out. Kept under overrides.
                "required_claims": [
                    "scope",
                    *strings("required_claims", overrides.pop("required_claims", ())),
                ],
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
        for that resource). It is read once per resource; an ``auth``
        attribute that is not a dict is not ours and is ignored, and a dict
        that cannot be read is logged once at ERROR and protects every
        method of that resource.

        Args:
            uri_template: The route's URI template (``req.uri_template``).
            method: The HTTP method.
            resource: The routed resource (or its class), for its ``auth``
                override.

        Returns:
            True when the request passes without authentication.

        Example:
            >>> auth = JWTAuthMiddleware(secret="s" * 32, issuer="i", audience="a",
            ...     algorithms=["HS256"], exempt_routes=["/health"])
            >>> auth.is_exempt("/health", "GET"), auth.is_exempt("/orders", "OPTIONS")
            (True, True)
            >>> auth.is_exempt("/orders", "GET")
            False
        """
        return self._exemptions.exempt(None, uri_template, method.upper(), resource)

    # -- Falcon hooks ---------------------------------------------------------

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate a request before routing (WSGI); see the class docstring.

        Example:
            >>> # Falcon calls it; install the middleware with falcon.App(middleware=[auth]).
        """
        if self._exempt(req, falcon_route(sys._getframe(1), req)):
            return
        token, alg, kid = self._read_token(req)
        key = self._cached_key(kid, alg)
        jwks = self._jwks
        if jwks is not None and jwks.refresh_due(key is not None):
            jwks.refresh(wait=key is None)
            key = self._cached_key(kid, alg)
        req.context.auth = self._verify(token, alg, key)

    async def process_request_async(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate a request before routing (ASGI); a key fetch runs in a thread.

        Example:
            >>> # Falcon calls it; install with falcon.asgi.App(middleware=[auth]).
        """
        if self._exempt(req, falcon_route(sys._getframe(1), req)):
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

    def _exempt(self, req: falcon.Request, route: Route | None) -> bool:
        # Falcon never calls process_resource for sinks, static routes or falsy
        # resources, so the decision is made here, before routing, for every request.
        if route is None:
            route = _UNKNOWN_ROUTE
            if not self._warned_no_app:
                self._warned_no_app = True
                _log.error(
                    "JWTAuthMiddleware cannot see the Falcon app that called it: "
                    "exempt_routes and resource overrides are not applied, "
                    "every request needs a token"
                )
        # Falcon sets it again after routing; set now, access logs of refused requests name it.
        req.uri_template = route.uri_template
        return self._exemptions.exempt(req.path, route.uri_template, req.method, route.resource)

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
        segment = token.partition(".")[0]
        if len(segment) > _MAX_JOSE_HEADER_CHARS:
            raise self._bad_token("malformed token")
        fields = self._header_fields(segment)
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
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCESS_TOKEN_TYPES):
            return "token type not accepted"
        return alg, kid

    def _cached_key(self, kid: str | None, alg: str) -> VerificationKey | None:
        if self._static is not None:
            return self._static
        assert self._jwks is not None  # noqa: S101 - exactly one source, checked at start
        return self._jwks.lookup(kid, alg)

    def _verify(self, token: str, alg: str, key: VerificationKey | None) -> AuthContext:
        if key is None:
            assert self._jwks is not None  # noqa: S101 - static keys are never None
            why = self._jwks.unavailable()
            if why is not None:
                _log.warning("%s (%s): answering 503", why, self._jwks.uri)
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
        if not self._accept_id_tokens and _is_id_token(claims, scopes):
            raise self._bad_token("ID token not accepted")
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
    except Exception:  # noqa: BLE001 - bad base64, UTF-8 or JSON, RecursionError: all 401
        return None
    return header if isinstance(header, dict) else None


def _is_id_token(claims: Mapping[str, Any], scopes: frozenset[str]) -> bool:
    # An OIDC ID token has a nonce when the login sent one and no scope claim (OIDC Core 2);
    # UAA/XSUAA ID tokens carry scope ["openid"], which alone grants nothing but identity.
    # UAA access tokens may carry the login's nonce too, but always with their scopes.
    return scopes == _ID_TOKEN_SCOPES or ("nonce" in claims and "scope" not in claims)


def _public_key_only(value: object, algorithms: tuple[str, ...]) -> VerificationKey:
    hmac = [a for a in algorithms if a in HMAC_ALGORITHMS]
    if hmac:
        raise AuthConfigError(
            f"algorithms: {hmac} need secret=; a public key never serves as an HMAC secret"
        )
    return public_key(value, algorithms)


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
    audiences = strings("audience", value)
    if not audiences or not all(audiences):
        raise AuthConfigError("audience: give a non-empty string or list of strings")
    return list(audiences)


def _number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise AuthConfigError(f"{name}: give a number from {low:g} to {high:g}")
    return float(value)
