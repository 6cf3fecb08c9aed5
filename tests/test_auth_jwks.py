"""common_utils.auth with keys from a JWKS served by a real loopback HTTP server.

Fetches are counted at the server side.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from common_utils.auth import JWKS, AuthConfigError, JWTAuthMiddleware, TokenCache
from common_utils.auth._jwks import MAX_JWKS_BYTES, JWKSCache
from common_utils.problems import PROBLEM_JSON
from tests.auth_support import (
    AUDIENCE,
    ISSUER,
    assert_challenge,
    b64,
    bearer,
    claims,
    invalid_token,
    make_app,
    rs256_with,
    token,
)


class JWKSServer:
    """A loopback HTTP server whose answer the test controls; counts requests."""

    def __init__(self) -> None:
        self.body: bytes = b"{}"
        self.status = 200
        self.delay = 0.0
        self.location: str | None = None
        self.hits = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits += 1
                if server.delay:
                    time.sleep(server.delay)
                self.send_response(server.status)
                if server.location:
                    self.send_header("Location", server.location)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token_keys"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve_keys(self, *jwks: dict[str, Any]) -> None:
        self.serve({"keys": list(jwks)})

    def serve(self, document: Any, status: int = 200) -> None:
        self.body = json.dumps(document).encode()
        self.status = status

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[JWKSServer]:
    s = JWKSServer()
    yield s
    s.close()


@pytest.fixture(scope="module")
def key1() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(private: Any, kid: str | None, **extra: Any) -> dict[str, Any]:
    algo = jwt.algorithms.RSAAlgorithm
    if isinstance(private, ec.EllipticCurvePrivateKey):
        algo = jwt.algorithms.ECAlgorithm
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        algo = jwt.algorithms.OKPAlgorithm
    data: dict[str, Any] = algo.to_jwk(private.public_key(), as_dict=True)
    if kid is not None:
        data["kid"] = kid
    data.update(extra)
    return data


_JWKS_OPTIONS = frozenset({"ttl", "refresh_cooldown", "timeout", "max_age"})
_CACHE_MODES = {"cache-on": TokenCache(), "cache-off": TokenCache(size=0)}
_cache = _CACHE_MODES["cache-on"]


@pytest.fixture(autouse=True, params=sorted(_CACHE_MODES))
def _cache_mode(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every JWKS test runs with the verified-token cache on and off."""
    global _cache
    _cache = _CACHE_MODES[request.param]
    yield
    _cache = _CACHE_MODES["cache-on"]


def jwks_auth(server: JWKSServer, **kw: Any) -> JWTAuthMiddleware:
    """A middleware on the server's JWKS; JWKS options and middleware settings in one call."""
    options = {k: kw.pop(k) for k in list(kw) if k in _JWKS_OPTIONS}
    config: dict[str, Any] = {
        "keys": JWKS(server.url, **options),
        "cache": _cache,
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["RS256"],
    }
    config.update(kw)
    return JWTAuthMiddleware(**config)


def kid_token(private: Any, kid: str | None, alg: str = "RS256") -> str:
    return token(private, alg, headers={"kid": kid} if kid is not None else None)


def test_valid_token_with_jwks_key_and_one_fetch_at_steady_state(
    server: JWKSServer, key1: Any
) -> None:
    server.serve_keys(jwk(key1, "k1", alg="RS256", use="sig"))
    c = make_app(jwks_auth(server))
    for _ in range(50):
        assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1"))).status_code == 200
    assert server.hits == 1


def test_key_rotation_new_kid_appears_old_one_removed(
    server: JWKSServer, key1: Any, key2: Any
) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server, refresh_cooldown=0))
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1"))).status_code == 200
    server.serve_keys(jwk(key2, "k2"))  # rotation: k2 published, k1 withdrawn
    assert c.simulate_get("/orders", headers=bearer(kid_token(key2, "k2"))).status_code == 200
    assert server.hits == 2
    result = c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1")))
    assert_challenge(result, 401, invalid_token("unknown key"))
    assert server.hits == 3


