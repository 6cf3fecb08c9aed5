"""A JWKS URL's secrets never reach a repr or a log line (issue 25, hardening).

Some key servers are reached through a signed URL (``?sig=...``) or a URL with
a token in its query; the repr of the key source and the fetch log lines show
the URL without query values, userinfo or fragment.
"""

from __future__ import annotations

import logging

import falcon.testing
import pytest

from common_utils.auth import JWKS, JWTAuthMiddleware
from common_utils.testing import TokenIssuer
from tests.auth_support import AUDIENCE, ISSUER, bearer, make_app

SECRET_VALUE = "s3cr3t-query-value"
# Port 1 on loopback: nothing listens, the fetch fails at once.
URI = f"http://127.0.0.1:1/token_keys?sig={SECRET_VALUE}&token={SECRET_VALUE}#frag-{SECRET_VALUE}"


def test_jwks_repr_hides_query_values_and_fragment():
    shown = repr(JWKS(URI))
    assert SECRET_VALUE not in shown
    assert shown == "JWKS('http://127.0.0.1:1/token_keys?sig=<hidden>&token=<hidden>')"


def test_repr_of_the_middleware_hides_them_too():
    auth = JWTAuthMiddleware(keys=JWKS(URI), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"])
    assert SECRET_VALUE not in repr(auth)


def test_fetch_failure_log_lines_hide_query_values(caplog: pytest.LogCaptureFixture):
    auth = JWTAuthMiddleware(keys=JWKS(URI), issuer=ISSUER, audience=AUDIENCE, algorithms=["RS256"])
    client: falcon.testing.TestClient = make_app(auth)
    tok = TokenIssuer(issuer=ISSUER, audience=AUDIENCE).token()
    with caplog.at_level(logging.DEBUG, logger="common_utils.auth"):
        result = client.simulate_get("/orders", headers=bearer(tok))
    assert result.status_code == 503
    assert "127.0.0.1:1/token_keys" in caplog.text  # the line still says where
    assert SECRET_VALUE not in caplog.text
    assert SECRET_VALUE not in result.text


def test_credentials_in_the_url_are_refused_without_showing_them():
    with pytest.raises(Exception, match="must not carry credentials") as info:
        JWKS(f"https://user:{SECRET_VALUE}@keys.example/token_keys")
    assert SECRET_VALUE not in str(info.value)
