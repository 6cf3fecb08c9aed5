"""common_utils.auth: bearer parsing, token checks, scopes, exemptions, config, from_service.

JWKS fetching against a real loopback server is in test_auth_jwks.py.
"""

from __future__ import annotations

import functools
import gc
import json
import logging
import re
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import falcon
import falcon.asgi
import falcon.testing
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from common_utils.auth import (
    JWKS,
    AuthConfigError,
    AuthContext,
    Exempt,
    JWTAuthMiddleware,
    PublicKey,
    Secret,
    TokenCache,
    require_scopes,
    scopes_required_by,
)
from common_utils.auth._keys import VerificationKey
from common_utils.cfenv import CFEnv
from common_utils.problems import problem_error_serializer
from tests.auth_support import (
    AUDIENCE,
    ISSUER,
    SECRET,
    Echo,
    assert_challenge,
    b64,
    bearer,
    claims,
    hs256_with,
    invalid_token,
    make_app,
    raw_token,
    rs256_with,
    token,
)

BARE = 'Bearer realm="api"'


# -- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_pem(rsa_key: rsa.RSAPrivateKey) -> bytes:
    return rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# The attack suite runs with the verified-token cache on and off: same answers either way.
CACHE_MODES = {"cache-on": TokenCache(), "cache-off": TokenCache(size=0)}


@pytest.fixture(scope="module", params=sorted(CACHE_MODES))
def token_cache(request: pytest.FixtureRequest) -> TokenCache:
    return CACHE_MODES[request.param]


@pytest.fixture(scope="module")
def rsa_auth(rsa_pem: bytes, token_cache: TokenCache) -> JWTAuthMiddleware:
    return JWTAuthMiddleware(
        cache=token_cache,
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        exempt=Exempt(routes=["/health"]),
    )


@pytest.fixture(scope="module")
def client(rsa_auth: JWTAuthMiddleware) -> falcon.testing.TestClient:
    return make_app(rsa_auth)


@pytest.fixture(scope="module")
def hs_client(token_cache: TokenCache) -> falcon.testing.TestClient:
    auth = JWTAuthMiddleware(
        keys=Secret(SECRET),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["HS256"],
        cache=token_cache,
    )
    return make_app(auth)


# -- the happy path ---------------------------------------------------------------------


def test_valid_rs256_token_sets_auth_context(client: Any, rsa_key: Any) -> None:
    result = client.simulate_get("/orders", headers=bearer(token(rsa_key)))
    assert result.status_code == 200
    assert result.json == {"sub": "alice", "scopes": ["orders.read", "orders.write"], "jti": "t-1"}


def test_valid_hs256_token_is_accepted(hs_client: Any) -> None:
    result = hs_client.simulate_get("/orders", headers=bearer(token(SECRET, "HS256")))
    assert result.status_code == 200


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_scheme_word_is_case_insensitive(client: Any, rsa_key: Any, scheme: str) -> None:
    result = client.simulate_get("/orders", headers={"Authorization": f"{scheme} {token(rsa_key)}"})
    assert result.status_code == 200


@pytest.mark.parametrize(
    "header",
    ["Bearer  {}", "Bearer {} ", "bearer   {}  ", "Bearer {}"],
    ids=["two-spaces-before", "space-after", "spaces-both-sides", "plain"],
)
def test_spaces_around_the_bearer_token_are_allowed(client: Any, rsa_key: Any, header: str) -> None:
    result = client.simulate_get(
        "/orders", headers={"Authorization": header.format(token(rsa_key))}
    )
    assert result.status_code == 200


def test_an_empty_scope_array_means_no_scopes(client: Any, rsa_key: Any) -> None:
    result = client.simulate_get("/orders", headers=bearer(token(rsa_key, scope=[])))
    assert result.json["scopes"] == []


def test_space_delimited_scope_string_is_parsed(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, scope="a b  c", jti=None, sub=None)
    result = client.simulate_get("/orders", headers=bearer(tok))
    assert result.json == {"sub": None, "scopes": ["a", "b", "c"], "jti": None}


def test_missing_scope_claim_means_no_scopes(client: Any, rsa_key: Any) -> None:
    result = client.simulate_get("/orders", headers=bearer(token(rsa_key, scope=None)))
    assert result.json["scopes"] == []


def test_non_string_scope_claim_gets_401(client: Any, rsa_key: Any) -> None:
    for bad in (42, ["a", 1], {"a": 1}):
        result = client.simulate_get("/orders", headers=bearer(token(rsa_key, scope=bad)))
        assert_challenge(result, 401, invalid_token("malformed scope claim"))


@pytest.mark.parametrize("sep", ["\u00a0", "\t", "\u2028", "\n", "\x0b", "\x1f", "\u3000"])
def test_scopes_split_on_spaces_only(rsa_auth: Any, rsa_key: Any, sep: str) -> None:
    """RFC 6749 3.3: %x20 separates scopes; other whitespace never grants a second scope."""
    c = scoped_app(rsa_auth)
    tok = token(rsa_key, scope=f"orders.read{sep}orders.write orders.admin")
    result = c.simulate_post("/orders", headers=bearer(tok))
    assert_challenge(result, 401, invalid_token("malformed scope claim"))


@pytest.mark.parametrize(
    "scope",
    [
        'orders.read "admin"',
        "orders.read a\\b",
        "orders.read caf\u00e9",
        ["orders.read", ""],
        ["orders.read", "a b"],
        ["orders.read", "a\u00a0b"],
        ["orders.read", 'x"'],
        ["orders.read", "\x7f"],
    ],
)
def test_scope_tokens_outside_the_rfc_grammar_get_401(
    client: Any, rsa_key: Any, scope: Any
) -> None:
    """Scope tokens are %x21 / %x23-5B / %x5D-7E; anything else refuses the token."""
    result = client.simulate_get("/orders", headers=bearer(token(rsa_key, scope=scope)))
    assert_challenge(result, 401, invalid_token("malformed scope claim"))


def test_scope_string_of_spaces_only_means_no_scopes(client: Any, rsa_key: Any) -> None:
    result = client.simulate_get("/orders", headers=bearer(token(rsa_key, scope=" ")))
    assert result.json["scopes"] == []


@pytest.mark.parametrize(
    ("generate", "alg"),
    [
        (lambda: ec.generate_private_key(ec.SECP256R1()), "ES256"),
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ES384"),
        (ed25519.Ed25519PrivateKey.generate, "EdDSA"),
    ],
    ids=["ES256", "ES384", "EdDSA"],
)
def test_ec_and_eddsa_public_keys_verify_their_own_algorithms(
    generate: Callable[[], Any], alg: str
) -> None:
    private = generate()
    auth = JWTAuthMiddleware(
        keys=PublicKey(private.public_key()), issuer=ISSUER, audience=AUDIENCE, algorithms=[alg]
    )
    result = make_app(auth).simulate_get("/orders", headers=bearer(token(private, alg)))
    assert result.status_code == 200


def test_certificate_pem_is_accepted_as_public_key(rsa_key: Any) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "uaa")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(rsa_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(rsa_key, hashes.SHA256())
    )
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    auth = JWTAuthMiddleware(
        keys=PublicKey(pem), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
    )
    assert make_app(auth).simulate_get("/orders", headers=bearer(token(rsa_key))).status_code == 200


# -- RFC 6750 header handling ---------------------------------------------------------


def test_no_credentials_gets_401_with_bare_bearer_challenge(client: Any) -> None:
    result = client.simulate_get("/orders")
    assert_challenge(result, 401, BARE)
    assert result.json == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "bearer token required",
    }


def test_another_scheme_gets_401_without_error_code(client: Any) -> None:
    for value in ("Basic dXNlcjpwdw==", "Token abc", "", "Bearerabc"):
        result = client.simulate_get("/orders", headers={"Authorization": value})
        assert_challenge(result, 401, BARE)


def test_bearer_without_token_gets_400_invalid_request(client: Any) -> None:
    expected = (
        'Bearer realm="api", error="invalid_request", '
        'error_description="malformed bearer credentials"'
    )
    for value in ("Bearer", "Bearer ", "Bearer    ", "Bearer a b", "Bearer a.b.c d"):
        result = client.simulate_get("/orders", headers={"Authorization": value})
        assert_challenge(result, 400, expected)


