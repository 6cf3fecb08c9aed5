"""ID tokens are refused by their OIDC Core claim set; real access tokens still pass.

Issue 25, item 6: an ID token without ``nonce`` (``at_hash``, ``c_hash``,
``auth_time``, ``azp`` and no ``scope``) was accepted as an access token. Each
claim set below is built as the server issues it (UAA, Keycloak, Azure AD v2),
with our issuer and audience, and signed with the configured key.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from common_utils.auth import JWTAuthMiddleware, Secret, TokenCache
from tests.auth_support import AUDIENCE, ISSUER, SECRET, bearer, hs256_with, invalid_token, make_app

NOW = int(time.time())
BASE = {"iss": ISSUER, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 600}

UAA_ACCESS = {
    **BASE,
    "jti": "4f2c1b7e8a",
    "sub": "7b1f3c2e-user",
    "scope": ["openid", "orders.read"],
    "client_id": "orders-ui",
    "cid": "orders-ui",
    "azp": "orders-ui",
    "grant_type": "authorization_code",
    "user_id": "7b1f3c2e-user",
    "origin": "uaa",
    "user_name": "alice",
    "email": "alice@example.com",
    "auth_time": NOW - 60,
    "rev_sig": "a1b2c3d4",
    "zid": "uaa",
    "nonce": "n-0S6_WzA2Mj",
}
KEYCLOAK_ACCESS = {
    **BASE,
    "auth_time": NOW - 60,
    "jti": "0c8f9d55-2b1e",
    "sub": "f1d2c3b4-user",
    "typ": "Bearer",
    "azp": "orders-ui",
    "session_state": "3d2c1b0a",
    "acr": "1",
    "allowed-origins": ["https://orders.example"],
    "realm_access": {"roles": ["offline_access", "default-roles-demo"]},
    "scope": "openid email profile orders.read",
    "sid": "3d2c1b0a",
    "email_verified": True,
    "preferred_username": "alice",
}
AZURE_DELEGATED_ACCESS = {
    **BASE,
    "nbf": NOW,
    "aio": "AXQAi/8UAAAA",
    "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3",
    "azpacr": "0",
    "name": "Alice",
    "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
    "preferred_username": "alice@contoso.example",
    "rh": "I",
    "scp": "orders.read",
    "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
    "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "uti": "fqiBqXLPj0eQa82S-IYFAA",
    "ver": "2.0",
}
AZURE_APP_ACCESS = {
    **BASE,
    "nbf": NOW,
    "aio": "E2ZgYJjR",
    "azp": "6e74172b-be56-4843-9ff4-e66a39bb12e3",
    "azpacr": "1",
    "idtyp": "app",
    "oid": "8c6a1b2e-service",
    "roles": ["orders.read"],
    "rh": "I",
    "sub": "8c6a1b2e-service",
    "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "uti": "Zr3vB9lK",
    "ver": "2.0",
}

UAA_ID = {
    **BASE,
    "sub": "7b1f3c2e-user",
    "azp": "orders-ui",
    "scope": ["openid"],
    "user_name": "alice",
    "amr": ["pwd"],
    "origin": "uaa",
    "jti": "9a8b7c",
}
KEYCLOAK_ID = {
    **BASE,
    "auth_time": NOW - 60,
    "jti": "c1d2e3f4",
    "sub": "f1d2c3b4-user",
    "typ": "ID",
    "azp": "orders-ui",
    "session_state": "3d2c1b0a",
    "at_hash": "HK6E_P6Dh8Y93mRNtsDB1Q",
    "acr": "1",
    "sid": "3d2c1b0a",
    "email_verified": True,
    "preferred_username": "alice",
}
AZURE_ID = {
    **BASE,
    "nbf": NOW,
    "aio": "Df2UVXL1ix!",
    "name": "Alice",
    "nonce": "123523",
    "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
    "preferred_username": "alice@contoso.example",
    "rh": "I",
    "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
    "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "uti": "fqiBqXLPj0eQa82S-IYFAA",
    "ver": "2.0",
}
# The report: OIDC Core 2 claims, no nonce, no scope.
HYBRID_ID_WITHOUT_NONCE = {
    **BASE,
    "sub": "alice",
    "auth_time": NOW - 60,
    "azp": "orders-ui",
    "at_hash": "77QmUPtjPfzWtF2AnpK9RQ",
    "c_hash": "LDktKdoQak3Pk0cnXxCltA",
}
CODE_FLOW_ID_WITHOUT_NONCE = {**BASE, "sub": "alice", "auth_time": NOW - 60, "azp": "orders-ui"}

ACCESS_TOKENS = {
    "uaa": UAA_ACCESS,
    "keycloak": KEYCLOAK_ACCESS,
    "azure delegated": AZURE_DELEGATED_ACCESS,
    "azure app-only": AZURE_APP_ACCESS,
}
ID_TOKENS = {
    "uaa": UAA_ID,
    "keycloak": KEYCLOAK_ID,
    "azure": AZURE_ID,
    "hybrid flow, no nonce": HYBRID_ID_WITHOUT_NONCE,
    "code flow, no nonce": CODE_FLOW_ID_WITHOUT_NONCE,
    "only at_hash": {**BASE, "sub": "alice", "at_hash": "x", "scope": "orders.read"},
    "only c_hash": {**BASE, "sub": "alice", "c_hash": "x", "client_id": "c"},
    "only nonce": {**BASE, "sub": "alice", "nonce": "n"},
}


def _get(claims: dict[str, Any], *, accept_id_tokens: bool = False, cache: bool = True) -> Any:
    auth = JWTAuthMiddleware(
        keys=Secret(SECRET),
        issuer=ISSUER,
        audience=AUDIENCE,
        algorithms=["HS256"],
        accept_id_tokens=accept_id_tokens,
        cache=TokenCache() if cache else TokenCache(size=0),
    )
    tok = hs256_with(SECRET, {"alg": "HS256", "typ": "JWT"}, claims)
    return make_app(auth).simulate_get("/orders", headers=bearer(tok))


@pytest.mark.parametrize("name", sorted(ID_TOKENS))
def test_id_tokens_are_refused_by_their_claim_set(name):
    result = _get(ID_TOKENS[name])
    assert result.status_code == 401, result.text
    assert result.headers["WWW-Authenticate"] == invalid_token("ID token not accepted")


@pytest.mark.parametrize("name", sorted(ACCESS_TOKENS))
@pytest.mark.parametrize("cache", [True, False], ids=["cache-on", "cache-off"])
def test_real_access_tokens_of_uaa_keycloak_and_azure_ad_pass(name, cache):
    result = _get(ACCESS_TOKENS[name], cache=cache)
    assert result.status_code == 200, result.text


@pytest.mark.parametrize("name", sorted(ID_TOKENS))
def test_accept_id_tokens_lets_every_id_token_shape_through(name):
    assert _get(ID_TOKENS[name], accept_id_tokens=True).status_code == 200
