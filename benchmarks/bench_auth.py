"""JWTAuthMiddleware: per-request cost over the cryptography, and JWKS fetch counts.

Per-request figure, for a valid RS256 and a valid HS256 token, through
``falcon.testing`` in process::

    (GET with the middleware - same GET on the same app without it) / jwt.decode

The target is <= 1.25: the middleware adds at most a quarter on top of the
signature and claim checks PyJWT does anyway. That row runs with the
verified-token cache off (every request verified in full). Two more rows per
algorithm measure the cache (issue 18), each over a decode-only middleware's
added cost in the same rounds: a repeated token (hit, target <= 0.1) and a new
token per request (miss: verify, store, evict; target <= 1.15; the decode-only
middleware gets the same stream of unique tokens). falcon-auth2's JWT backend (on
joserfc) is measured on the same tokens and reported beside it when installed.

Method (changed; why): the first version divided the difference of two
separately measured medians by ``jwt.decode`` timed alone in a tight loop. That
was unfair twice over:

* The denominator ran hot: the same few functions back to back, with caches and
  branch predictors primed. The numerator's decode runs between two requests
  through the whole Falcon and ``wsgiref`` stack, as it does in a service. The
  very same ``jwt.decode`` call then costs about 1.5-1.8x as much (measured here:
  ~41 us in the loop, ~70 us right after a request, HS256, 2-core EPYC), so even
  a middleware that does nothing but ``jwt.decode`` scored 1.5-1.8x and the 1.25
  target was out of reach of any middleware. The denominator is now measured in
  the same company: ``(request without auth, then jwt.decode) - (request without
  auth)``. The tight-loop figure is still reported, as ``jwt.decode (hot loop)``.
* The two apps were timed in separate blocks of ~0.15 s, and on a shared machine
  the difference of two such medians swung by +-0.5x from run to run (the
  decode-only middleware once came out dearer than ours). Now every round times
  a short batch of each case in turn, the ratio is computed per round from that
  round's own figures, and the median over the rounds is reported.

Same token, same key and same app for every case; every case is warmed up first.

JWKS figure: fetches at the server side (``common_utils.testing.JWKSServer``) for 1,000
requests with the known kid followed by 1,000 random kids, ours versus
``jwt.PyJWKClient`` with its defaults.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import itertools
import secrets
import statistics
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import falcon
import falcon.testing
import jwt
from _harness import Metric, Result
from _profile import Workload
from cryptography.hazmat.primitives.asymmetric import rsa

if TYPE_CHECKING:
    from falcon_auth2 import AuthMiddleware

    from common_utils.auth import JWTAuthMiddleware

ISSUER = "https://uaa.example.com/oauth/token"
AUDIENCE = "orders"
SECRET = b"0123456789abcdef0123456789abcdef"
TARGET = 1.25
# Issue 18: the middleware's added cost with a cache hit, and with a miss, over the added
# cost of a middleware that does nothing but jwt.decode.
HIT_TARGET = 0.1
MISS_TARGET = 1.15
_MISS_CACHE = 256


class _Resource:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.text = "ok"


def _claims() -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "alice",
        "iat": now,
        "nbf": now,
        "exp": now + 3600,
        "jti": "bench",
        "scope": ["orders.read"],
    }


def _paired(
    fns: dict[str, Callable[[], object]], *, rounds: int, batch_s: float = 0.01
) -> dict[str, list[float]]:
    """Time every callable once per round, in turn; return seconds per call per round."""
    calls: dict[str, int] = {}
    for name, fn in fns.items():
        fn()  # warm-up
        start = time.perf_counter()
        fn()
        calls[name] = max(1, int(batch_s / max(time.perf_counter() - start, 1e-7)))
    samples: dict[str, list[float]] = {name: [] for name in fns}
    names = list(fns)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for r in range(rounds):
            for name in names[r % len(names) :] + names[: r % len(names)]:  # rotate order
                fn, n = fns[name], calls[name]
                start = time.perf_counter()
                for _ in range(n):
                    fn()
                samples[name].append((time.perf_counter() - start) / n)
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def _ratio(samples: dict[str, list[float]], case: str, base: str, unit: str) -> float:
    """Median over rounds of (case - base) / unit, each round with its own figures."""
    return statistics.median(
        (c - b) / u for c, b, u in zip(samples[case], samples[base], samples[unit], strict=True)
    )


def _client(
    middleware: list[JWTAuthMiddleware | _DecodeOnly | AuthMiddleware],
) -> falcon.testing.TestClient:
    app = falcon.App(middleware=middleware)
    app.add_route("/orders", _Resource())
    return falcon.testing.TestClient(app)


class _DecodeOnly:
    """The least a JWT middleware can do: jwt.decode the header's token, nothing else."""

    def __init__(self, key: rsa.RSAPublicKey | bytes, alg: str) -> None:
        self.key, self.algorithms = key, [alg]

    def process_resource(
        self, req: falcon.Request, resp: falcon.Response, resource: object, params: dict[str, Any]
    ) -> None:
        req.context.claims = jwt.decode(
            req.get_header("Authorization", default="")[7:],
            self.key,
            algorithms=self.algorithms,
            audience=AUDIENCE,
            issuer=ISSUER,
        )


