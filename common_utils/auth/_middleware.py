"""The Falcon middleware that verifies bearer JWTs (WSGI and ASGI)."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import logging
import re
import sys
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import falcon
import jwt

from common_utils._compat import app_middleware, router_find
from common_utils.auth._bindings import ServiceLike, settings_from_service
from common_utils.auth._cache import (
    Entry,
    TokenCache,
    TokenCacheInfo,
    VerifiedTokens,
)
from common_utils.auth._context import AuthContext
from common_utils.auth._errors import (
    AuthConfigError,
    invalid_request,
    invalid_token,
    keys_unavailable,
    unauthorized,
)
from common_utils.auth._exemptions import Exempt, Exemptions, strings
from common_utils.auth._keys import VerificationKey, check_algorithms
from common_utils.auth._routing import Apps, Route, resource_answers
from common_utils.auth._scopes import DEFAULT_REALM, parse_scopes
from common_utils.auth._sources import KeySource, KeyStore, number

if TYPE_CHECKING:
    import falcon.asgi
    from jwt.types import Options

__all__ = ["JWTAuthMiddleware"]

AppT = TypeVar("AppT", bound="falcon.App[Any, Any]")

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
_ID_TOKEN_ONLY_CLAIMS = frozenset({"at_hash", "c_hash"})
_ACCESS_TOKEN_CLAIMS = frozenset({"scope", "scp", "roles", "client_id", "cid", "appid"})
_AUTHENTICATION_CLAIMS = frozenset({"nonce", "auth_time", "azp", "acr", "amr", "sid"})
_UNKNOWN_ROUTE = Route(None, None, None)

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


class _Pending(NamedTuple):
    """A request whose token is verified after a key fetch."""

    token: str
    entry: Entry | None
    alg: str
    kid: str | None
    keys: KeyStore
    key: VerificationKey | None  # before the fetch: None makes the fetch wait for its answer


class JWTAuthMiddleware:
    """Verify ``Authorization: Bearer <JWT>`` on every request that is not exempt.

    One middleware for WSGI (``falcon.App``) and ASGI (``falcon.asgi.App``).
    Every request is checked, whatever serves it: routed resources, sinks,
    static routes and unrouted paths (401 before 404) alike, and WebSocket
    handshakes under ASGI (a refused one is closed with 3000 + the status,
    such as 3401); exemptions are decided before routing with the app's own
    router. The keys come from one
    key source: `JWKS` (fetched from a URL and cached),
    `PublicKey` (PEM or certificate) or `Secret` (HMAC); each
    key verifies only the algorithms of its own family from ``algorithms``.

    On success ``req.context.auth`` is an `AuthContext`. Failures are
    RFC 6750 responses: no credentials or another scheme -> 401 with a bare
    ``Bearer realm`` challenge; malformed header -> 400 ``invalid_request``;
    bad token -> 401 ``invalid_token``; keys unreachable on a cold cache ->
    503 with ``Retry-After``. The reason is the error's description, so
    Falcon's default serializer shows it; install
    `common_utils.problems.problem_error_serializer` for problem+json.

    Keyword Args:
        keys: Where the keys come from: ``JWKS(uri, ...)``,
            ``PublicKey(pem)`` or ``Secret(value)``.
        issuer: The exact ``iss`` value tokens must carry.
        audience: Our audience; the token's ``aud`` must contain it (or one
            of them, given a list).
        algorithms: Allow-list, such as ``["RS256"]``; required.
        exempt: Which requests need no token: ``Exempt(routes=...,
            prefixes=..., methods=...)``; by default ``Exempt()``, which lets
            only CORS preflight (``OPTIONS``) through.
        leeway: Clock skew allowed on ``exp``, ``nbf`` and ``iat``, in
            seconds (0 to 300).
        required_claims: Claims that must be present besides ``exp``,
            ``iss`` and ``aud``.
        accept_id_tokens: Accept tokens shaped like OpenID Connect ID
            tokens (refused by default: they prove a login to a client, they
            grant no access to an API).
        realm: The ``realm`` of the challenges.
        max_header_bytes: Longer Authorization headers get 400 before any
            decoding.
        cache: The verified-token cache: ``TokenCache(size=4096,
            max_age=300)`` by default, ``TokenCache(size=0)`` turns it off. A
            repeated token is answered without verifying its signature again;
            its time claims are checked on every request and its key must
            still be in the key set (see ``docs/auth.md``).

    Raises:
        AuthConfigError: A setting is missing, unsafe or inconsistent; the
            message names it and never shows its value.

    Examples:
        >>> import falcon, falcon.testing
        >>> from common_utils.auth import Exempt, Secret
        >>> auth = JWTAuthMiddleware(
        ...     keys=Secret("a-32-byte-long-secret-for-hs256!"), issuer="https://issuer.example",
        ...     audience="orders", algorithms=["HS256"], exempt=Exempt(routes=["/health"]))
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
        keys: KeySource,
        issuer: str,
        audience: str | Iterable[str],
        algorithms: Iterable[str],
        exempt: Exempt | None = None,
        leeway: float = 30,
        required_claims: Iterable[str] = (),
        accept_id_tokens: bool = False,
        realm: str = DEFAULT_REALM,
        max_header_bytes: int = 8192,
        cache: TokenCache | None = None,
    ) -> None:
        self._algorithms = check_algorithms(algorithms)
        self._issuer = _text("issuer", issuer)
        self._audience = _audience(audience)
        self._realm = _header_safe("realm", realm)
        self._leeway = number("leeway", leeway, 0, _MAX_LEEWAY)
        self._max_header = int(number("max_header_bytes", max_header_bytes, 64, 1 << 20))
        if exempt is None:
            exempt = Exempt()
        elif not isinstance(exempt, Exempt):
            raise AuthConfigError("exempt: give Exempt(routes=..., prefixes=..., methods=...)")
        self._exemptions = Exemptions(exempt)
        if not isinstance(accept_id_tokens, bool):
            raise AuthConfigError("accept_id_tokens: give True or False")
        self._accept_id_tokens = accept_id_tokens
        self._warned_no_app = False
        self._apps = Apps()
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
        # PERF: a decoder holding our options: jwt.decode(options=...) merges two
        # option dicts per call; PyJWT.decode without options reuses these as they are.
        self._decoder = jwt.PyJWT(options=self._options)
        # PERF: parsed JOSE headers by header segment: all tokens of one issuer and
        # key share one, so a small LRU cache (bounded against hostile input) spares
        # the base64 and JSON work on almost every request.
        self._header_fields = functools.lru_cache(maxsize=_MAX_CACHED_HEADERS)(self._parse_header)
        self._source, self._keys = self._open(keys)
        if cache is None:
            cache = TokenCache()
        elif not isinstance(cache, TokenCache):
            raise AuthConfigError("cache: give TokenCache(size=..., max_age=...)")
        self._tokens = VerifiedTokens(cache)

    def cache_info(self) -> TokenCacheInfo:
        """Report the verified-token cache: hits, misses, current and maximum size.

        Examples:
            >>> from common_utils.auth import Secret, TokenCache
            >>> auth = JWTAuthMiddleware(keys=Secret("a" * 32), issuer="i", audience="a",
            ...                          algorithms=["HS256"], cache=TokenCache(size=100))
            >>> auth.cache_info()
            TokenCacheInfo(hits=0, misses=0, size=0, maxsize=100)
        """
        return self._tokens.info()

    def __repr__(self) -> str:
        return (
            f"JWTAuthMiddleware(keys={self._source!r}, issuer={self._issuer!r}, "
            f"algorithms={list(self._algorithms)!r})"
        )

    @property
    def keys(self) -> KeySource:
        """The key source; assign another to rotate a PEM key or a secret without a restart.

        The new source is checked against ``algorithms`` like the first; from
        the next request on, only its keys verify, so a token verified with
        the old key is refused (and verified again, never served from the
        cache).

        Examples:
            >>> from common_utils.auth import Secret
            >>> auth = JWTAuthMiddleware(keys=Secret("a" * 32), issuer="i", audience="a",
            ...                          algorithms=["HS256"])
            >>> auth.keys = Secret("b" * 32)
            >>> auth.keys
            Secret(<hidden>)
        """
        return self._source

    @keys.setter
    def keys(self, keys: KeySource) -> None:
        self._source, self._keys = self._open(keys)

    def _open(self, keys: object) -> tuple[KeySource, KeyStore]:
        if not isinstance(keys, KeySource):
            raise AuthConfigError("keys: give JWKS(uri), PublicKey(pem) or Secret(value)")
        return keys, keys._open(self._algorithms)

    @classmethod
    def from_service(cls, service: ServiceLike, **overrides: Any) -> JWTAuthMiddleware:
        """Build the middleware from a Cloud Foundry service binding.

        A binding labelled ``xsuaa`` or ``uaa`` is read as a UAA: keys from
        ``JWKS("<url>/token_keys")``, issuer ``<url>/oauth/token``, ``RS256``,
        and as audience the ``xsappname`` (XSUAA) or the ``audience``
        credential, else the ``clientid`` (UAA), and the ``scope`` claim
        required (UAA access tokens always carry it). Any other binding (a
        user-provided service) gives ``issuer``, ``audience``, one of
        ``jwks_uri`` / ``public_key`` / ``secret`` and optionally
        ``algorithms`` (a list; ``HS256`` for a secret, else ``RS256`` by
        default).

        Args:
            service: A `common_utils.cfenv.Service` (anything with
                ``name``, ``label`` and a ``credentials`` mapping).
            **overrides: Keyword arguments of the constructor; they win over
                what the binding says (``keys=JWKS(..., ttl=60)`` replaces the
                derived key source; ``required_claims`` adds to UAA's).

        Returns:
            The configured middleware (no network call is made here).

        Raises:
            AuthConfigError: A credential is missing or unusable; the message
                names the service and the credential, never the value.

        Examples:
            >>> from common_utils.cfenv import CFEnv
            >>> env = CFEnv(environ={"VCAP_SERVICES": '{"xsuaa": [{"name": "uaa", "label": "xsuaa",'
            ...     ' "tags": ["xsuaa"], "credentials": {"url": "https://t.auth.example.com",'
            ...     ' "uaadomain": "auth.example.com", "clientid": "sb-orders!t1", "xsappname": "orders!t1"}}]}'})
            >>> auth = JWTAuthMiddleware.from_service(env.service(label="xsuaa"))
            >>> auth
            JWTAuthMiddleware(keys=JWKS('https://t.auth.example.com/token_keys'), issuer='https://t.auth.example.com/oauth/token', algorithms=['RS256'])
        """  # noqa: E501
        return cls(**settings_from_service(service, overrides))

    def is_exempt(
        self, uri_template: str | None, method: str, resource: object | None = None
    ) -> bool:
        """Say whether a route and method need no token.

        A resource may override the global settings with a plain ``auth``
        dict attribute: ``{"exempt": True}`` (the whole resource is public)
        and/or ``{"exempt_methods": ["GET"]}`` (replaces ``Exempt.methods``
        for that resource). It is read once per resource; an ``auth``
        attribute that is not a dict is not ours and is ignored, and a dict
        that cannot be read is logged once at ERROR and protects every
        method of that resource.

        Method exemptions apply only to a routed resource: ``Exempt.methods``
        where the resource has no ``on_<method>`` of its own (Falcon answers:
        its default OPTIONS responder or a 405), ``exempt_methods`` to the
        resource's own responders; HEAD is decided as GET. Without a
        ``resource`` (a sink, a static route) no method is exempt.

        .. versionchanged:: 1.0.0
            Method exemptions no longer apply without a routed resource or
            to a resource's own responder for a global method.

        Args:
            uri_template: The route's URI template (``req.uri_template``).
            method: The HTTP method.
            resource: The routed resource (or its class), for its ``auth``
                override and its responders.

        Returns:
            True when the request passes without authentication.

        Examples:
            >>> from common_utils.auth import Exempt, Secret
            >>> auth = JWTAuthMiddleware(keys=Secret("s" * 32), issuer="i", audience="a",
            ...     algorithms=["HS256"], exempt=Exempt(routes=["/health"]))
            >>> class Orders:
            ...     def on_get(self, req, resp): ...
            >>> auth.is_exempt("/health", "GET"), auth.is_exempt("/orders", "OPTIONS", Orders())
            (True, True)
            >>> auth.is_exempt("/orders", "GET")
            False
        """
        method = method.upper()
        falcon_answers = resource is not None and not resource_answers(resource, method)
        return self._exemptions.exempt(None, uri_template, method, resource, falcon_answers)

    def protect(self, app: AppT) -> AppT:
        """Bind the middleware to the app it is in, so that it finds the app's routes at once.

        The middleware decides exemptions before routing with the app's own
        router, and Falcon hands middleware no reference to its app. Bound, the
        middleware knows the app of each request from ``req.options`` (the app's
        ``req_options``). Unbound, it finds the app once, on its first request,
        from the frame that called it: the same verdicts, the binding only makes
        it explicit (and spares that lookup). Call it once per app the middleware
        is in; it works for ``falcon.App`` and ``falcon.asgi.App``.

        .. versionadded:: 1.0.0

        Args:
            app: The app whose middleware list holds this middleware.

        Returns:
            The app, so that ``app = auth.protect(falcon.App(middleware=[auth]))``
            reads as one step.

        Raises:
            AuthConfigError: ``app`` is no Falcon app, or this middleware is not
                in its middleware list (binding it would protect nothing).

        Examples:
            >>> import falcon
            >>> from common_utils.auth import Secret
            >>> auth = JWTAuthMiddleware(keys=Secret("s" * 32), issuer="i", audience="a",
            ...     algorithms=["HS256"])
            >>> app = auth.protect(falcon.App(middleware=[auth]))
            >>> auth.protect(falcon.App())
            Traceback (most recent call last):
            ...
            common_utils.auth._errors.AuthConfigError: protect(app): this middleware is not in the app's middleware; add it (falcon.App(middleware=[..., auth])) first
        """  # noqa: E501
        if not isinstance(app, falcon.App):
            raise AuthConfigError("protect(app): give a falcon.App or falcon.asgi.App")
        if not any(item is self for item in app_middleware(app)):
            raise AuthConfigError(
                "protect(app): this middleware is not in the app's middleware; "
                "add it (falcon.App(middleware=[..., auth])) first"
            )
        self._apps.bind(app)
        return app

    # -- Falcon hooks ---------------------------------------------------------

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate a request before routing (WSGI); see the class docstring."""
        pending = self._start(req, self._route(req))
        if pending is not None:
            pending.keys.refresh(wait=pending.key is None)
            self._finish(req, pending)

    async def process_request_async(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Authenticate a request before routing (ASGI); a key fetch runs in a thread."""
        pending = self._start(req, self._route(req))
        if pending is not None:
            # NOTE: the fetch blocks for up to the JWKS timeout; keep it off the event loop.
            await asyncio.to_thread(pending.keys.refresh, wait=pending.key is None)
            self._finish(req, pending)

    async def process_request_ws(self, req: falcon.asgi.Request, ws: falcon.asgi.WebSocket) -> None:
        """Authenticate a WebSocket handshake before routing (ASGI).

        The same rules as for HTTP requests, except that method exemptions
        never apply: a handshake arrives as a GET, but exempting reads does
        not open a live channel. A refused handshake is never accepted:
        Falcon closes it with 3000 + the HTTP status (3401, 3400, 3503; a
        ``require_scopes`` hook on ``on_websocket`` gives 3403).
        """
        pending = self._start(req, self._route(req), websocket=True)
        if pending is not None:
            await asyncio.to_thread(pending.keys.refresh, wait=pending.key is None)
            self._finish(req, pending)

    # -- one implementation behind all three ------------------------------------

    def _route(self, req: falcon.Request) -> Route | None:
        """Return the route the request's app will pick, or None when the app is unknown.

        Called by the three hooks only: frame 2 is then the hook's caller.
        """
        options = req.options
        app = self._apps.known(options)
        if app is None:
            # NOTE: once per app (unless protect() bound it): frame 2 is App.__call__.
            app = self._apps.find(options, sys._getframe(2))
            if app is None:
                return None
        return Route(*router_find(app, req))

    def _start(
        self, req: falcon.Request, route: Route | None, *, websocket: bool = False
    ) -> _Pending | None:
        """Authenticate, or say what to verify once the keys are refreshed.

        Returns None when the request is settled (exempt, or ``req.context.auth``
        set), else a `_Pending` for `_finish` after a key fetch.
        """
        if self._exempt(req, route, websocket):
            return None
        token = self._bearer(req)
        entry = self._tokens.get(token)
        alg, kid = self._header(token) if entry is None else (entry.alg, entry.kid)
        keys = self._keys
        key = keys.lookup(kid, alg)
        if keys.refresh_due(key is not None):
            return _Pending(token, entry, alg, kid, keys, key)
        # PERF: no key fetch due (nearly every request): verify now, no _Pending to build.
        req.context.auth = self._verify(token, alg, kid, key, keys, entry)
        return None

    def _finish(self, req: falcon.Request, pending: _Pending) -> None:
        """Verify after a key fetch, with the refreshed key set; set ``req.context.auth``."""
        token, entry, alg, kid, keys, _ = pending
        key = keys.lookup(kid, alg)
        req.context.auth = self._verify(token, alg, kid, key, keys, entry)

    def _exempt(self, req: falcon.Request, route: Route | None, websocket: bool) -> bool:
        # Falcon never calls process_resource for sinks, static routes or falsy
        # resources, so the decision is made here, before routing, for every request.
        if route is None:
            route = _UNKNOWN_ROUTE
            if not self._warned_no_app:
                self._warned_no_app = True
                _log.error(
                    "JWTAuthMiddleware cannot see the Falcon app that called it: "
                    "Exempt routes and resource overrides are not applied, "
                    "every request needs a token"
                )
        # Falcon sets it again after routing; set now, access logs of refused requests name it.
        req.uri_template = route.uri_template
        return self._exemptions.exempt_route(req.path, route, None if websocket else req.method)

    def _bearer(self, req: falcon.Request) -> str:
        """Return the bearer token of the Authorization header, or raise 400/401."""
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
        return token

    def _header(self, token: str) -> tuple[str, str | None]:
        """Return (alg, kid) of a token's JOSE header, or raise 401."""
        if _JWS.fullmatch(token) is None:
            raise self._bad_token("malformed token")
        segment = token.partition(".")[0]
        if len(segment) > _MAX_JOSE_HEADER_CHARS:
            raise self._bad_token("malformed token")
        fields = self._header_fields(segment)
        if isinstance(fields, str):
            raise self._bad_token(fields)
        return fields

    def _parse_header(self, segment: str) -> tuple[str, str | None] | str:
        """Return (alg, kid) of a JOSE header segment, or the reason it is refused."""
        header = _read_header(segment)
        if header is None:
            return "malformed token"
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            return "algorithm not allowed"
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or len(kid) > _MAX_KID_CHARS):
            return "malformed key id"
        typ = header.get("typ")
        if typ is not None and (not isinstance(typ, str) or typ.lower() not in _ACCESS_TOKEN_TYPES):
            return "token type not accepted"
        return alg, kid

    def _verify(
        self,
        token: str,
        alg: str,
        kid: str | None,
        key: VerificationKey | None,
        keys: KeyStore,
        entry: Entry | None,
    ) -> AuthContext:
        if entry is not None:
            ctx = self._from_cache(token, entry, key)
            if ctx is not None:
                return ctx
        if key is None:
            why = keys.unavailable()
            if why is not None:
                _log.warning("%s (%r): answering 503", why, self._source)
                raise keys_unavailable(keys.retry_after())
            raise self._bad_token("unknown key")
        if alg not in key.algorithms:
            raise self._bad_token("algorithm not allowed for this key")
        try:
            claims = self._decoder.decode(
                token,
                key.key,
                algorithms=[alg],
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
        ctx = AuthContext._verified(claims, scopes, self._realm)
        tokens = self._tokens
        if tokens.maxsize:
            tokens.put(token, key, kid, alg, ctx, claims, self._leeway)
        return ctx

    def _from_cache(
        self, token: str, entry: Entry, key: VerificationKey | None
    ) -> AuthContext | None:
        """Answer from a cache entry as a fresh verification would, or ``None`` to verify."""
        tokens = self._tokens
        # NOTE: the key that verified it must still be the one the key set gives for its
        # kid: a key dropped by a JWKS refresh or replaced by `keys = ...` ends every hit.
        if key is entry.key:
            now = time.time()
            if now >= entry.not_before:  # else the clock went back: verify again
                if now >= entry.expires:
                    tokens.discard(token)
                    raise self._bad_token("token expired")
                if time.monotonic() < entry.stale_at:
                    tokens.hits += 1
                    return entry.context
        tokens.misses += 1
        tokens.discard(token)
        return None

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
    """Tell an OpenID Connect ID token from an access token by its claim set.

    - ``at_hash``/``c_hash`` bind an ID token to the access token or code issued
      with it (OIDC Core 3.1.3.6, 3.3.2.11); no access token carries them.
    - Keycloak writes ``"typ": "ID"`` into its ID tokens (``"Bearer"`` into access tokens).
    - UAA/XSUAA ID tokens carry scope ``["openid"]``, which grants nothing but identity.
    - Otherwise a token with the authentication claims of OIDC Core 2 (``nonce``,
      ``auth_time``, ``azp``, ``acr``, ``amr``, ``sid``) and none of an access token's
      (``scope`` or ``client_id``, RFC 9068; ``scp`` and ``roles``, Azure AD; ``cid`` and
      ``appid``, UAA and Azure AD v1) is an ID token. UAA and Keycloak access tokens carry
      ``auth_time``, ``azp`` and even the login's ``nonce``, always with their scopes.
    """
    if scopes == _ID_TOKEN_SCOPES or claims.get("typ") == "ID":
        return True
    names = claims.keys()
    if not names.isdisjoint(_ID_TOKEN_ONLY_CLAIMS):
        return True
    if not names.isdisjoint(_ACCESS_TOKEN_CLAIMS):
        return False
    return not names.isdisjoint(_AUTHENTICATION_CLAIMS)


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