def test_header_over_the_cap_gets_400_before_decoding(client: Any, rsa_key: Any) -> None:
    huge = token(rsa_key, padding="x" * 16 * 1024)
    result = client.simulate_get("/orders", headers=bearer(huge))
    assert_challenge(
        result,
        400,
        'Bearer realm="api", error="invalid_request", '
        'error_description="authorization header too large"',
    )


def test_token_in_query_string_is_not_accepted(client: Any, rsa_key: Any) -> None:
    result = client.simulate_get("/orders", params={"access_token": token(rsa_key)})
    assert_challenge(result, 401, BARE)


def test_custom_realm_appears_in_challenges(rsa_pem: bytes) -> None:
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        realm="orders",
    )
    result = make_app(auth).simulate_get("/orders")
    assert result.headers["WWW-Authenticate"] == 'Bearer realm="orders"'


# -- bad tokens: each is 401 invalid_token ----------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
def test_alg_none_in_any_case_gets_401(client: Any, alg: str) -> None:
    unsigned = raw_token({"alg": alg, "typ": "JWT"}, claims(), b"")
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(unsigned)),
        401,
        invalid_token("malformed token"),
    )
    signed = raw_token({"alg": alg, "typ": "JWT"}, claims(), b"anything")
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(signed)),
        401,
        invalid_token("algorithm not allowed"),
    )


def test_hs256_signed_with_the_rsa_public_key_pem_gets_401(client: Any, rsa_pem: bytes) -> None:
    forged = hs256_with(rsa_pem, {"alg": "HS256", "typ": "JWT"}, claims())
    result = client.simulate_get("/orders", headers=bearer(forged))
    assert_challenge(result, 401, invalid_token("algorithm not allowed"))


def test_hs256_signed_with_the_rsa_public_jwk_json_gets_401(client: Any, rsa_key: Any) -> None:
    jwk_json = jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()).encode()
    forged = hs256_with(jwk_json, {"alg": "HS256", "typ": "JWT"}, claims())
    result = client.simulate_get("/orders", headers=bearer(forged))
    assert_challenge(result, 401, invalid_token("algorithm not allowed"))


def test_rs256_token_at_an_hs256_service_gets_401(hs_client: Any, rsa_key: Any) -> None:
    result = hs_client.simulate_get("/orders", headers=bearer(token(rsa_key)))
    assert_challenge(result, 401, invalid_token("algorithm not allowed"))


def test_signature_of_another_key_gets_401(client: Any, other_rsa_key: Any) -> None:
    tok = token(other_rsa_key, headers={"kid": "same-kid"})
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)),
        401,
        invalid_token("signature verification failed"),
    )


@pytest.mark.parametrize("kid", [42, ["a"], {"k": "v"}, True])
def test_non_string_kid_gets_401(client: Any, rsa_key: Any, kid: Any) -> None:
    tok = rs256_with(rsa_key, {"alg": "RS256", "kid": kid}, claims())
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("malformed key id")
    )


def test_long_kids_get_401_by_kid_or_jose_header_cap(rsa_pem: bytes, rsa_key: Any) -> None:
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        max_header_bytes=65536,
    )
    c = make_app(auth)
    tok = token(rsa_key, headers={"kid": "k" * 1000})
    assert_challenge(
        c.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("malformed key id")
    )
    tok = token(rsa_key, headers={"kid": "k" * 10_000})
    assert_challenge(
        c.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("malformed token")
    )


def test_static_key_ignores_a_path_like_kid(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, headers={"kid": "../../../../etc/passwd"})
    assert client.simulate_get("/orders", headers=bearer(tok)).status_code == 200


def test_expired_token_gets_401_with_invalid_token_error(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, exp=int(time.time()) - 31, iat=int(time.time()) - 600)
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("token expired")
    )


def test_expiry_within_leeway_is_accepted(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, exp=int(time.time()) - 10)
    assert client.simulate_get("/orders", headers=bearer(tok)).status_code == 200


@pytest.mark.parametrize("claim", ["nbf", "iat"])
def test_nbf_or_iat_in_the_future_beyond_leeway_gets_401(
    client: Any, rsa_key: Any, claim: str
) -> None:
    later = int(time.time()) + 120
    tok = token(rsa_key, **{claim: later, "exp": later + 600})
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)),
        401,
        invalid_token("token not yet valid"),
    )
    within = token(rsa_key, **{claim: int(time.time()) + 10})
    assert client.simulate_get("/orders", headers=bearer(within)).status_code == 200


def test_missing_exp_gets_401(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, exp=None)
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)),
        401,
        invalid_token("missing required claim"),
    )


@pytest.mark.parametrize("exp", ["soon", "1e400", [1], {"t": 1}])
def test_non_numeric_exp_gets_401(client: Any, rsa_key: Any, exp: Any) -> None:
    tok = token(rsa_key, exp=exp)
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("malformed token")
    )


@pytest.mark.parametrize(
    "iss",
    [
        "https://evil.example.com/oauth/token",
        "https://uaa.example.com/oauth/tok",  # a prefix of ours
        "https://uaa.example.com/oauth/token/evil",  # ours is its prefix
        "evil" + ISSUER,  # ours is its suffix
        "oauth/token",  # a suffix of ours
        [ISSUER],
    ],
)
def test_wrong_issuer_gets_401(client: Any, rsa_key: Any, iss: Any) -> None:
    tok = rs256_with(rsa_key, {"alg": "RS256"}, claims(iss=iss))
    result = client.simulate_get("/orders", headers=bearer(tok))
    assert result.status_code == 401
    assert "invalid_token" in result.headers["WWW-Authenticate"]


def test_missing_issuer_gets_401(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, iss=None)
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)),
        401,
        invalid_token("missing required claim"),
    )


def test_foreign_audience_gets_401(client: Any, rsa_key: Any) -> None:
    for aud in ("billing", ["billing", "shipping"], "order", "orders2"):
        tok = token(rsa_key, aud=aud)
        assert_challenge(
            client.simulate_get("/orders", headers=bearer(tok)),
            401,
            invalid_token("wrong audience"),
        )


def test_missing_audience_gets_401(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, aud=None)
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)),
        401,
        invalid_token("missing required claim"),
    )


def test_audience_list_containing_ours_is_accepted(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, aud=["billing", AUDIENCE])
    assert client.simulate_get("/orders", headers=bearer(tok)).status_code == 200


def test_unknown_crit_header_gets_401(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, headers={"crit": ["urn:example:ext"], "urn:example:ext": 1})
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("invalid token")
    )


@pytest.mark.parametrize("segments", [2, 4, 5])
def test_token_with_wrong_segment_count_gets_401(client: Any, rsa_key: Any, segments: int) -> None:
    parts = token(rsa_key).split(".")
    tok = ".".join((parts * 2)[:segments])
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("malformed token")
    )


@pytest.mark.parametrize(
    "mangle",
    [
        lambda h, p, s: f"!!!.{p}.{s}",  # not base64url at all
        lambda h, p, s: f"A.{p}.{s}",  # impossible base64 length
        lambda h, p, s: f"{b64(b'not json')}.{p}.{s}",
        lambda h, p, s: f"{b64(b'[1, 2]')}.{p}.{s}",  # JSON, not an object
        lambda h, p, s: f"{b64(bytes([0xFF, 0xFE]))}.{p}.{s}",  # not UTF-8
        lambda h, p, s: f"{h}.A.{s}",  # payload impossible base64
        lambda h, p, s: f"{h}.{p}.A",  # signature impossible base64
        lambda h, p, s: f"{h}.{p}+.{s}",
    ],
)
def test_bad_base64_or_json_gets_401(client: Any, rsa_key: Any, mangle: Callable[..., str]) -> None:
    h, p, s = token(rsa_key).split(".")
    result = client.simulate_get("/orders", headers=bearer(mangle(h, p, s)))
    assert result.status_code == 401
    assert result.headers["WWW-Authenticate"].startswith(
        'Bearer realm="api", error="invalid_token"'
    )