def _peer(alg: str, key: rsa.RSAPublicKey | bytes) -> AuthMiddleware | None:
    try:
        from falcon_auth2 import AuthMiddleware  # peer, installed only for benchmarks
        from falcon_auth2.backends import JWTAuthBackend
        from joserfc import jwk
    except ImportError:
        return None
    peer_key: jwk.OctKey | jwk.RSAKey = (
        jwk.OctKey.import_key(SECRET) if alg == "HS256" else jwk.RSAKey.import_key(key)
    )
    backend = JWTAuthBackend(
        lambda attributes, claims: claims,
        peer_key,
        algorithms=[alg],
        claims_options={
            "iss": {"essential": True, "value": ISSUER},
            "aud": {"essential": True, "value": AUDIENCE},
            "exp": {"essential": True},
        },
    )
    return AuthMiddleware(backend)


def _per_request(quick: bool) -> list[Result]:
    from common_utils.auth import JWTAuthMiddleware, KeySource, PublicKey, Secret, TokenCache

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    results = []
    cases: tuple[tuple[str, rsa.RSAPrivateKey | bytes, rsa.RSAPublicKey | bytes, KeySource], ...]
    cases = (
        ("RS256", private, public, PublicKey(public)),
        ("HS256", SECRET, SECRET, Secret(SECRET)),
    )
    for alg, sign_key, verify_key, keys in cases:
        token = jwt.encode(_claims(), sign_key, algorithm=alg, headers={"kid": "k1"})
        headers = {"Authorization": f"Bearer {token}"}
        middleware = functools.partial(
            JWTAuthMiddleware, keys=keys, issuer=ISSUER, audience=AUDIENCE, algorithms=[alg]
        )
        full = middleware(cache=TokenCache(size=0))
        cached = middleware()
        # NOTE: unique tokens cycled through a pool twice the cache's size: every request is
        # a miss that verifies, stores and evicts (LRU), as a flood of new tokens would.
        missing = middleware(cache=TokenCache(size=_MISS_CACHE))
        unique = [
            jwt.encode(
                {**_claims(), "jti": f"u{n}"}, sign_key, algorithm=alg, headers={"kid": "k1"}
            )
            for n in range(2 * _MISS_CACHE)
        ]
        bare, with_auth = _client([]), _client([full])
        hit_client, miss_client = _client([cached]), _client([missing])
        floor_client = _client([_DecodeOnly(verify_key, alg)])
        assert with_auth.simulate_get("/orders", headers=headers).status_code == 200

        def decode(
            t: str = token,
            k: rsa.RSAPublicKey | bytes = verify_key,
            a: list[str] = [alg],  # noqa: B006
        ) -> object:
            return jwt.decode(t, k, algorithms=a, audience=AUDIENCE, issuer=ISSUER, leeway=30)

        def get(c: falcon.testing.TestClient, h: dict[str, str] = headers) -> Callable[[], object]:
            return lambda: c.simulate_get("/orders", headers=h)

        def get_unique(
            c: falcon.testing.TestClient, tokens: list[str] = unique
        ) -> Callable[[], object]:
            pool = itertools.cycle([{"Authorization": f"Bearer {t}"} for t in tokens])
            return lambda: c.simulate_get("/orders", headers=next(pool))

        bare_get = get(bare)

        def bare_then_decode(
            r: Callable[[], object] = bare_get, d: Callable[[], object] = decode
        ) -> object:
            return r(), d()

        fns: dict[str, Callable[[], object]] = {
            "jwt.decode (hot loop)": decode,
            "app without auth": bare_get,
            "app without auth, then jwt.decode": bare_then_decode,
            "app with JWTAuthMiddleware": get(with_auth),
            "app with JWTAuthMiddleware, cache hit": get(hit_client),
            "app with JWTAuthMiddleware, cache miss (unique tokens)": get_unique(miss_client),
            "app with a decode-only middleware": get(floor_client),
            "app with a decode-only middleware, unique tokens": get_unique(floor_client),
        }
        peer = _peer(alg, public if alg == "RS256" else SECRET)
        if peer is not None:
            peer_client = _client([peer])
            assert peer_client.simulate_get("/orders", headers=headers).status_code == 200
            fns["app with falcon-auth2 JWT"] = get(peer_client)
        samples = _paired(fns, rounds=31 if quick else 201)
        assert missing.cache_info().hits == 0, "the miss row must never hit"
        base, unit = "app without auth", "jwt.decode in a request's company"
        samples[unit] = [
            after - alone
            for after, alone in zip(
                samples["app without auth, then jwt.decode"], samples[base], strict=True
            )
        ]
        ratio = _ratio(samples, "app with JWTAuthMiddleware", base, unit)
        details: dict[str, float | str] = {
            name: round(statistics.median(times) * 1e6, 2) for name, times in samples.items()
        }
        details["unit"] = "us per request (median over rounds)"
        details["rounds"] = len(samples[base])
        hot = _ratio(samples, "app with JWTAuthMiddleware", base, "jwt.decode (hot loop)")
        details["ratio against the hot-loop jwt.decode (old method)"] = round(hot, 3)
        floor = _ratio(samples, "app with a decode-only middleware", base, unit)
        details["decode-only middleware ratio (floor)"] = round(floor, 3)
        details["ours over the floor"] = round(ratio / floor, 3)
        note = "falcon-auth2 not installed: no peer figure"
        if peer is not None:
            peer_ratio = _ratio(samples, "app with falcon-auth2 JWT", base, unit)
            details["falcon-auth2 ratio"] = round(peer_ratio, 3)
            note = f"falcon-auth2 (joserfc) on the same token: {peer_ratio:.2f}x jwt.decode"
        note += f"; a middleware doing nothing but jwt.decode: {floor:.2f}x"
        results.append(
            Metric("auth", "x", at_most=TARGET).row(
                f"middleware cost / jwt.decode, {alg}, cache off",
                round(ratio, 3),
                details=details,
                note=note,
                workload=_get(fns, "app with JWTAuthMiddleware", alg),
            )
        )
        results += _cache_rows(alg, samples, base, fns)
    return results