def test_new_kid_within_cooldown_is_refused_without_fetch(
    server: JWKSServer, key1: Any, key2: Any
) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server))
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1"))).status_code == 200
    server.serve_keys(jwk(key1, "k1"), jwk(key2, "k2"))
    result = c.simulate_get("/orders", headers=bearer(kid_token(key2, "k2")))
    assert_challenge(result, 401, invalid_token("unknown key"))
    assert server.hits == 1


def test_flood_of_1000_random_kids_causes_at_most_one_fetch(
    server: JWKSServer, key1: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server))
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1"))).status_code == 200
    real_monotonic = time.monotonic
    # as if the 60 s refresh cooldown had passed since the warm-up (the TTL has not)
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 61)
    tokens = [kid_token(key1, secrets.token_hex(8)) for _ in range(1000)]

    def call(tok: str) -> int:
        return c.simulate_get("/orders", headers=bearer(tok)).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(call, tokens[:200]))
    statuses += [call(t) for t in tokens[200:]]
    assert set(statuses) == {401}
    assert server.hits == 2  # the warm-up fetch and one for the whole flood
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1"))).status_code == 200


def test_concurrent_cold_start_fetches_once(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1"))
    server.delay = 0.2
    c = make_app(jwks_auth(server))
    tok = kid_token(key1, "k1")
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(
            pool.map(
                lambda _: c.simulate_get("/orders", headers=bearer(tok)).status_code, range(16)
            )
        )
    assert statuses == [200] * 16
    assert server.hits == 1


def test_cold_cache_with_server_down_gets_503_with_retry_after(key1: Any) -> None:
    down = JWKSServer()
    down.close()  # nothing listens on that port any more
    auth = JWTAuthMiddleware(
        keys=JWKS(down.url, timeout=1), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
    )
    result = make_app(auth).simulate_get("/orders", headers=bearer(kid_token(key1, "k1")))
    assert result.status_code == 503
    assert result.headers["Content-Type"] == PROBLEM_JSON
    assert 1 <= int(result.headers["Retry-After"]) <= 60
    assert "WWW-Authenticate" not in result.headers
    assert result.json["detail"] == "token signing keys are unavailable, retry later"


def test_cold_cache_failure_is_not_retried_within_cooldown(server: JWKSServer, key1: Any) -> None:
    server.serve({"error": "down"}, status=500)
    c = make_app(jwks_auth(server))
    for _ in range(5):
        result = c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1")))
        assert result.status_code == 503
        assert int(result.headers["Retry-After"]) >= 59
    assert server.hits == 1


def test_cold_cache_recovers_after_cooldown(server: JWKSServer, key1: Any) -> None:
    server.serve({}, status=502)
    c = make_app(jwks_auth(server, refresh_cooldown=0.1))
    tok = kid_token(key1, "k1")
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 503
    server.serve_keys(jwk(key1, "k1"))
    time.sleep(0.15)
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    assert server.hits == 2


def test_warm_cache_keeps_serving_when_server_goes_down(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server, ttl=0.05, refresh_cooldown=0))
    tok = kid_token(key1, "k1")
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    server.serve("maintenance", status=503)
    time.sleep(0.1)  # TTL expired: the next request tries a refresh, which fails
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    assert server.hits == 2
    server.serve_keys(jwk(key1, "k1"))
    time.sleep(0.1)
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    assert server.hits == 3


def test_stale_cache_does_not_queue_behind_a_slow_refresh(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server, ttl=0.05, refresh_cooldown=0))
    tok = kid_token(key1, "k1")
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    time.sleep(0.1)
    server.delay = 0.6
    with ThreadPoolExecutor(max_workers=2) as pool:
        slow = pool.submit(c.simulate_get, "/orders", headers=bearer(tok))
        time.sleep(0.2)  # the first request now holds the fetch lock
        started = time.monotonic()
        fast = c.simulate_get("/orders", headers=bearer(tok))
        elapsed = time.monotonic() - started
        assert fast.status_code == 200
        assert elapsed < 0.4
        assert slow.result().status_code == 200


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"<html>not json</html>", 200),
        (b"[1, 2, 3]", 200),
        (b'{"keys": "nope"}', 200),
        (b'{"keys": []}', 200),
        (b'{"no_keys": true}', 200),
        (b"\xff\xfe garbage", 200),
        (b'{"keys": [{"kid": "k1"}]}', 404),
    ],
)
def test_jwks_answering_garbage_gives_503_cold(
    server: JWKSServer, key1: Any, body: bytes, status: int
) -> None:
    server.body, server.status = body, status
    result = make_app(jwks_auth(server)).simulate_get(
        "/orders", headers=bearer(kid_token(key1, "k1"))
    )
    assert result.status_code == 503
    assert server.hits == 1


