"""JWTAuthMiddleware: per-request cost over the cryptography, and JWKS fetch counts.

Per-request figure, for a valid RS256 and a valid HS256 token, through
``falcon.testing`` in process::

    (GET with the middleware - same GET on the same app without it) / bare jwt.decode

The target is <= 1.25: the middleware adds at most a quarter on top of the
signature and claim checks PyJWT does anyway. falcon-auth2's JWT backend (on
joserfc) is measured on the same tokens and reported beside it when installed.

JWKS figure: fetches at the server side (a loopback http.server) for 1,000
requests with the known kid followed by 1,000 random kids, ours versus
``jwt.PyJWKClient`` with its defaults.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import falcon
import falcon.testing
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from benchmarks._harness import Result, interleaved

ISSUER = "https://uaa.example.com/oauth/token"
AUDIENCE = "orders"
SECRET = b"0123456789abcdef0123456789abcdef"
TARGET = 1.25


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


def _client(middleware: list[Any]) -> falcon.testing.TestClient:
    app = falcon.App(middleware=middleware)
    app.add_route("/orders", _Resource())
    return falcon.testing.TestClient(app)


class _DecodeOnly:
    """The least a JWT middleware can do: jwt.decode the header's token, nothing else."""

    def __init__(self, key: Any, alg: str) -> None:
        self.key, self.algorithms = key, [alg]

    def process_resource(self, req: falcon.Request, resp: Any, resource: Any, params: Any) -> None:
        req.context.claims = jwt.decode(
            req.get_header("Authorization")[7:],
            self.key,
            algorithms=self.algorithms,
            audience=AUDIENCE,
            issuer=ISSUER,
        )


def _peer(alg: str, key: Any) -> Any | None:
    try:
        from falcon_auth2 import AuthMiddleware  # peer, installed only for benchmarks
        from falcon_auth2.backends import JWTAuthBackend
        from joserfc import jwk
    except ImportError:
        return None
    if alg == "HS256":
        peer_key: Any = jwk.OctKey.import_key(SECRET)
    else:
        peer_key = jwk.RSAKey.import_key(key)
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
    from common_utils.auth import JWTAuthMiddleware

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = private.public_key()
    results = []
    for alg, sign_key, verify_key, config in (
        ("RS256", private, public, {"public_key": public}),
        ("HS256", SECRET, SECRET, {"secret": SECRET}),
    ):
        token = jwt.encode(_claims(), sign_key, algorithm=alg, headers={"kid": "k1"})
        headers = {"Authorization": f"Bearer {token}"}
        ours = JWTAuthMiddleware(issuer=ISSUER, audience=AUDIENCE, algorithms=[alg], **config)
        bare, with_auth = _client([]), _client([ours])
        floor_client = _client([_DecodeOnly(verify_key, alg)])
        assert with_auth.simulate_get("/orders", headers=headers).status_code == 200
        fns: dict[str, Callable[[], object]] = {
            "jwt.decode": lambda t=token, k=verify_key, a=alg: jwt.decode(
                t, k, algorithms=[a], audience=AUDIENCE, issuer=ISSUER, leeway=30
            ),
            "app without auth": lambda c=bare, h=headers: c.simulate_get("/orders", headers=h),
            "app with JWTAuthMiddleware": lambda c=with_auth, h=headers: c.simulate_get(
                "/orders", headers=h
            ),
            "app with a decode-only middleware": lambda c=floor_client, h=headers: c.simulate_get(
                "/orders", headers=h
            ),
        }
        peer = _peer(alg, public if alg == "RS256" else SECRET)
        if peer is not None:
            peer_client = _client([peer])
            assert peer_client.simulate_get("/orders", headers=headers).status_code == 200
            fns["app with falcon-auth2 JWT"] = lambda c=peer_client, h=headers: c.simulate_get(
                "/orders", headers=h
            )
        t = interleaved(fns, quick=quick)
        decode = t["jwt.decode"].median
        base = t["app without auth"].median
        ratio = (t["app with JWTAuthMiddleware"].median - base) / decode
        details = {name: round(timing.median_us, 2) for name, timing in t.items()}
        details["unit"] = "us per request (median)"
        floor = (t["app with a decode-only middleware"].median - base) / decode
        details["decode-only middleware ratio (floor)"] = round(floor, 3)
        details["ours over the floor"] = round(ratio / floor, 3)
        note = "falcon-auth2 not installed: no peer figure"
        if peer is not None:
            peer_ratio = (t["app with falcon-auth2 JWT"].median - base) / decode
            details["falcon-auth2 ratio"] = round(peer_ratio, 3)
            note = f"falcon-auth2 (joserfc) on the same token: {peer_ratio:.2f}x jwt.decode"
        note += f"; a middleware doing nothing but jwt.decode: {floor:.2f}x"
        results.append(
            Result(
                group="auth",
                name=f"middleware cost / jwt.decode, {alg}",
                value=round(ratio, 3),
                unit="x",
                target=f"<= {TARGET}",
                passed=ratio <= TARGET,
                details=details,
                note=note,
            )
        )
    return results


class _JWKSServer:
    def __init__(self, body: bytes) -> None:
        self.hits = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.hits += 1
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/token_keys"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _jwks_fetches(quick: bool) -> Result:
    from common_utils.auth import JWTAuthMiddleware

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key(), as_dict=True)
    body = json.dumps({"keys": [dict(jwk, kid="k1", use="sig", alg="RS256")]}).encode()
    n = 200 if quick else 1000
    known = jwt.encode(_claims(), private, algorithm="RS256", headers={"kid": "k1"})
    unknown = [
        jwt.encode(_claims(), private, algorithm="RS256", headers={"kid": secrets.token_hex(8)})
        for _ in range(n)
    ]

    ours_server = _JWKSServer(body)
    peer_server = _JWKSServer(body)
    try:
        auth = JWTAuthMiddleware(
            jwks_uri=ours_server.url, issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
        )
        client = _client([auth])
        for _ in range(n):
            client.simulate_get("/orders", headers={"Authorization": f"Bearer {known}"})
        steady = ours_server.hits
        for tok in unknown:
            client.simulate_get("/orders", headers={"Authorization": f"Bearer {tok}"})
        ours = ours_server.hits

        pyjwk = jwt.PyJWKClient(peer_server.url)
        for _ in range(n):
            pyjwk.get_signing_key_from_jwt(known)
        peer_steady = peer_server.hits
        for tok in unknown:
            with contextlib.suppress(jwt.PyJWKClientError):
                pyjwk.get_signing_key_from_jwt(tok)
        peer = peer_server.hits
    finally:
        ours_server.close()
        peer_server.close()
    return Result(
        group="auth",
        name=f"JWKS fetches: {n} known-kid then {n} random-kid requests",
        value=float(ours),
        unit="fetches",
        target="<= 2",
        passed=ours <= 2,
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