def _get(fns: dict[str, Callable[[], object]], case: str, alg: str) -> Workload:
    """The workload of ``case``: one ``simulate_get`` through its app."""
    return Workload(fns[case], f"One falcon.testing GET through the {case} ({alg})")


def _cache_rows(
    alg: str,
    samples: dict[str, list[float]],
    base: str,
    fns: dict[str, Callable[[], object]],
) -> list[Result]:
    """Cache hit and miss cost, each over a decode-only middleware's cost on the same tokens."""
    floor = "app with a decode-only middleware"
    rows = []
    for kind, case, floor_case, target in (
        ("hit", "app with JWTAuthMiddleware, cache hit", floor, HIT_TARGET),
        (
            "miss",
            "app with JWTAuthMiddleware, cache miss (unique tokens)",
            f"{floor}, unique tokens",
            MISS_TARGET,
        ),
    ):
        ratio = statistics.median(
            (c - b) / (f - b)
            for c, f, b in zip(samples[case], samples[floor_case], samples[base], strict=True)
        )
        us = {
            "ours added (us)": statistics.median(
                c - b for c, b in zip(samples[case], samples[base], strict=True)
            )
            * 1e6,
            "decode-only added (us)": statistics.median(
                f - b for f, b in zip(samples[floor_case], samples[base], strict=True)
            )
            * 1e6,
        }
        rows.append(
            Metric("auth", "x", at_most=target).row(
                f"cache {kind} cost / decode-only middleware cost, {alg}",
                round(ratio, 3),
                details={k: round(v, 2) for k, v in us.items()},
                note=(
                    "repeated token, answered from the verified-token cache"
                    if kind == "hit"
                    else f"a new token per request ({2 * _MISS_CACHE} cycled through a "
                    f"{_MISS_CACHE}-entry cache): verify, store, evict"
                ),
                workload=_get(fns, case, alg),
            )
        )
    return rows