def test_jwks_answering_garbage_keeps_warm_cache(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server, refresh_cooldown=0))
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1"))).status_code == 200
    server.body = b"garbage"
    result = c.simulate_get("/orders", headers=bearer(kid_token(key1, "unknown")))
    assert_challenge(result, 401, invalid_token("unknown key"))
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1"))).status_code == 200
    assert server.hits == 2


@pytest.mark.parametrize(
    "withdrawn",
    [
        {"keys": []},
        {"keys": [{"kty": "RSA", "kid": "k1", "use": "enc", "n": "AQAB", "e": "AQAB"}]},
    ],
    ids=["empty", "no-usable-key"],
)
def test_jwks_that_withdraws_every_key_is_authoritative(
    server: JWKSServer, key1: Any, withdrawn: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    """A well-formed answer without a usable key replaces the cached keys: nothing verifies."""
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server, ttl=0.001, refresh_cooldown=0))
    tok = kid_token(key1, "k1")
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    server.serve(withdrawn)
    with caplog.at_level(logging.WARNING, logger="common_utils.auth"):
        result = c.simulate_get("/orders", headers=bearer(tok))
    assert result.status_code == 503
    assert result.json["detail"] == "token signing keys are unavailable, retry later"
    assert "no usable signature key" in caplog.text
    server.serve_keys(jwk(key1, "k1"))  # published again: back to normal
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200


