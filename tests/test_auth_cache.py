"""The verified-token cache of JWTAuthMiddleware: a repeated token, answered as if verified anew.

Time is moved, never slept: the ``clock`` fixture shifts the wall and monotonic clocks the
middleware reads and the clock PyJWT reads, together.
"""

from __future__ import annotations

import datetime as _dt
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import falcon
import falcon.testing
import jwt
import pytest

from common_utils.auth import (
    JWKS,
    AuthConfigError,
    JWTAuthMiddleware,
    PublicKey,
    Secret,
    TokenCache,
)
from common_utils.testing import JWKSServer, TokenIssuer

LEEWAY = 30


class Clock:
    """Moves the clocks the middleware and PyJWT read by ``offset`` seconds."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real_time, real_monotonic = time.time, time.monotonic
        clock = self

        class ShiftedDatetime(_dt.datetime):
            @classmethod
            def now(cls, tz: _dt.tzinfo | None = None) -> Any:
                return _dt.datetime.fromtimestamp(real_time() + clock.offset, tz)

        monkeypatch.setattr(time, "time", lambda: real_time() + self.offset)
        monkeypatch.setattr(time, "monotonic", lambda: real_monotonic() + self.offset)
        # NOTE: PyJWT reads datetime.now() for exp/nbf/iat; the test moves it with the rest.
        monkeypatch.setattr(jwt.api_jwt, "datetime", ShiftedDatetime)

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    return Clock(monkeypatch)


@pytest.fixture(scope="module")
def issuer() -> TokenIssuer:
    return TokenIssuer(audience="orders", lifetime=600, scopes=["orders.read"])


@pytest.fixture(scope="module")
def hs_issuer() -> TokenIssuer:
    return TokenIssuer(audience="orders", algorithm="HS256", lifetime=600)


class Me:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx = req.context.auth
        resp.media = {"sub": ctx.subject, "scopes": sorted(ctx.scopes)}


def middleware(issuer: TokenIssuer, **kw: Any) -> JWTAuthMiddleware:
    keys = Secret(issuer.secret) if issuer.algorithm.startswith("HS") else None
    config: dict[str, Any] = {
        "keys": keys or PublicKey(issuer.public_pem),
        "issuer": issuer.issuer,
        "audience": issuer.audience,
        "algorithms": [issuer.algorithm],
        "leeway": LEEWAY,
    }
    config.update(kw)
    return JWTAuthMiddleware(**config)


def client(auth: JWTAuthMiddleware) -> falcon.testing.TestClient:
    app = falcon.App(middleware=[auth])
    app.add_route("/me", Me())
    return falcon.testing.TestClient(app)


def get(c: falcon.testing.TestClient, token: str) -> falcon.testing.Result:
    return c.simulate_get("/me", headers={"Authorization": f"Bearer {token}"})


def test_a_repeated_token_is_answered_from_the_cache(issuer: TokenIssuer) -> None:
    """The second request with the same token is a hit, with the same context."""
    auth = middleware(issuer)
    c = client(auth)
    tok = issuer.token()
    first, second = get(c, tok), get(c, tok)
    assert first.json == second.json == {"sub": "test-user", "scopes": ["orders.read"]}
    assert auth.cache_info() == (1, 1, 1, 4096)


def test_a_token_that_differs_in_any_byte_is_never_a_hit(issuer: TokenIssuer) -> None:
    """Keyed by the whole token: a flipped signature byte is verified, and refused."""
    auth = middleware(issuer)
    c = client(auth)
    tok = issuer.token()
    assert get(c, tok).status_code == 200
    head, payload, sig = tok.split(".")
    for flipped in (
        f"{head}.{payload}.{sig[:-2]}{'A' if sig[-2] != 'A' else 'B'}{sig[-1]}",
        f"{head}.{payload[:-1]}{'A' if payload[-1] != 'A' else 'B'}.{sig}",
    ):
        result = get(c, flipped)
        assert result.status_code == 401
        assert 'error="invalid_token"' in result.headers["WWW-Authenticate"]
    assert auth.cache_info().hits == 0
    assert auth.cache_info().size == 1  # only the verified token


def test_a_cached_token_expires_with_the_same_answer_as_a_fresh_one(
    issuer: TokenIssuer, clock: Clock
) -> None:
    """Past exp + leeway a cached token gets exactly the 401 a fresh verification gives."""
    cached = middleware(issuer, cache=TokenCache(max_age=3600))
    fresh = middleware(issuer, cache=TokenCache(size=0))
    c, f = client(cached), client(fresh)
    tok = issuer.token()
    assert get(c, tok).status_code == 200
    clock.advance(600 + LEEWAY - 5)  # within the leeway: still valid, from the cache
    assert get(c, tok).status_code == 200
    assert cached.cache_info().hits == 1
    clock.advance(10)
    from_cache, from_scratch = get(c, tok), get(f, tok)
    assert from_cache.status_code == from_scratch.status_code == 401
    assert from_cache.headers["WWW-Authenticate"] == from_scratch.headers["WWW-Authenticate"]
    assert from_cache.headers["WWW-Authenticate"] == (
        'Bearer realm="api", error="invalid_token", error_description="token expired"'
    )
    assert from_cache.json == from_scratch.json
    assert cached.cache_info().size == 0  # it never outlives exp
    assert get(c, tok).headers["WWW-Authenticate"] == from_scratch.headers["WWW-Authenticate"]


def test_a_token_not_yet_valid_is_not_cached_and_passes_once_valid(
    issuer: TokenIssuer, clock: Clock
) -> None:
    """nbf in the future: 401 each time (never stored); valid from nbf - leeway on."""
    auth = middleware(issuer)
    c = client(auth)
    now = int(time.time())
    tok = issuer.token(nbf=now + 120)
    for _ in range(2):
        result = get(c, tok)
        assert result.status_code == 401
        assert "token not yet valid" in result.headers["WWW-Authenticate"]
    assert auth.cache_info().size == 0
    clock.advance(120 - LEEWAY + 1)
    assert get(c, tok).status_code == 200
    assert get(c, tok).status_code == 200
    assert auth.cache_info().hits == 1


def test_a_token_without_iat_or_nbf_is_cached_until_exp(issuer: TokenIssuer, clock: Clock) -> None:
    """Without iat and nbf only exp bounds the entry (and max_age)."""
    auth = middleware(issuer, cache=TokenCache(max_age=3600))
    c = client(auth)
    tok = issuer.token(iat=None)
    assert get(c, tok).status_code == get(c, tok).status_code == 200
    clock.advance(600 + LEEWAY)
    assert "token expired" in get(c, tok).headers["WWW-Authenticate"]
    assert auth.cache_info().hits == 1


def test_a_clock_that_goes_back_before_nbf_verifies_again(
    issuer: TokenIssuer, clock: Clock
) -> None:
    """A hit is only served inside [nbf - leeway, exp + leeway) of the current clock."""
    auth = middleware(issuer)
    c = client(auth)
    tok = issuer.token(nbf=int(time.time()))
    assert get(c, tok).status_code == 200
    clock.advance(-(LEEWAY + 5))
    result = get(c, tok)
    assert "token not yet valid" in result.headers["WWW-Authenticate"]
    assert auth.cache_info().hits == 0


def test_entries_never_outlive_the_maximum_age(issuer: TokenIssuer, clock: Clock) -> None:
    """After max_age a still-valid token is verified again (a miss), then cached anew."""
    auth = middleware(issuer, cache=TokenCache(max_age=60))
    c = client(auth)
    tok = issuer.token()
    assert get(c, tok).status_code == 200
    clock.advance(59)
    assert get(c, tok).status_code == 200
    assert auth.cache_info()[:2] == (1, 1)
    clock.advance(2)
    assert get(c, tok).status_code == 200
    assert auth.cache_info()[:2] == (1, 2)
    assert get(c, tok).status_code == 200
    assert auth.cache_info()[:2] == (2, 2)


def test_a_key_dropped_by_a_jwks_refresh_ends_every_hit_it_verified(clock: Clock) -> None:
    """A JWKS refresh without the kid: cached tokens of that key are refused at once."""
    old = TokenIssuer(audience="orders", kid="old-key")
    new = TokenIssuer(audience="orders", kid="new-key")
    with JWKSServer({"keys": old.jwks["keys"] + new.jwks["keys"]}) as server:
        auth = middleware(old, keys=JWKS(server.uri, ttl=60, refresh_cooldown=0))
        c = client(auth)
        old_tokens = [old.token(sub=f"user-{n}") for n in range(3)]
        kept = new.token()
        for tok in [*old_tokens, kept]:
            assert get(c, tok).status_code == 200
        server.jwks = new.jwks  # "old-key" withdrawn
        clock.advance(61)  # the key set's TTL: the next request refreshes it
        assert get(c, kept).status_code == 200  # refreshed here; "new-key" still verifies
        assert server.requests == 2
        for tok in old_tokens:
            result = get(c, tok)
            assert result.status_code == 401
            assert "unknown key" in result.headers["WWW-Authenticate"]
        assert get(c, kept).status_code == 200
    assert auth.cache_info().hits == 2


def test_an_unchanged_key_keeps_its_entries_across_refreshes(clock: Clock) -> None:
    """A refresh that serves the same JWK keeps the tokens it verified cached."""
    issuer = TokenIssuer(audience="orders")
    with JWKSServer(issuer.jwks) as server:
        auth = middleware(issuer, keys=JWKS(server.uri, ttl=60, refresh_cooldown=0))
        c = client(auth)
        tok = issuer.token()
        assert get(c, tok).status_code == 200
        clock.advance(61)
        assert get(c, tok).status_code == 200
        assert server.requests == 2
    assert auth.cache_info().hits == 1


@pytest.mark.parametrize("kind", ["pem", "secret"])
def test_a_rotated_pem_or_secret_ends_every_hit_of_the_old_key(kind: str) -> None:
    """``auth.keys = ...``: tokens of the old key are verified again (and refused)."""
    algorithm = "RS256" if kind == "pem" else "HS256"
    old = TokenIssuer(audience="orders", algorithm=algorithm)
    new = TokenIssuer(audience="orders", algorithm=algorithm)
    auth = middleware(old)
    c = client(auth)
    tok = old.token()
    assert get(c, tok).status_code == 200
    assert get(c, tok).status_code == 200
    auth.keys = PublicKey(new.public_pem) if kind == "pem" else Secret(new.secret)
    result = get(c, tok)
    assert result.status_code == 401
    assert "signature verification failed" in result.headers["WWW-Authenticate"]
    assert get(c, new.token()).status_code == 200
    assert auth.cache_info().hits == 1


@pytest.fixture
def quiet_auth_log(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    # Requests made outside a falcon.App log one ERROR (no app to ask for exemptions).
    with caplog.at_level(100, logger="common_utils.auth"):
        yield


def test_memory_stays_bounded_under_100k_distinct_tokens(
    hs_issuer: TokenIssuer, quiet_auth_log: None
) -> None:
    """100,000 distinct valid tokens and 1,000 invalid ones: never more than ``size`` kept."""
    auth = middleware(hs_issuer, cache=TokenCache(size=1000))
    base = hs_issuer.claims()
    resp = falcon.Response()
    sizes = set()
    for n in range(100_000):
        tok = jwt.encode({**base, "jti": str(n)}, hs_issuer.secret, algorithm="HS256")
        req = falcon.testing.create_req(headers={"Authorization": f"Bearer {tok}"})
        auth.process_request(req, resp)
        assert req.context.auth.token_id == str(n)
        if n % 10_000 == 0:
            sizes.add(auth.cache_info().size)
    for n in range(1000):
        bad = jwt.encode({**base, "jti": f"bad-{n}"}, b"x" * 32, algorithm="HS256")
        req = falcon.testing.create_req(headers={"Authorization": f"Bearer {bad}"})
        with pytest.raises(falcon.HTTPError) as info:
            auth.process_request(req, resp)
        assert info.value.status_code == 401
    info = auth.cache_info()
    assert max(sizes) <= 1000
    assert info.size == info.maxsize == 1000
    assert info.hits == 0


def test_concurrent_hits_from_threads_are_consistent(
    hs_issuer: TokenIssuer, quiet_auth_log: None
) -> None:
    """8 threads share hot tokens and churn a small cache: every answer is right."""
    auth = middleware(hs_issuer, cache=TokenCache(size=16))
    hot = [hs_issuer.token(sub=f"hot-{n}") for n in range(4)]
    cold = [hs_issuer.token(sub=f"cold-{n}") for n in range(64)]
    errors: list[str] = []
    start = threading.Barrier(8)

    def work(worker: int) -> int:
        start.wait()
        done = 0
        for i in range(150):
            tok = hot[i % 4] if i % 3 else cold[(worker * 7 + i) % 64]
            req = falcon.testing.create_req(headers={"Authorization": f"Bearer {tok}"})
            auth.process_request(req, falcon.Response())
            expected = jwt.decode(tok, options={"verify_signature": False})["sub"]
            if req.context.auth.subject != expected:
                errors.append(f"{req.context.auth.subject} != {expected}")
            done += 1
        return done

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert sum(pool.map(work, range(8))) == 8 * 150
    assert errors == []
    info = auth.cache_info()
    assert info.size <= 16
    assert info.hits > 0


def test_a_disabled_cache_verifies_every_request(issuer: TokenIssuer) -> None:
    """``TokenCache(size=0)``: nothing is kept, every request is a full verification."""
    auth = middleware(issuer, cache=TokenCache(size=0))
    c = client(auth)
    tok = issuer.token()
    for _ in range(3):
        assert get(c, tok).json["sub"] == "test-user"
    assert auth.cache_info() == (0, 0, 0, 0)


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"size": -1}, "TokenCache size: give a whole number from 0 to 1000000"),
        ({"size": 1.5}, "TokenCache size: give a whole number"),
        ({"size": True}, "TokenCache size: give a whole number"),
        ({"max_age": 0}, "TokenCache max_age: give a number from 1 to 86400"),
    ],
)
def test_bad_cache_settings_are_refused(kw: dict[str, Any], message: str) -> None:
    with pytest.raises(AuthConfigError, match=message):
        TokenCache(**kw)


def test_cache_must_be_a_token_cache(issuer: TokenIssuer) -> None:
    with pytest.raises(AuthConfigError, match=r"cache: give TokenCache\(size=..., max_age=...\)"):
        middleware(issuer, cache=100)
    assert repr(TokenCache()) == "TokenCache(size=4096, max_age=300)"