def _jwks_fetches(quick: bool) -> Result:
    from common_utils.auth import JWKS, JWTAuthMiddleware
    from common_utils.testing import JWKSServer

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    jwks = {"keys": [dict(jwk, kid="k1", use="sig", alg="RS256")]}
    n = 200 if quick else 1000
    known = jwt.encode(_claims(), private, algorithm="RS256", headers={"kid": "k1"})
    unknown = [
        jwt.encode(_claims(), private, algorithm="RS256", headers={"kid": secrets.token_hex(8)})
        for _ in range(n)
    ]

    with JWKSServer(jwks) as ours_server, JWKSServer(jwks) as peer_server:
        auth = JWTAuthMiddleware(
            keys=JWKS(ours_server.uri), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
        )
        client = _client([auth])
        for _ in range(n):
            client.simulate_get("/orders", headers={"Authorization": f"Bearer {known}"})
        steady = ours_server.requests
        for tok in unknown:
            client.simulate_get("/orders", headers={"Authorization": f"Bearer {tok}"})
        ours = ours_server.requests

        pyjwk = jwt.PyJWKClient(peer_server.uri)
        for _ in range(n):
            pyjwk.get_signing_key_from_jwt(known)
        peer_steady = peer_server.requests
        for tok in unknown:
            with contextlib.suppress(jwt.PyJWKClientError):
                pyjwk.get_signing_key_from_jwt(tok)
        peer = peer_server.requests
    return Metric("auth", "fetches", at_most=2).row(
        f"JWKS fetches: {n} known-kid then {n} random-kid requests",
        float(ours),
        details={
            "ours after known kids": steady,
            "ours total": ours,
            "PyJWKClient defaults after known kids": peer_steady,
            "PyJWKClient defaults total": peer,
        },
        note=f"PyJWKClient with its defaults fetched {peer} times for the same requests",
    )


def run(quick: bool) -> list[Result]:
    """Measure the middleware's cost per request and its JWKS fetch counts."""
    return [*_per_request(quick), _jwks_fetches(quick)]


if __name__ == "__main__":  # pragma: no cover - manual run
    import sys

    for result in run("--quick" in sys.argv):
        print(result.name, result.value, result.unit, result.target, result.passed)
        print("   ", result.details, result.note)