def test_stale_keys_are_dropped_after_jwks_max_age(
    server: JWKSServer, key1: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys served from a stale cache while refreshes fail stop verifying at the JWKS max_age."""
    server.serve_keys(jwk(key1, "k1"))
    auth = jwks_auth(server, ttl=10, max_age=60, refresh_cooldown=0)
    c = make_app(auth)
    tok = kid_token(key1, "k1")
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    server.serve("maintenance", status=503)
    real_monotonic = time.monotonic
    monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + 61)  # past max_age
    with caplog.at_level(logging.WARNING, logger="common_utils.auth"):
        result = c.simulate_get("/orders", headers=bearer(tok))
    assert result.status_code == 503
    assert "older than the JWKS max_age" in caplog.text
    server.serve_keys(jwk(key1, "k1"))
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"max_age": 60}, "JWKS max_age: must be at least ttl (600)"),
        ({"max_age": "1h"}, "JWKS max_age: give a number"),
        ({"max_age": 30 * 86400}, "JWKS max_age: give a number from 0.001 to 604800"),
        ({"ttl": -5}, "JWKS ttl: give a number from 0.001 to 86400"),
        ({"refresh_cooldown": True}, "JWKS refresh_cooldown: give a number"),
        ({"timeout": 0}, "JWKS timeout: give a number from 0.01 to 60"),
    ],
)
def test_bad_jwks_options_are_refused_whatever_else_is_set(
    server: JWKSServer, kw: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuthConfigError, match=re.escape(message)):
        jwks_auth(server, **kw)


def test_oversized_jwks_is_refused(server: JWKSServer, key1: Any) -> None:
    server.body = b'{"keys": [], "pad": "' + b"x" * MAX_JWKS_BYTES + b'"}'
    result = make_app(jwks_auth(server)).simulate_get(
        "/orders", headers=bearer(kid_token(key1, "k1"))
    )
    assert result.status_code == 503


def test_jwks_fetch_timeout_gives_503(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1"))
    server.delay = 1.0
    started = time.monotonic()
    result = make_app(jwks_auth(server, timeout=0.2)).simulate_get(
        "/orders", headers=bearer(kid_token(key1, "k1"))
    )
    assert result.status_code == 503
    assert time.monotonic() - started < 0.9


def test_jwks_redirect_is_not_followed(server: JWKSServer, key1: Any) -> None:
    elsewhere = JWKSServer()
    try:
        elsewhere.serve_keys(jwk(key1, "k1"))
        server.status, server.location = 302, elsewhere.url
        result = make_app(jwks_auth(server)).simulate_get(
            "/orders", headers=bearer(kid_token(key1, "k1"))
        )
        assert result.status_code == 503
        assert elsewhere.hits == 0
    finally:
        elsewhere.close()


@pytest.mark.parametrize("member", ["jku", "x5u"])
def test_jku_and_x5u_headers_cause_no_outbound_request(
    server: JWKSServer, key1: Any, member: str
) -> None:
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker = JWKSServer()
    try:
        attacker.serve_keys(jwk(attacker_key, "evil"))
        server.serve_keys(jwk(key1, "k1"))
        c = make_app(jwks_auth(server))
        for kid in ("evil", "k1"):
            tok = token(attacker_key, headers={"kid": kid, member: attacker.url})
            result = c.simulate_get("/orders", headers=bearer(tok))
            assert result.status_code == 401
        assert attacker.hits == 0
        assert server.hits == 1
    finally:
        attacker.close()


def test_embedded_jwk_header_is_never_trusted(server: JWKSServer, key1: Any) -> None:
    attacker_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server))
    header = {"alg": "RS256", "kid": "k1", "jwk": jwk(attacker_key, "k1")}
    result = c.simulate_get("/orders", headers=bearer(rs256_with(attacker_key, header, claims())))
    assert_challenge(result, 401, invalid_token("signature verification failed"))
    header = {"alg": "RS256", "kid": "evil", "jwk": jwk(attacker_key, "evil")}
    result = c.simulate_get("/orders", headers=bearer(rs256_with(attacker_key, header, claims())))
    assert_challenge(result, 401, invalid_token("unknown key"))


def test_signature_of_another_key_with_the_same_kid_gets_401(
    server: JWKSServer, key1: Any, key2: Any
) -> None:
    server.serve_keys(jwk(key1, "k1"))
    result = make_app(jwks_auth(server)).simulate_get(
        "/orders", headers=bearer(kid_token(key2, "k1"))
    )
    assert_challenge(result, 401, invalid_token("signature verification failed"))


def test_path_like_and_huge_kids_are_unknown_keys(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server))
    for kid in ("../../../../etc/passwd", "/dev/zero", "k1/../k1", "C:\\keys\\k1"):
        result = c.simulate_get("/orders", headers=bearer(kid_token(key1, kid)))
        assert_challenge(result, 401, invalid_token("unknown key"))
    result = c.simulate_get("/orders", headers=bearer(kid_token(key1, "k" * 10_000)))
    assert result.status_code == 400  # over the 8 KiB header cap
    assert server.hits == 1


def test_only_signature_keys_of_allowed_families_are_used(server: JWKSServer, key1: Any) -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 - the weak key under test
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ed_key = ed25519.Ed25519PrivateKey.generate()
    server.serve_keys(
        jwk(key1, "enc", use="enc"),
        jwk(key1, "ops", key_ops=["encrypt"]),
        jwk(key1, "badops", key_ops="verify"),
        jwk(key1, "private", d="AAAA"),
        {"kty": "oct", "kid": "hmac", "k": b64(b"s" * 32)},
        jwk(weak, "weak"),
        jwk(key1, "rs512", alg="RS512"),  # allowed by the JWK, not by our list
        jwk(key1, "bad-kid-type") | {"kid": 7},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        "not an object",
        jwk(ec_key, "ec"),
        jwk(ed_key, "ed"),
        jwk(key1, "good", key_ops=["verify"]),
    )
    c = make_app(jwks_auth(server, algorithms=["RS256", "ES256"]))
    for kid in ("enc", "ops", "badops", "private", "hmac", "weak", "rs512", "broken", "ed"):
        signer = weak if kid == "weak" else ed_key if kid == "ed" else key1
        alg = "EdDSA" if kid == "ed" else "RS256"
        if kid == "ed":
            result = c.simulate_get("/orders", headers=bearer(kid_token(signer, kid, alg)))
            assert_challenge(result, 401, invalid_token("algorithm not allowed"))
            continue
        tok = rs256_with(signer, {"alg": "RS256", "kid": kid}, claims())
        result = c.simulate_get("/orders", headers=bearer(tok))
        assert_challenge(result, 401, invalid_token("unknown key"))
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, "good"))).status_code == 200
    ok = c.simulate_get("/orders", headers=bearer(kid_token(ec_key, "ec", "ES256")))
    assert ok.status_code == 200


def test_key_bound_to_its_jwk_alg(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1", alg="RS256"))
    c = make_app(jwks_auth(server, algorithms=["RS256", "PS256"]))
    result = c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1", "PS256")))
    assert_challenge(result, 401, invalid_token("algorithm not allowed for this key"))


def test_allowed_algorithm_of_another_family_than_the_kids_key_gets_401(
    server: JWKSServer, key1: Any
) -> None:
    """Both algorithms are allowed, but the kid names an RSA key: an ES256 header is refused."""
    ec_key = ec.generate_private_key(ec.SECP256R1())
    server.serve_keys(jwk(key1, "rsa"), jwk(ec_key, "ec"))
    c = make_app(jwks_auth(server, algorithms=["RS256", "ES256"]))
    result = c.simulate_get("/orders", headers=bearer(kid_token(ec_key, "rsa", "ES256")))
    assert_challenge(result, 401, invalid_token("algorithm not allowed for this key"))
    ok = c.simulate_get("/orders", headers=bearer(kid_token(ec_key, "ec", "ES256")))
    assert ok.status_code == 200


def test_token_without_kid_uses_the_only_key(server: JWKSServer, key1: Any, key2: Any) -> None:
    server.serve_keys(jwk(key1, None))
    c = make_app(jwks_auth(server))
    assert c.simulate_get("/orders", headers=bearer(kid_token(key1, None))).status_code == 200
    server2 = JWKSServer()
    try:
        server2.serve_keys(jwk(key1, "k1"), jwk(key2, "k2"))
        c2 = make_app(jwks_auth(server2))
        result = c2.simulate_get("/orders", headers=bearer(kid_token(key1, None)))
        assert_challenge(result, 401, invalid_token("unknown key"))
    finally:
        server2.close()


def test_asgi_app_fetches_keys_off_the_event_loop(server: JWKSServer, key1: Any) -> None:
    server.serve_keys(jwk(key1, "k1"))
    c = make_app(jwks_auth(server), asgi=True)
    tok = kid_token(key1, "k1")
    assert c.simulate_get("/orders", headers=bearer(tok)).json["sub"] == "alice"
    assert c.simulate_get("/orders", headers=bearer(tok)).status_code == 200
    assert server.hits == 1


def test_asgi_cold_cache_down_gets_503(server: JWKSServer, key1: Any) -> None:
    server.serve({}, status=500)
    c = make_app(jwks_auth(server), asgi=True)
    result = c.simulate_get("/orders", headers=bearer(kid_token(key1, "k1")))
    assert result.status_code == 503
    assert "Retry-After" in result.headers


def test_repr_of_jwks_middleware_and_cache(server: JWKSServer, key1: Any) -> None:
    auth = jwks_auth(server)
    assert repr(auth) == (
        f"JWTAuthMiddleware(keys=JWKS({server.url!r}), issuer={ISSUER!r}, algorithms=['RS256'])"
    )
    signed = f"{server.url}?sig=s3cret"
    cache = JWKSCache(signed, algorithms=["RS256"], ttl=600, cooldown=60, timeout=5, max_age=3600)
    assert repr(cache) == f"JWKSCache(uri={server.url + '?sig=<hidden>'!r}, keys=0)"
    server.serve_keys(jwk(key1, "k1"))
    cache.refresh(wait=True)
    assert repr(cache) == f"JWKSCache(uri={server.url + '?sig=<hidden>'!r}, keys=1)"


def test_falcon_is_importable_for_type_checkers() -> None:
    assert falcon.asgi.App