def test_payload_that_is_not_an_object_gets_401(client: Any, rsa_key: Any) -> None:
    tok = jwt.api_jws.encode(b"[1,2,3]", rsa_key, algorithm="RS256")
    assert_challenge(
        client.simulate_get("/orders", headers=bearer(tok)), 401, invalid_token("malformed token")
    )


def test_deeply_nested_jose_header_gets_401_not_500(
    client: Any, rsa_key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """A ~4 KB header nesting arrays 1,500 deep used to raise RecursionError (500)."""
    _, p, s = token(rsa_key).split(".")
    nested = b64(b'{"alg": "RS256", "x": ' + b"[" * 1500 + b"]" * 1500 + b"}")
    tok = f"{nested}.{p}.{s}"
    assert len(f"Bearer {tok}") < 8192
    with caplog.at_level(logging.WARNING, logger="common_utils.auth"):
        result = client.simulate_get("/orders", headers=bearer(tok))
    # Python <= 3.12 cannot parse the nesting (RecursionError): "malformed token". Python 3.13
    # parses it, and the changed header no longer matches the signature. Either way: a 401.
    reasons = ("malformed token", "signature verification failed")
    assert result.headers["WWW-Authenticate"] in [invalid_token(r) for r in reasons]
    assert_challenge(result, 401, result.headers["WWW-Authenticate"])
    assert caplog.records == []


def test_oversized_jose_header_segment_gets_401_before_parsing(client: Any, rsa_key: Any) -> None:
    """The header segment is capped (4 KiB) below the Authorization header cap."""
    tok = token(rsa_key, headers={"x5c": ["A" * 3500]})
    result = client.simulate_get("/orders", headers=bearer(tok))
    assert_challenge(result, 401, invalid_token("malformed token"))


def test_unexpected_error_inside_pyjwt_still_gets_401(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    auth = JWTAuthMiddleware(
        keys=Secret(SECRET), issuer=ISSUER, audience=AUDIENCE, algorithms=["HS256"]
    )

    def choke(*args: Any, **kwargs: Any) -> None:
        raise AttributeError("'object' has no attribute 'digest'")  # not a PyJWTError

    monkeypatch.setattr(jwt.PyJWT, "decode", choke)
    with caplog.at_level(logging.WARNING, logger="common_utils.auth"):
        result = make_app(auth).simulate_get("/orders", headers=bearer(token(SECRET, "HS256")))
    assert_challenge(result, 401, invalid_token("invalid token"))
    assert "unexpected" in caplog.text


def test_no_token_or_claim_value_in_bodies_or_logs(
    client: Any, rsa_key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = []
    with caplog.at_level(logging.DEBUG, logger="common_utils.auth"):
        for kw in ({"exp": 1}, {"iss": "https://evil-issuer"}, {"aud": "evil-aud"}):
            tok = token(rsa_key, sub="secret-subject", **kw)
            secrets.append(tok)
            result = client.simulate_get("/orders", headers=bearer(tok))
            assert result.status_code == 401
            for needle in (tok, "secret-subject", "evil-issuer", "evil-aud", tok.split(".")[2]):
                assert needle not in result.text
                assert needle not in str(result.headers)
    for needle in (*secrets, "secret-subject", "evil-issuer", "evil-aud"):
        assert needle not in caplog.text
    assert "bearer token rejected: token expired" in caplog.text


# -- ID tokens are not access tokens --------------------------------------------------------


def uaa_id_token_claims(**overrides: Any) -> dict[str, Any]:
    """The shape UAA's IdTokenCreator writes: aud = [client id], azp, scope ["openid"]."""
    base = claims(
        aud=[AUDIENCE],
        azp=AUDIENCE,
        cid=AUDIENCE,
        scope=["openid"],
        amr=["pwd"],
        email_verified=True,
        nonce="n-0S6_WzA2Mj",
        jti=None,
    )
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def test_uaa_id_token_is_refused(client: Any, rsa_key: Any) -> None:
    """A UAA ID token for our client passes iss and aud; it must still not authenticate."""
    for extra in ({}, {"nonce": None}, {"scope": "openid"}):
        tok = rs256_with(rsa_key, {"alg": "RS256", "typ": "JWT"}, uaa_id_token_claims(**extra))
        result = client.simulate_get("/orders", headers=bearer(tok))
        assert_challenge(result, 401, invalid_token("ID token not accepted"))


def test_oidc_id_token_with_nonce_and_no_scope_is_refused(client: Any, rsa_key: Any) -> None:
    tok = token(rsa_key, nonce="abc", scope=None, azp="web")
    result = client.simulate_get("/orders", headers=bearer(tok))
    assert_challenge(result, 401, invalid_token("ID token not accepted"))


def test_uaa_access_token_with_nonce_and_scopes_is_accepted(client: Any, rsa_key: Any) -> None:
    """UAA copies the authorization request's nonce into access tokens too."""
    tok = token(rsa_key, nonce="abc", azp="web", scope=["openid", "orders.read"])
    assert client.simulate_get("/orders", headers=bearer(tok)).status_code == 200


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jwt", "AT+JWT", "application/at+jwt"])
def test_access_token_types_are_accepted(client: Any, rsa_key: Any, typ: str) -> None:
    result = client.simulate_get("/orders", headers=bearer(token(rsa_key, headers={"typ": typ})))
    assert result.status_code == 200


@pytest.mark.parametrize("typ", ["logout+jwt", "secevent+jwt", "dpop+jwt", "id_token+jwt", 7])
def test_other_token_types_are_refused(client: Any, rsa_key: Any, typ: Any) -> None:
    """RFC 8725 3.11: explicit typing keeps other JWT kinds of the same issuer out."""
    tok = rs256_with(rsa_key, {"alg": "RS256", "typ": typ}, claims())
    result = client.simulate_get("/orders", headers=bearer(tok))
    assert_challenge(result, 401, invalid_token("token type not accepted"))


def test_accept_id_tokens_lets_them_through(rsa_pem: bytes, rsa_key: Any) -> None:
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        accept_id_tokens=True,
    )
    tok = rs256_with(rsa_key, {"alg": "RS256"}, uaa_id_token_claims())
    assert make_app(auth).simulate_get("/orders", headers=bearer(tok)).json["scopes"] == ["openid"]
    with pytest.raises(AuthConfigError, match="accept_id_tokens: give True or False"):
        JWTAuthMiddleware(**base_config(accept_id_tokens="yes"))


# -- exemptions -------------------------------------------------------------------------


def test_exempt_route_passes_without_token(client: Any) -> None:
    result = client.simulate_get("/health")
    assert result.status_code == 200
    assert result.json == {"public": True}


def test_exempt_route_by_uri_template(rsa_pem: bytes) -> None:
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        exempt=Exempt(routes=["/items/{item_id}"]),
    )
    c = make_app(auth)
    assert c.simulate_get("/items/42").status_code == 200
    assert c.simulate_get("/orders").status_code == 401


def test_options_is_exempt_by_default_for_cors_preflight(client: Any) -> None:
    assert client.simulate_options("/orders").status_code == 200
    assert client.simulate_post("/orders").status_code == 401


def test_unrouted_path_fails_closed_401_then_404_with_a_token(client: Any, rsa_key: Any) -> None:
    """An unrouted path needs a token too: no probing for what exists without one."""
    assert_challenge(client.simulate_get("/nowhere"), 401, BARE)
    assert client.simulate_get("/nowhere", headers=bearer(token(rsa_key))).status_code == 404


def test_is_exempt_reads_the_resource_auth_dict(rsa_auth: JWTAuthMiddleware) -> None:
    class Public:
        auth: ClassVar[dict[str, Any]] = {"exempt": True}

    class ReadOnlyPublic:
        auth: ClassVar[dict[str, Any]] = {"exempt_methods": ["get", "HEAD"]}

    class Private:
        auth: ClassVar[dict[str, Any]] = {"exempt": False, "exempt_methods": []}

    class Unrelated:
        auth = "not a dict"

    assert rsa_auth.is_exempt("/x", "POST", Public())
    assert rsa_auth.is_exempt("/x", "GET", ReadOnlyPublic())
    assert not rsa_auth.is_exempt("/x", "POST", ReadOnlyPublic())
    assert not rsa_auth.is_exempt("/health", "OPTIONS", Private())
    assert rsa_auth.is_exempt("/health", "GET", Unrelated())
    assert not rsa_auth.is_exempt("/x", "get", Unrelated())
    assert rsa_auth.is_exempt("/x", "options", Unrelated())  # Falcon's default OPTIONS
    assert not rsa_auth.is_exempt("/x", "options")  # no routed resource: a sink, say
    assert not rsa_auth.is_exempt(None, "GET", None)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"exempt_method": ["GET"]}, "resource auth: unknown keys ['exempt_method']"),
        ({"exempt": "yes"}, "resource auth: 'exempt' must be True or False"),
        ({"exempt_methods": "GET"}, "exempt_methods: give a list of strings"),
    ],
)
def test_bad_resource_auth_dict_is_logged_once_and_fails_closed(
    rsa_auth: JWTAuthMiddleware,
    override: dict[str, Any],
    message: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A dict the middleware cannot read protects every method and says why, once."""
    resource = type("Bad", (), {"auth": override})()
    with caplog.at_level(logging.ERROR, logger="common_utils.auth"):
        assert not rsa_auth.is_exempt("/health", "OPTIONS", resource)
        assert not rsa_auth.is_exempt("/health", "GET", resource)
    assert [r.getMessage() for r in caplog.records] == [
        "resource tests.test_auth.Bad: auth override ignored, every method needs a token: "
        + message
    ]


def test_resources_of_apps_built_in_a_loop_are_released(rsa_pem: bytes) -> None:
    """The per-resource override cache is bounded: resources long gone are not kept alive."""
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"]
    )

    class Public:
        auth: ClassVar[dict[str, Any]] = {"exempt": True}

    first = Public()
    released = weakref.ref(first)
    assert auth.is_exempt("/x", "GET", first)
    del first
    for _ in range(5000):  # resources of apps built and dropped, one after another
        assert auth.is_exempt("/x", "GET", Public())
    gc.collect()
    assert released() is None
    kept = Public()
    assert auth.is_exempt("/x", "GET", kept)
    assert not auth.is_exempt("/x", "GET", Echo())


def test_resource_auth_dict_exempts_through_the_middleware(rsa_auth: JWTAuthMiddleware) -> None:
    class Status:
        auth: ClassVar[dict[str, Any]] = {"exempt_methods": ["GET"]}

        def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.media = {"auth": hasattr(req.context, "auth")}

        def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
            resp.media = {}

    app = falcon.App(middleware=[rsa_auth])
    app.add_route("/status", Status())
    c = falcon.testing.TestClient(app)
    assert c.simulate_get("/status").json == {"auth": False}
    assert c.simulate_post("/status").status_code == 401


# -- every request, whatever serves it -----------------------------------------------------


class Falsy(Echo):
    """A resource Falcon skips process_resource for: its ``__len__`` is 0."""

    def __len__(self) -> int:
        return 0


def sink(req: Any, resp: Any, **params: Any) -> None:
    ctx = getattr(req.context, "auth", None)
    resp.media = {"sink": True, "sub": getattr(ctx, "subject", None)}


async def async_sink(req: Any, resp: Any, **params: Any) -> None:
    sink(req, resp)


class AsyncFalsy:
    async def on_get(self, req: Any, resp: Any) -> None:
        resp.media = {"sub": getattr(getattr(req.context, "auth", None), "subject", None)}

    def __bool__(self) -> bool:
        return False


def served_app(
    auth: JWTAuthMiddleware, static_dir: Any, *, asgi: bool = False
) -> falcon.testing.TestClient:
    """An app with a sink, a static route and a falsy resource beside normal routes."""
    app: falcon.App = falcon.asgi.App(middleware=[auth]) if asgi else falcon.App(middleware=[auth])
    app.set_error_serializer(problem_error_serializer)
    app.add_sink(async_sink if asgi else sink, "/proxy")
    app.add_static_route("/files", str(static_dir))
    app.add_route("/falsy", AsyncFalsy() if asgi else Falsy())
    app.add_route("/health", AsyncFalsy() if asgi else Echo())
    return falcon.testing.TestClient(app)


@pytest.fixture
def static_dir(tmp_path: Any) -> Any:
    (tmp_path / "secret.txt").write_text("internal\n")
    return tmp_path


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
@pytest.mark.parametrize("path", ["/proxy/anything", "/files/secret.txt", "/falsy"])
def test_sinks_static_routes_and_falsy_resources_need_a_token(
    rsa_auth: JWTAuthMiddleware, rsa_key: Any, static_dir: Any, asgi: bool, path: str
) -> None:
    """Falcon skips process_resource for these; the middleware must not."""
    c = served_app(rsa_auth, static_dir, asgi=asgi)
    assert_challenge(c.simulate_get(path), 401, BARE)
    assert_challenge(
        c.simulate_get(path, headers=bearer(token(rsa_key, exp=1))),
        401,
        invalid_token("token expired"),
    )
    ok = c.simulate_get(path, headers=bearer(token(rsa_key)))
    assert ok.status_code == 200
    assert "internal" in ok.text if path.startswith("/files") else "alice" in ok.text


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_exempt_route_and_exempt_prefixes_still_pass_without_token(
    rsa_pem: bytes, static_dir: Any, asgi: bool
) -> None:
    """Exemptions by URI template keep working; sinks and static routes by prefix."""
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        exempt=Exempt(routes=["/health"], prefixes=["/files"]),
    )
    c = served_app(auth, static_dir, asgi=asgi)
    assert c.simulate_get("/health").status_code == 200
    assert c.simulate_get("/files/secret.txt").text == "internal\n"
    assert c.simulate_get("/filesystem").status_code == 401  # a prefix ends at a segment
    assert c.simulate_get("/proxy/x").status_code == 401
    assert c.simulate_options("/proxy/x").status_code == 401  # method exemptions never open sinks


def test_resource_override_applies_to_a_falsy_resource(rsa_auth: JWTAuthMiddleware) -> None:
    """Per-resource overrides are read whether or not Falcon calls process_resource."""

    class PublicFalsy(Falsy):
        auth: ClassVar[dict[str, Any]] = {"exempt": True}

    app = falcon.App(middleware=[rsa_auth])
    app.add_route("/pub", PublicFalsy())
    assert falcon.testing.TestClient(app).simulate_get("/pub").json == {"public": True}


def test_without_the_falcon_app_every_request_needs_a_token(
    rsa_auth: JWTAuthMiddleware, rsa_key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """If the route cannot be found (not called by falcon.App), fail closed, loudly, once."""
    req = falcon.testing.create_req(path="/health")
    with caplog.at_level(logging.ERROR, logger="common_utils.auth"):
        for _ in range(2):
            with pytest.raises(falcon.HTTPError) as info:
                rsa_auth.process_request(req, falcon.Response())
            assert info.value.status_code == 401
    assert len(caplog.records) == 1
    assert "cannot see the Falcon app" in caplog.text
    options = falcon.testing.create_req(path="/health", method="OPTIONS")
    with pytest.raises(falcon.HTTPError):  # no routed resource: no method exemption either
        rsa_auth.process_request(options, falcon.Response())
    ok = falcon.testing.create_req(path="/health", headers=bearer(token(rsa_key)))
    rsa_auth.process_request(ok, falcon.Response())
    assert ok.context.auth.subject == "alice"


def test_unrelated_auth_attribute_does_not_break_a_resource(
    rsa_auth: JWTAuthMiddleware, rsa_key: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """An ``auth`` dict meant for something else: requests are authenticated, never a 500."""

    class Downstream(Echo):
        auth: ClassVar[dict[str, str]] = {"user": "svc", "password": "hunter2"}

    class Client(Echo):
        auth = object()  # not a dict: not ours, ignored silently

    app = falcon.App(middleware=[rsa_auth])
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/downstream", Downstream())
    app.add_route("/client", Client())
    c = falcon.testing.TestClient(app)
    with caplog.at_level(logging.INFO, logger="common_utils.auth"):
        for _ in range(3):
            assert_challenge(c.simulate_get("/downstream"), 401, BARE)
            ok = c.simulate_get("/downstream", headers=bearer(token(rsa_key)))
            assert ok.json["sub"] == "alice"
        assert c.simulate_get("/client", headers=bearer(token(rsa_key))).status_code == 200
        assert c.simulate_options("/client").status_code == 200
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1
    assert ".Downstream: auth override ignored" in errors[0].getMessage()
    assert "hunter2" not in caplog.text


@pytest.mark.parametrize(
    ("prefixes", "message"),
    [
        ("/static", "Exempt prefixes: give a list of strings"),
        (["static"], "Exempt prefixes: each must start with '/' and name a path below '/'"),
        (["/"], "Exempt prefixes: each must start with '/' and name a path below '/'"),
    ],
)
def test_bad_exempt_prefixes_are_refused(prefixes: Any, message: str) -> None:
    with pytest.raises(AuthConfigError, match=re.escape(message)):
        Exempt(prefixes=prefixes)


def test_exempt_prefix_with_trailing_slash_covers_the_directory(rsa_pem: bytes) -> None:
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["RS256"],
        exempt=Exempt(prefixes=["/pub/"]),
    )
    app = falcon.App(middleware=[auth])
    app.add_sink(sink, "/pub")
    c = falcon.testing.TestClient(app)
    assert c.simulate_get("/pub").status_code == 200
    assert c.simulate_get("/pub/a/b").status_code == 200


# -- scopes -------------------------------------------------------------------------------


class Orders:
    @falcon.before(require_scopes("orders.read"))
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}

    @falcon.before(require_scopes("orders.write", "orders.admin"))
    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}


@falcon.before(require_scopes("admin"))
class Admin:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"ok": True}

    def on_delete(self, req: falcon.Request, resp: falcon.Response, item_id: str) -> None:
        resp.media = {"deleted": item_id}


def scoped_app(auth: JWTAuthMiddleware) -> falcon.testing.TestClient:
    app = falcon.App(middleware=[auth])
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/orders", Orders())
    app.add_route("/admin", Admin())
    app.add_route("/admin/{item_id}", Admin())
    app.add_route("/health", Orders())
    return falcon.testing.TestClient(app)


def test_responder_with_granted_scope_runs(rsa_auth: Any, rsa_key: Any) -> None:
    c = scoped_app(rsa_auth)
    assert c.simulate_get("/orders", headers=bearer(token(rsa_key))).json == {"ok": True}


def test_missing_scope_gets_403_insufficient_scope(rsa_auth: Any, rsa_key: Any) -> None:
    c = scoped_app(rsa_auth)
    result = c.simulate_post("/orders", headers=bearer(token(rsa_key)))
    assert_challenge(
        result,
        403,
        'Bearer realm="api", error="insufficient_scope", scope="orders.write orders.admin"',
    )
    assert result.json["required_scopes"] == ["orders.write", "orders.admin"]


def test_require_scopes_on_a_class_guards_every_responder(rsa_auth: Any, rsa_key: Any) -> None:
    c = scoped_app(rsa_auth)
    user = bearer(token(rsa_key))
    admin = bearer(token(rsa_key, scope="admin"))
    assert c.simulate_get("/admin", headers=user).status_code == 403
    assert c.simulate_delete("/admin/7", headers=user).status_code == 403
    assert c.simulate_get("/admin", headers=admin).status_code == 200
    assert c.simulate_delete("/admin/7", headers=admin).json == {"deleted": "7"}


def test_scope_hook_on_exempt_route_fails_closed_with_401(rsa_auth: Any) -> None:
    result = scoped_app(rsa_auth).simulate_get("/health")
    assert_challenge(result, 401, 'Bearer realm="api", scope="orders.read"')


def test_scope_hook_without_middleware_fails_closed() -> None:
    app = falcon.App()
    app.add_route("/orders", Orders())
    assert falcon.testing.TestClient(app).simulate_get("/orders").status_code == 401


def test_require_scopes_rejects_bad_scope_names() -> None:
    for bad in ("", "a b", 'a"b', "a\\b", "a\nb", "é", 3):
        with pytest.raises(ValueError, match="not a valid scope name"):
            require_scopes(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least one scope"):
        require_scopes()


def test_scopes_required_by_finds_hooks_on_functions_methods_and_classes() -> None:
    @falcon.before(require_scopes("a"))
    @falcon.before(require_scopes("b", "a"))
    def on_get(self: Any, req: Any, resp: Any) -> None: ...

    def plain(self: Any, req: Any, resp: Any) -> None: ...

    def other_hook(req: Any, resp: Any, resource: Any, params: Any) -> None: ...

    @falcon.before(other_hook)
    @falcon.before(require_scopes("c"))
    def mixed(self: Any, req: Any, resp: Any) -> None: ...

    assert scopes_required_by(on_get) == ("a", "b")
    assert scopes_required_by(plain) == ()
    assert scopes_required_by(print) == ()
    assert scopes_required_by(mixed) == ("c",)
    assert scopes_required_by(Orders().on_post) == ("orders.write", "orders.admin")
    assert scopes_required_by(Admin.on_delete) == ("admin",)
    assert scopes_required_by(functools.partial(Orders.on_get, None)) == ("orders.read",)
    assert scopes_required_by(require_scopes("x")) == ("x",)
    assert repr(require_scopes("x", "y")) == "require_scopes('x', 'y')"


def test_scopes_required_by_survives_empty_closure_cells() -> None:
    def outer() -> Callable[[], Any]:
        def inner() -> Any:
            return later

        return inner
        later = 1  # pragma: no cover

    assert scopes_required_by(outer()) == ()


# -- ASGI ---------------------------------------------------------------------------------


class AsyncOrders:
    @falcon.before(require_scopes("orders.read"))
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"sub": req.context.auth.subject}

    @falcon.before(require_scopes("orders.admin"))
    async def on_post(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {}  # pragma: no cover - never reached in the tests


def test_asgi_app_verifies_tokens_and_scopes(rsa_auth: Any, rsa_key: Any) -> None:
    app = falcon.asgi.App(middleware=[rsa_auth])
    app.set_error_serializer(problem_error_serializer)
    app.add_route("/orders", AsyncOrders())
    c = falcon.testing.TestClient(app)
    assert c.simulate_get("/orders", headers=bearer(token(rsa_key))).json == {"sub": "alice"}
    assert_challenge(c.simulate_get("/orders"), 401, BARE)
    assert_challenge(
        c.simulate_get("/orders", headers=bearer(token(rsa_key, exp=1))),
        401,
        invalid_token("token expired"),
    )
    assert c.simulate_post("/orders", headers=bearer(token(rsa_key))).status_code == 403
    assert c.simulate_options("/orders").status_code == 200


def test_auth_context_repr_hides_claim_values() -> None:
    ctx = AuthContext({"sub": "alice", "email": "a@example.com"}, scopes=frozenset({"s"}))
    assert repr(ctx) == "AuthContext(claims=<2 claims>, scopes=['s'])"
    assert ctx.subject == "alice"
    assert ctx.token_id is None


# -- configuration --------------------------------------------------------------------------


def base_config(**kw: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "keys": Secret(SECRET),
        "issuer": ISSUER,
        "audience": AUDIENCE,
        "algorithms": ["HS256"],
    }
    config.update(kw)
    return config


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"keys": None}, r"keys: give JWKS\(uri\), PublicKey\(pem\) or Secret\(value\)"),
        ({"keys": SECRET}, r"keys: give JWKS\(uri\), PublicKey\(pem\) or Secret\(value\)"),
        ({"algorithms": "HS256"}, "algorithms: give a list"),
        ({"algorithms": []}, "algorithms: the allow-list must not be empty"),
        ({"algorithms": ["none"]}, "'none' is not supported"),
        (
            {"algorithms": ["HS256", "RS256"]},
            r"algorithms: \['RS256'\] cannot be verified with a Secret; use PublicKey or JWKS",
        ),
        ({"issuer": ""}, "issuer: give a non-empty string"),
        ({"audience": []}, "audience: give a non-empty string or list"),
        ({"audience": ["a", ""]}, "audience: give a non-empty string or list"),
        ({"audience": 5}, "audience: give a list of strings"),
        ({"realm": 'a"b'}, "realm: must hold no quote"),
        ({"leeway": 3600}, "leeway: give a number from 0 to 300"),
        ({"leeway": True}, "leeway: give a number"),
        ({"max_header_bytes": "big"}, "max_header_bytes: give a number"),
        ({"exempt": ["/health"]}, r"exempt: give Exempt\(routes=..., prefixes=..., methods=...\)"),
        ({"required_claims": [1]}, "required_claims: give a list of strings"),
    ],
)
def test_bad_configuration_raises_one_clear_error(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(AuthConfigError, match=message) as info:
        JWTAuthMiddleware(**base_config(**overrides))
    assert SECRET.decode() not in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Secret("short-secret"), "Secret: an HMAC secret must be at least 32 bytes long"),
        (lambda: Secret(12345), "Secret: give the HMAC secret as str or bytes"),
        (lambda: Exempt(routes="/health"), "Exempt routes: give a list of strings"),
        (lambda: Exempt(methods=[1]), "Exempt methods: give a list of strings"),
    ],
)
def test_key_sources_and_exemptions_check_their_own_options(
    build: Callable[[], object], message: str
) -> None:
    """Each option object refuses bad values when it is built, whatever it is used with."""
    with pytest.raises(AuthConfigError, match=re.escape(message)):
        build()


def test_one_base_class_catches_every_configuration_error() -> None:
    """AuthConfigError, CFEnvError and LoggingConfigError are ConfigurationErrors (ValueErrors)."""
    from common_utils.cfenv import CFEnvError, ServiceNotFoundError
    from common_utils.errors import ConfigurationError
    from common_utils.logs import LoggingConfigError, setup_logging

    catches = {
        cls.__name__: issubclass(cls, ConfigurationError)
        for cls in (AuthConfigError, CFEnvError, ServiceNotFoundError, LoggingConfigError)
    }
    assert catches == dict.fromkeys(catches, True)
    assert issubclass(ConfigurationError, ValueError)
    with pytest.raises(ConfigurationError, match="LOG_LEVEL"):
        setup_logging(environ={"LOG_LEVEL": "LOUD"})
    with pytest.raises(ConfigurationError, match="PORT"):
        CFEnv(environ={"PORT": "0"}).port  # noqa: B018


def test_public_key_can_never_serve_as_hmac_secret(rsa_pem: bytes) -> None:
    with pytest.raises(AuthConfigError, match="Secret: looks like a public key") as info:
        Secret(rsa_pem)
    assert "BEGIN" not in str(info.value)
    with pytest.raises(AuthConfigError, match="algorithms: \\['HS256'\\] need a Secret"):
        JWTAuthMiddleware(**base_config(keys=PublicKey(rsa_pem)))
    jwk_json = '{"kty": "RSA", "n": "' + "A" * 43 + '", "e": "AQAB"}'
    with pytest.raises(AuthConfigError, match="Secret: looks like a public key"):
        Secret(jwk_json)


KEY_FIXTURES = Path(__file__).parent / "fixtures"
REFUSED_KEY_TYPE = "not an RSA, EC \\(P-256, P-384, P-521\\) or Ed25519 public key"


@pytest.mark.parametrize(
    ("fixture", "message"),
    [
        ("dsa_public_key.pem", REFUSED_KEY_TYPE),
        ("ed448_public_key.pem", REFUSED_KEY_TYPE),
        ("secp256k1_public_key.pem", REFUSED_KEY_TYPE),
    ],
)
def test_key_types_outside_the_accepted_list_are_refused_without_a_warning(
    fixture: str, message: str
) -> None:
    # filterwarnings=error (pyproject): a DeprecationWarning from loading DSA would fail here.
    with pytest.raises(AuthConfigError, match=f"PublicKey: {message}") as info:
        PublicKey((KEY_FIXTURES / fixture).read_bytes())
    assert "BEGIN" not in str(info.value)


@pytest.mark.parametrize(
    ("make_value", "message"),
    [
        (
            lambda: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "not a PEM public key",
        ),
        (lambda: "garbage", "not a PEM public key"),
        (
            lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key(),  # noqa: S505
            "RSA keys must have at least 2048 bits",
        ),
        (
            lambda: ec.generate_private_key(ec.BrainpoolP256R1()).public_key(),
            REFUSED_KEY_TYPE,
        ),
    ],
)
def test_public_key_config_errors_name_the_setting(
    make_value: Callable[[], object], message: str
) -> None:
    with pytest.raises(AuthConfigError, match=f"PublicKey: {message}"):
        PublicKey(make_value())


def test_a_public_key_verifies_only_its_own_family(rsa_pem: bytes) -> None:
    with pytest.raises(
        AuthConfigError, match=r"\['ES256'\] cannot be verified with this PublicKey"
    ):
        JWTAuthMiddleware(**base_config(keys=PublicKey(rsa_pem), algorithms=["ES256"]))


@pytest.mark.parametrize(
    ("uri", "message"),
    [
        ("http://uaa.example.com/token_keys", "must use https"),
        ("ftp://uaa.example.com/token_keys", "not an absolute http"),
        ("/token_keys", "not an absolute http"),
        ("https://user:pw@uaa.example.com/token_keys", "must not carry credentials"),
        (42, "give the key set URL as a string"),
    ],
)
def test_bad_jwks_uri_is_refused(uri: Any, message: str) -> None:
    with pytest.raises(AuthConfigError, match=f"JWKS uri: {message}") as info:
        JWKS(uri)
    assert "pw" not in str(info.value)


def test_jwks_never_serves_hmac_algorithms() -> None:
    with pytest.raises(AuthConfigError, match="a JWKS never serves HMAC keys"):
        JWTAuthMiddleware(**base_config(keys=JWKS("https://uaa.example.com/k")))


def test_repr_shows_no_secret(rsa_pem: bytes) -> None:
    auth = JWTAuthMiddleware(**base_config())
    assert SECRET.decode() not in repr(auth)
    assert repr(auth) == (
        f"JWTAuthMiddleware(keys=Secret(<hidden>), issuer={ISSUER!r}, algorithms=['HS256'])"
    )
    assert repr(PublicKey(rsa_pem)) == "PublicKey(PS256/PS384/PS512/RS256/RS384/RS512)"
    hmac_key = VerificationKey(SECRET, frozenset({"HS256"}))
    assert repr(hmac_key) == "VerificationKey(algorithms=['HS256'])"  # never the secret
    assert (
        repr(Exempt(routes=["/h"])) == "Exempt(routes=('/h',), prefixes=(), methods=('OPTIONS',))"
    )


def test_keys_can_be_rotated_and_the_old_key_stops_verifying(rsa_key: Any) -> None:
    """Assigning ``auth.keys`` swaps the key for the next request; the new source is checked."""
    auth = JWTAuthMiddleware(**base_config())
    c = make_app(auth)
    old = token(SECRET, "HS256")
    assert c.simulate_get("/orders", headers=bearer(old)).status_code == 200
    new_secret = b"n" * 32
    auth.keys = Secret(new_secret)
    assert_challenge(
        c.simulate_get("/orders", headers=bearer(old)),
        401,
        invalid_token("signature verification failed"),
    )
    assert c.simulate_get("/orders", headers=bearer(token(new_secret, "HS256"))).status_code == 200
    with pytest.raises(AuthConfigError, match="need a Secret"):
        auth.keys = PublicKey(rsa_key.public_key())
    assert repr(auth.keys) == "Secret(<hidden>)"


def test_required_claims_are_enforced(rsa_pem: bytes, rsa_key: Any) -> None:
    auth = JWTAuthMiddleware(
        keys=PublicKey(rsa_pem),
        issuer=ISSUER,
        audience=[AUDIENCE, "orders-v2"],
        algorithms=["RS256", "PS256"],
        required_claims=["jti", "client_id"],
        leeway=0,
    )
    c = make_app(auth)
    assert_challenge(
        c.simulate_get("/orders", headers=bearer(token(rsa_key))),
        401,
        invalid_token("missing required claim"),
    )
    ok = token(rsa_key, "PS256", client_id="cf", aud="orders-v2")
    assert c.simulate_get("/orders", headers=bearer(ok)).status_code == 200


# -- from_service, with the real common_utils.cfenv ------------------------------------------


def service_from(label: str, credentials: dict[str, Any], tags: tuple[str, ...] = ("jwt",)) -> Any:
    vcap = {
        label: [{"name": "auth", "label": label, "tags": list(tags), "credentials": credentials}]
    }
    return CFEnv(environ={"VCAP_SERVICES": json.dumps(vcap)}).service(tag=tags[0])


def answer(auth: JWTAuthMiddleware, tok: str) -> str:
    """What the middleware says to one bearer token: "ok", or the invalid_token reason."""
    result = make_app(auth).simulate_get("/orders", headers=bearer(tok))
    if result.status_code == 200:
        return "ok"
    assert result.status_code == 401, result.text
    found = re.search(r'error_description="([^"]*)"', result.headers["WWW-Authenticate"])
    assert found is not None, result.headers["WWW-Authenticate"]
    return found[1]


def test_from_service_user_provided_secret(hs_client: Any) -> None:
    svc = service_from(
        "user-provided", {"issuer": ISSUER, "audience": AUDIENCE, "secret": SECRET.decode()}
    )
    auth = JWTAuthMiddleware.from_service(svc, exempt=Exempt(routes=["/health"]))
    c = make_app(auth)
    assert c.simulate_get("/orders", headers=bearer(token(SECRET, "HS256"))).status_code == 200
    assert c.simulate_get("/health").status_code == 200


@pytest.mark.parametrize(
    "algorithms",
    [["RS256", "PS256"], "RS256, PS256", None],
    ids=["list", "comma-separated-text", "default"],
)
def test_from_service_user_provided_public_key_and_algorithms(
    rsa_pem: bytes, rsa_key: Any, algorithms: Any
) -> None:
    creds = {"issuer": ISSUER, "audience": AUDIENCE, "public_key": rsa_pem.decode()}
    if algorithms is not None:
        creds["algorithms"] = algorithms
    auth = JWTAuthMiddleware.from_service(service_from("user-provided", creds))
    assert answer(auth, token(rsa_key, "RS256")) == "ok"
    expected = "ok" if algorithms is not None else "algorithm not allowed"
    assert answer(auth, token(rsa_key, "PS256")) == expected


def test_from_service_user_provided_jwks_uri() -> None:
    creds = {"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": "https://uaa.example.com/k"}
    auth = JWTAuthMiddleware.from_service(service_from("user-provided", creds))
    assert "keys=JWKS('https://uaa.example.com/k')" in repr(auth)


@pytest.mark.parametrize(
    ("creds", "message"),
    [
        (
            {"audience": AUDIENCE, "secret": "s" * 32},
            "service 'auth': credential 'issuer' is missing",
        ),
        (
            {"issuer": ISSUER, "audience": "", "secret": "s" * 32},
            "credential 'audience' is missing",
        ),
        ({"issuer": ISSUER, "audience": AUDIENCE}, "give exactly one of the credentials"),
        (
            {"issuer": ISSUER, "audience": AUDIENCE, "secret": "s" * 32, "jwks_uri": "https://x"},
            "give exactly one of the credentials",
        ),
        (
            {"issuer": ISSUER, "audience": AUDIENCE, "secret": "short"},
            "service 'auth': credential 'secret': Secret: an HMAC secret must be at least 32",
        ),
        (
            {"issuer": ISSUER, "audience": AUDIENCE, "jwks_uri": "http://uaa.example.com/k"},
            "service 'auth': credential 'jwks_uri': JWKS uri: must use https",
        ),
    ],
)
def test_from_service_errors_name_service_and_credential(
    creds: dict[str, Any], message: str
) -> None:
    with pytest.raises(AuthConfigError, match=message) as info:
        JWTAuthMiddleware.from_service(service_from("user-provided", creds))
    assert "s" * 32 not in str(info.value)


XSUAA_ISSUER = "https://tenant.auth.example.com/oauth/token"


@pytest.fixture(scope="module")
def xsuaa() -> Any:
    environ = {"VCAP_SERVICES": (FIXTURES / "vcap_services.json").read_text()}
    return CFEnv(environ=environ).service(label="xsuaa")


def test_from_service_xsuaa_derives_the_jwks_uri(xsuaa: Any) -> None:
    auth = JWTAuthMiddleware.from_service(xsuaa)
    assert isinstance(auth.keys, JWKS)
    assert auth.keys.uri == "https://tenant.auth.example.com/token_keys"
    assert repr(auth) == (
        "JWTAuthMiddleware(keys=JWKS('https://tenant.auth.example.com/token_keys'), "
        f"issuer={XSUAA_ISSUER!r}, algorithms=['RS256'])"
    )


@pytest.mark.parametrize(
    ("claim", "verdict"),
    [
        ({}, "ok"),
        ({"iss": ISSUER}, "wrong issuer"),
        ({"aud": "sb-orders!t0815"}, "wrong audience"),
        ({"scope": None}, "missing required claim"),
    ],
    ids=["derived-issuer-and-xsappname", "other-issuer", "other-audience", "no-scope"],
)
def test_from_service_xsuaa_accepts_tokens_of_its_issuer_and_xsappname(
    xsuaa: Any, rsa_key: Any, rsa_pem: bytes, claim: dict[str, Any], verdict: str
) -> None:
    """The binding gives issuer ``<url>/oauth/token`` and audience ``xsappname``; scope required."""
    auth = JWTAuthMiddleware.from_service(xsuaa, keys=PublicKey(rsa_pem))
    fields = {"iss": XSUAA_ISSUER, "aud": "orders!t0815", **claim}
    assert answer(auth, token(rsa_key, **fields)) == verdict


def test_from_service_xsuaa_accepts_only_rs256(xsuaa: Any, rsa_key: Any, rsa_pem: bytes) -> None:
    auth = JWTAuthMiddleware.from_service(xsuaa, keys=PublicKey(rsa_pem))
    fields = {"iss": XSUAA_ISSUER, "aud": "orders!t0815"}
    assert answer(auth, token(rsa_key, "PS256", **fields)) == "algorithm not allowed"


def test_from_service_overrides_win_over_the_binding(
    xsuaa: Any, rsa_key: Any, rsa_pem: bytes
) -> None:
    auth = JWTAuthMiddleware.from_service(
        xsuaa, keys=PublicKey(rsa_pem), audience="sb-orders!t0815", leeway=5
    )
    fields = {"iss": XSUAA_ISSUER, "aud": "sb-orders!t0815"}
    assert answer(auth, token(rsa_key, **fields)) == "ok"
    assert answer(auth, token(rsa_key, iss=XSUAA_ISSUER)) == "wrong audience"
    # leeway=5: expired 3 s ago still passes, 10 s ago does not (the default is 30 s).
    now = int(time.time())
    assert answer(auth, token(rsa_key, exp=now - 3, **fields)) == "ok"
    assert answer(auth, token(rsa_key, exp=now - 10, **fields)) == "token expired"


def test_from_service_keys_override_keeps_the_jwks_options(xsuaa: Any) -> None:
    tuned = JWTAuthMiddleware.from_service(
        xsuaa, keys=JWKS("https://tenant.auth.example.com/token_keys", ttl=60)
    )
    assert repr(tuned.keys) == "JWKS('https://tenant.auth.example.com/token_keys', ttl=60)"


def test_from_service_user_provided_keys_override_replaces_the_credential(rsa_pem: bytes) -> None:
    creds = {"issuer": ISSUER, "audience": AUDIENCE, "secret": "short"}
    svc = service_from("user-provided", creds)
    auth = JWTAuthMiddleware.from_service(svc, keys=Secret(SECRET))
    assert repr(auth.keys) == "Secret(<hidden>)"


UAA = "https://uaa.example.com"


@pytest.mark.parametrize(
    ("label", "creds", "audience"),
    [
        ("xsuaa", {"clientid": "sb-x"}, "sb-x"),
        ("xsuaa", {"clientid": "sb-x", "xsappname": "orders!t1"}, "orders!t1"),
        ("uaa", {"uaadomain": "uaa.example.com", "clientid": "orders"}, "orders"),
        ("uaa", {"clientid": "orders", "audience": "orders-api"}, "orders-api"),
    ],
    ids=["xsuaa-clientid", "xsuaa-xsappname", "uaa-clientid", "uaa-audience"],
)
def test_from_service_uaa_audience_is_xsappname_or_audience_else_clientid(
    rsa_key: Any, rsa_pem: bytes, label: str, creds: dict[str, str], audience: str
) -> None:
    service = service_from(label, {"url": f"{UAA}/", **creds})
    auth = JWTAuthMiddleware.from_service(service, keys=PublicKey(rsa_pem))
    issuer = f"{UAA}/oauth/token"
    assert answer(auth, token(rsa_key, iss=issuer, aud=audience)) == "ok"
    assert answer(auth, token(rsa_key, iss=issuer, aud="someone-else")) == "wrong audience"


@pytest.mark.parametrize(
    ("required", "missing", "verdict"),
    [
        ((), {}, "ok"),
        ((), {"scope": None}, "missing required claim"),  # a UAA JWT refresh token
        ((), {"jti": None}, "ok"),
        (("jti",), {"jti": None}, "missing required claim"),
        (("jti",), {"scope": None}, "missing required claim"),
    ],
)
def test_from_service_uaa_requires_the_scope_claim(
    rsa_key: Any,
    rsa_pem: bytes,
    required: tuple[str, ...],
    missing: dict[str, None],
    verdict: str,
) -> None:
    """UAA access tokens always carry ``scope``; its JWT refresh tokens carry ``granted_scopes``."""
    service = service_from("uaa", {"url": UAA, "clientid": "orders"})
    auth = JWTAuthMiddleware.from_service(
        service, keys=PublicKey(rsa_pem), required_claims=list(required)
    )
    tok = token(rsa_key, iss=f"{UAA}/oauth/token", aud="orders", **missing)
    assert answer(auth, tok) == verdict


@pytest.mark.parametrize(
    ("creds", "message"),
    [
        ({"clientid": "c"}, "credential 'url' is missing"),
        ({"url": "https://uaa.example.com"}, "credential 'clientid' is missing"),
        (
            {"url": "https://evil.example.net", "uaadomain": "example.com", "clientid": "c"},
            "'url' is not under credential 'uaadomain'",
        ),
        (
            {"url": "http://uaa.example.com", "clientid": "c"},
            "service 'auth': credential 'url': JWKS uri: must use https",
        ),
    ],
)
def test_from_service_uaa_errors(creds: dict[str, Any], message: str) -> None:
    with pytest.raises(AuthConfigError, match=message):
        JWTAuthMiddleware.from_service(service_from("uaa", creds))


def test_from_service_accepts_a_duck_typed_service() -> None:
    class Stand:
        name = "stand"
        label = "user-provided"
        credentials: ClassVar[dict[str, str]] = {
            "issuer": ISSUER,
            "audience": AUDIENCE,
            "secret": "z" * 40,
        }

    auth = JWTAuthMiddleware.from_service(Stand())
    assert answer(auth, token(b"z" * 40, "HS256")) == "ok"
    assert answer(auth, token(b"z" * 40, "HS256", iss="https://other")) == "wrong issuer"


from tests.conftest import FIXTURES  # noqa: E402

# -- what the request sees: a read-only context; details under Falcon's default serializer --------


class ClaimsEcho:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ctx = req.context.auth
        refused = []
        for attempt in (
            lambda: ctx.claims.__setitem__("sub", "mallory"),
            lambda: ctx.claims.pop("sub"),
            lambda: ctx.claims.update(admin=True),
            lambda: ctx.claims["scope"].append("orders.admin"),
            lambda: ctx.claims["ext"]["tenant"].clear(),
            lambda: ctx.claims["ext"].setdefault("admin", True),
            lambda: setattr(ctx, "subject", "mallory"),
            lambda: setattr(ctx, "scopes", frozenset({"orders.admin"})),
        ):
            try:
                attempt()
            except (TypeError, AttributeError):
                refused.append(True)
        copy_ = __import__("copy").deepcopy(ctx.claims)
        copy_["ext"]["tenant"].append("mine")
        resp.media = {"refused": refused, "claims": ctx.claims, "copy": copy_["ext"]}


def test_claims_are_read_only_at_every_depth_and_still_plain_json(
    rsa_auth: JWTAuthMiddleware, rsa_key: Any
) -> None:
    """No responder can change what the token said; the claims still serialize and compare."""
    app = falcon.App(middleware=[rsa_auth])
    app.add_route("/claims", ClaimsEcho())
    tok = token(rsa_key, ext={"tenant": ["t1"]})
    result = falcon.testing.TestClient(app).simulate_get("/claims", headers=bearer(tok))
    assert result.status_code == 200
    assert result.json["refused"] == [True] * 8
    assert result.json["claims"] == claims(ext={"tenant": ["t1"]}) | {
        "iat": result.json["claims"]["iat"],
        "exp": result.json["claims"]["exp"],
    }
    assert result.json["copy"] == {"tenant": ["t1", "mine"]}
    ctx = AuthContext({"sub": "a", "n": [{"x": 1}]})
    assert ctx.claims == {"sub": "a", "n": [{"x": 1}]}
    assert ctx.claims is ctx.claims  # built once
    import copy
    import pickle

    for thawed in (
        copy.copy(ctx.claims),
        copy.deepcopy(ctx.claims),
        pickle.loads(pickle.dumps(ctx.claims)),  # noqa: S301 - our own bytes
    ):
        thawed["sub"] = "b"  # a copy is a plain, mutable dict
    for items in (
        copy.copy(ctx.claims["n"]),
        copy.deepcopy(ctx.claims["n"]),
        pickle.loads(pickle.dumps(ctx.claims["n"])),  # noqa: S301 - our own bytes
    ):
        items.append(2)  # a plain, mutable list
    assert ctx.claims == {"sub": "a", "n": [{"x": 1}]}


def test_auth_errors_show_their_detail_under_falcons_default_serializer(
    rsa_auth: JWTAuthMiddleware, rsa_key: Any
) -> None:
    """An app without the problem serializer still tells the client why (description)."""
    app = falcon.App(middleware=[rsa_auth])  # Falcon's own serializer: title and description
    app.add_route("/orders", Orders())
    app.add_route("/admin", Admin())
    c = falcon.testing.TestClient(app)
    assert c.simulate_get("/orders").json["description"] == "bearer token required"
    expired = c.simulate_get("/orders", headers=bearer(token(rsa_key, exp=1)))
    assert expired.json == {"title": "401 Unauthorized", "description": "token expired"}
    forbidden = c.simulate_get("/admin", headers=bearer(token(rsa_key)))
    assert forbidden.json["description"] == ("the token lacks a required scope (required: admin)")
    scoped = falcon.testing.TestClient(falcon.App())
    scoped.app.add_route("/admin", Admin())
    assert scoped.simulate_get("/admin").json["description"] == (
        "authentication required (required: admin)"
    )


def test_validate_and_openapi_argument_errors_are_configuration_errors() -> None:
    """Bad @validate and OpenAPI arguments stop start-up with the one base class too."""
    from common_utils.errors import ConfigurationError
    from common_utils.openapi import OpenAPI
    from common_utils.validation import validate

    with pytest.raises(ConfigurationError, match="error_status must be 400 or 422"):
        validate(body={}, error_status=418)
    with pytest.raises(ConfigurationError, match="OpenAPI: title must not be empty"):
        OpenAPI(falcon.App(), title="", version="1")
