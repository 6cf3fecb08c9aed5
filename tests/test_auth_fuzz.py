"""Property tests: whatever a client puts in Authorization, the answer is 2xx/4xx, never 500.

Tokens here are validly signed (HS256 with the configured secret) around random
JOSE headers and random claim sets, so the claim checks behind the signature
see every JSON shape: strings where numbers belong, huge or non-finite numbers
(Python's JSON writes ``NaN`` and ``Infinity``), nested scopes, odd Unicode.
"""

from __future__ import annotations

import json

import falcon.testing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common_utils.auth import JWTAuthMiddleware, Secret, TokenCache
from tests.auth_support import AUDIENCE, ISSUER, SECRET, b64, claims, hs256_with, make_app

# Every number JSON can carry, as Python's parser returns it: integers up to the 4,300 digits
# Python converts (PyJWT parses with json.loads), powers of two across that whole range,
# and floats: NaN and the infinities included (a literal such as 1e400 parses as inf).
_DIGITS = 4_299
_numbers = (
    st.integers()
    | st.integers(min_value=-(10**_DIGITS), max_value=10**_DIGITS)
    | st.builds(lambda e, sign: sign * 2**e, st.integers(0, 14_000), st.sampled_from([1, -1]))
    | st.floats()
)
_scalars = st.none() | st.booleans() | _numbers | st.text(max_size=12)
_json = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_CLAIMS = ["iss", "aud", "sub", "exp", "nbf", "iat", "scope", "jti", "nonce", "client_id"]
_claim_sets = st.fixed_dictionaries({}, optional=dict.fromkeys(_CLAIMS, _json)).map(
    lambda random: {**claims(), **random}
)
_headers = st.fixed_dictionaries(
    {"alg": st.sampled_from(["HS256"]) | _json},
    optional={"kid": _json, "typ": _json, "crit": _json, "b64": _json},
)


def _client(cache: TokenCache, max_header_bytes: int = 8192) -> falcon.testing.TestClient:
    return make_app(
        JWTAuthMiddleware(
            keys=Secret(SECRET),
            issuer=ISSUER,
            audience=AUDIENCE,
            algorithms=["HS256"],
            cache=cache,
            max_header_bytes=max_header_bytes,
        )
    )


_CLIENTS = {"cache-on": _client(TokenCache()), "cache-off": _client(TokenCache(size=0))}
# Room for a claim of 4,300 digits: the header cap (400) must not hide the claim checks.
_ROOMY = {
    "cache-on": _client(TokenCache(), 1 << 20),
    "cache-off": _client(TokenCache(size=0), 1 << 20),
}


def _assert_answered_without_leaking(result: falcon.testing.Result, secret_text: str) -> None:
    assert result.status_code in (200, 400, 401), result.text
    if result.status_code != 200:
        assert result.headers["WWW-Authenticate"].startswith('Bearer realm="api"')
        shown = result.text + result.headers["WWW-Authenticate"]
        assert secret_text not in shown or len(secret_text) < 8


@pytest.mark.parametrize("mode", sorted(_CLIENTS))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(header=_headers, payload=_claim_sets)
def test_signed_tokens_with_any_header_and_claims_get_an_answer(mode, header, payload):
    token = hs256_with(SECRET, header, payload)
    for _ in range(2):  # the second time, a verified token comes from the cache
        result = _CLIENTS[mode].simulate_get(
            "/orders", headers={"Authorization": f"Bearer {token}"}
        )
        _assert_answered_without_leaking(result, token)


@settings(max_examples=300, deadline=None)
@given(
    value=st.text(max_size=80)
    | st.builds(
        "{} {}".format,
        st.sampled_from(["Bearer", "bearer", "BEARER", "Basic", ""]),
        st.text(alphabet=st.characters(codec="latin-1"), max_size=60)
        | st.lists(st.text("ab-_=.", max_size=30), max_size=4).map(".".join)
        | st.builds(lambda h, p: f"{b64(h.encode())}.{b64(p.encode())}.c2ln", st.text(), st.text()),
    )
)
def test_any_authorization_header_gets_an_answer(value):
    # Falcon's test client sends the header as latin-1, as a WSGI server would.
    value = value.encode("utf-8", "surrogatepass").decode("latin-1")
    result = _CLIENTS["cache-on"].simulate_get("/orders", headers={"Authorization": value})
    _assert_answered_without_leaking(result, value.partition(" ")[2])


def test_claims_with_non_finite_numbers_are_refused_not_crashed():
    raw = json.dumps({**claims(), "exp": float("inf"), "iat": float("nan")})
    token = hs256_with(SECRET, {"alg": "HS256", "typ": "JWT"}, json.loads(raw))
    result = _CLIENTS["cache-on"].simulate_get(
        "/orders", headers={"Authorization": f"Bearer {token}"}
    )
    _assert_answered_without_leaking(result, token)
    assert result.status_code == 401


_TIME_CLAIMS = ["exp", "nbf", "iat"]


@pytest.mark.parametrize("mode", sorted(_CLIENTS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(times=st.fixed_dictionaries({}, optional=dict.fromkeys(_TIME_CLAIMS, _numbers)))
def test_time_claims_of_any_json_number_get_200_or_401(mode, times):
    """A validly signed exp/nbf/iat of any size is a verdict, never a 500 (cache on or off)."""
    token = hs256_with(SECRET, {"alg": "HS256", "typ": "JWT"}, {**claims(), **times})
    for _ in range(2):  # the second time, a verified token comes from the cache
        result = _ROOMY[mode].simulate_get("/orders", headers={"Authorization": f"Bearer {token}"})
        assert result.status_code in (200, 401), result.text


@pytest.mark.parametrize("mode", sorted(_CLIENTS))
@pytest.mark.parametrize("claim", _TIME_CLAIMS)
@pytest.mark.parametrize(
    "value",
    [2**1100, -(2**1100), 10**_DIGITS, 1e308, -1e308],
    ids=["2**1100", "-2**1100", "10**4299", "1e308", "-1e308"],
)
def test_time_claims_too_large_for_a_float_get_200_or_401(mode, claim, value):
    """The report: exp = 2**1100 was an OverflowError (a 500) with the cache on."""
    token = hs256_with(SECRET, {"alg": "HS256", "typ": "JWT"}, {**claims(), claim: value})
    for _ in range(2):
        result = _ROOMY[mode].simulate_get("/orders", headers={"Authorization": f"Bearer {token}"})
        assert result.status_code in (200, 401), result.text
