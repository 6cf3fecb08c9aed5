"""common_utils.testing: the tokens, JWKS endpoint and bindings consuming services test with."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import falcon
import falcon.testing
import jwt
import pytest

from common_utils.auth import JWTAuthMiddleware
from common_utils.cfenv import CFEnv
from common_utils.testing import (
    JWKSServer,
    TokenIssuer,
    service_entry,
    vcap_application,
    vcap_services,
    write_binding_root,
)

pytest_plugins = ["pytester"]


class Whoami:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.media = {"sub": req.context.auth.claims["sub"]}


@pytest.fixture(scope="module")
def rsa_issuer() -> TokenIssuer:
    return TokenIssuer(audience="orders")


def client_for(service: dict[str, Any]) -> falcon.testing.TestClient:
    env = CFEnv(environ={"VCAP_SERVICES": vcap_services(service)})
    app = falcon.App(middleware=[JWTAuthMiddleware.from_service(env.service(tag="jwt"))])
    app.add_route("/whoami", Whoami())
    return falcon.testing.TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def challenge_reason(result: falcon.testing.Result) -> str:
    header = result.headers["WWW-Authenticate"]
    return header.split('error_description="', 1)[1].rstrip('"')


@pytest.mark.parametrize("algorithm", ["RS256", "PS256", "ES256", "ES384", "HS256"])
def test_tokens_of_each_algorithm_pass_a_middleware_built_from_the_issuers_service(
    algorithm: str,
) -> None:
    issuer = TokenIssuer(algorithm=algorithm)
    client = client_for(issuer.service())
    result = client.simulate_get("/whoami", headers=bearer(issuer.token(sub="alice")))
    assert result.status_code == 200
    assert result.json == {"sub": "alice"}


def test_tokens_pass_a_middleware_that_fetches_the_issuers_jwks(rsa_issuer: TokenIssuer) -> None:
    with JWKSServer(rsa_issuer.jwks) as server:
        client = client_for(rsa_issuer.service(jwks_uri=server.uri))
        result = client.simulate_get("/whoami", headers=bearer(rsa_issuer.token()))
        assert result.status_code == 200
        assert server.requests == 1


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (TokenIssuer.expired_token, "token expired"),
        (TokenIssuer.not_yet_valid_token, "token not yet valid"),
        (TokenIssuer.wrong_audience_token, "wrong audience"),
        (TokenIssuer.forged_token, "signature verification failed"),
    ],
)
def test_the_bad_token_helpers_are_refused_for_the_reason_their_name_says(
    rsa_issuer: TokenIssuer, make: Any, reason: str
) -> None:
    result = client_for(rsa_issuer.service()).simulate_get(
        "/whoami", headers=bearer(make(rsa_issuer))
    )
    assert result.status_code == 401
    assert challenge_reason(result) == reason


def test_token_claims_look_like_a_uaa_access_token_and_none_removes_a_claim() -> None:
    issuer = TokenIssuer(algorithm="HS256", issuer="https://uaa.test/oauth/token", lifetime=60)
    token = issuer.token(scopes=["orders.read", "orders.write"], jti=None, zid="tenant-1")
    claims = jwt.decode(token, issuer.secret, algorithms=["HS256"], audience="test-app")
    assert claims["iss"] == "https://uaa.test/oauth/token"
    assert claims["aud"] == ["test-app"]
    assert claims["scope"] == ["orders.read", "orders.write"]
    assert claims["client_id"] == "test-client"
    assert claims["zid"] == "tenant-1"
    assert claims["exp"] - claims["iat"] == 60
    assert "jti" not in claims
    assert jwt.get_unverified_header(token)["kid"] == "test-key-1"


def test_the_issuers_default_scopes_apply_unless_a_token_names_its_own() -> None:
    issuer = TokenIssuer(algorithm="HS256", scopes=["orders.read"])

    def scopes(token: str) -> list[str]:
        claims = jwt.decode(token, issuer.secret, algorithms=["HS256"], audience="test-app")
        return list(claims["scope"])

    assert scopes(issuer.token()) == ["orders.read"]
    assert scopes(issuer.token(scopes=[])) == []
    assert scopes(issuer.token(scopes=["orders.write"])) == ["orders.write"]


def test_extra_headers_reach_the_token(rsa_issuer: TokenIssuer) -> None:
    token = rsa_issuer.token(headers={"typ": "at+jwt", "kid": "other"})
    header = jwt.get_unverified_header(token)
    assert (header["typ"], header["kid"]) == ("at+jwt", "other")


def test_every_token_has_a_fresh_jti(rsa_issuer: TokenIssuer) -> None:
    first, second = (
        jwt.decode(rsa_issuer.token(), options={"verify_signature": False}) for _ in "ab"
    )
    assert first["jti"] != second["jti"]


def test_the_jwks_publishes_only_the_public_key(rsa_issuer: TokenIssuer) -> None:
    (key,) = rsa_issuer.jwks["keys"]
    assert (key["kty"], key["kid"], key["alg"], key["use"]) == ("RSA", "test-key-1", "RS256", "sig")
    assert not {"d", "p", "q", "dp", "dq", "qi"} & key.keys()
    assert rsa_issuer.public_pem.startswith("-----BEGIN PUBLIC KEY-----")


def test_a_secret_issuer_keeps_its_secret_out_of_repr_and_has_no_key_pair() -> None:
    issuer = TokenIssuer(algorithm="HS512")
    assert issuer.secret.decode() not in repr(issuer)
    assert repr(issuer).startswith("TokenIssuer(issuer='https://uaa.test/oauth/token'")
    assert len(issuer.secret) >= 64
    with pytest.raises(TypeError, match="has a secret, not a key pair"):
        issuer.jwks  # noqa: B018
    assert issuer.credentials()["secret"] == issuer.secret.decode()


def test_a_key_pair_issuer_has_no_secret(rsa_issuer: TokenIssuer) -> None:
    with pytest.raises(TypeError, match="has a key pair, not a secret"):
        rsa_issuer.secret  # noqa: B018


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"algorithm": "none"}, "algorithm 'none' is not one of RS256"),
        ({"lifetime": 0}, "lifetime"),
    ],
)
def test_unusable_issuer_settings_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenIssuer(**kwargs)


def get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as ex:
        return ex.code, None


def test_the_jwks_server_serves_rotated_keys_and_chosen_failures(rsa_issuer: TokenIssuer) -> None:
    rotated = TokenIssuer(kid="test-key-2")
    with JWKSServer(rsa_issuer.jwks, path="/keys") as server:
        assert repr(server) == f"JWKSServer({server.uri})"
        assert get(server.uri) == (200, rsa_issuer.jwks)
        server.jwks = rotated.jwks
        assert get(server.uri) == (200, rotated.jwks)
        server.status = 503
        assert get(server.uri) == (503, None)
        assert get(server.uri.replace("/keys", "/other")) == (404, None)
        assert server.requests == 3
    assert repr(server) == "JWKSServer(stopped)"
    server.__exit__(None, None, None)  # stopping twice is harmless


def test_a_stopped_jwks_server_has_no_uri_and_a_path_must_be_absolute() -> None:
    with pytest.raises(RuntimeError, match="not running"):
        JWKSServer({"keys": []}).uri  # noqa: B018
    with pytest.raises(ValueError, match="must start with '/'"):
        JWKSServer({"keys": []}, path="keys")


def test_vcap_services_groups_entries_by_label_as_cfenv_reads_them() -> None:
    db = service_entry("orders-db", label="postgres", plan="small", credentials={"uri": "x"})
    cache = service_entry("cache", label="redis", tags=["cache"], instance_guid="g-1")
    env = CFEnv(environ={"VCAP_SERVICES": vcap_services(db, cache)})
    assert env.service(label="postgres").plan == "small"
    assert env.service(tag="cache").instance_guid == "g-1"
    assert json.loads(vcap_services(db, db))["postgres"][1]["name"] == "orders-db"


def test_vcap_application_is_read_by_cfenv_with_overrides() -> None:
    env = CFEnv(
        environ={
            "VCAP_APPLICATION": vcap_application("orders", space_name="prod", instance_index=2)
        }
    )
    assert env.on_cloud_foundry
    assert env.app.name == "orders"
    assert env.app.space_name == "prod"
    assert env.app.instance_index == 2
    assert env.app.uris == ("orders.apps.test",)


def test_binding_root_files_are_read_by_cfenv(tmp_path: Path) -> None:
    service = service_entry(
        "jwt",
        label="jwt-issuer",
        provider="team-idp",
        credentials={"issuer": "https://idp.test", "algorithms": ["RS256"], "port": 443},
    )
    root = write_binding_root(tmp_path / "bindings", service, service_entry("plain", label="x"))
    env = CFEnv(environ={"SERVICE_BINDING_ROOT": str(root)})
    bound = env.service(name="jwt")
    assert (bound.label, bound.provider) == ("jwt-issuer", "team-idp")
    assert list(bound.credentials["algorithms"]) == ["RS256"]
    assert bound.credentials["port"] == "443"
    assert env.service(name="plain").provider is None
    with pytest.raises(FileExistsError):
        write_binding_root(root, service)


def test_the_pytest_plugin_gives_an_issuer_and_a_resettable_jwks_server(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest('pytest_plugins = ["common_utils.testing.pytest_plugin"]')
    pytester.makepyfile(
        """
        import json, urllib.request

        def fetch(url):
            with urllib.request.urlopen(url, timeout=5) as response:
                return json.load(response)

        def test_rotate(jwks_server, token_issuer):
            assert fetch(jwks_server.uri) == token_issuer.jwks
            jwks_server.jwks = {"keys": []}
            jwks_server.status = 500

        def test_reset_afterwards(jwks_server, token_issuer):
            assert jwks_server.status == 200
            assert fetch(jwks_server.uri) == token_issuer.jwks
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)


# --------------------------------------------------------------------------- known keys


def test_an_hs256_issuer_signs_with_a_known_secret() -> None:
    """TokenIssuer(secret=...): the same secret a shell command or the service's binding holds."""
    secret = "a-known-development-secret-of-32-bytes"
    issuer = TokenIssuer(algorithm="HS256", secret=secret)
    claims = jwt.decode(issuer.token(), secret, algorithms=["HS256"], audience="test-app")
    assert (claims["sub"], claims["aud"], claims["iss"]) == (
        "test-user",
        ["test-app"],
        "https://uaa.test/oauth/token",
    )
    assert issuer.secret == secret.encode()
    assert secret not in repr(issuer)


def test_a_key_pair_issuer_signs_with_a_known_private_key() -> None:
    """TokenIssuer(private_key=PEM): tokens another tool verifies with the known public key."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    issuer = TokenIssuer(algorithm="ES256", private_key=pem)
    claims = jwt.decode(issuer.token(), key.public_key(), algorithms=["ES256"], audience="test-app")
    assert claims["sub"] == "test-user"


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"algorithm": "RS256", "secret": "s" * 32}, "secret"),
        ({"algorithm": "HS256", "private_key": "x"}, "private_key"),
        ({"algorithm": "RS256", "private_key": "not a pem"}, "private_key"),
    ],
)
def test_a_key_that_does_not_fit_the_algorithm_is_refused(
    kwargs: dict[str, Any], named: str
) -> None:
    """A secret for a key pair, a PEM for HMAC or a broken PEM: ValueError naming the argument."""
    with pytest.raises(ValueError, match=named):
        TokenIssuer(**kwargs)


# --------------------------------------------------------------------------- log lines


def test_the_log_records_fixture_sees_an_app_built_in_another_fixture(
    pytester: pytest.Pytester,
) -> None:
    """log_records parses the lines of an app whose setup_logging ran in a fixture first."""
    pytester.makeconftest('pytest_plugins = ["common_utils.testing.pytest_plugin"]')
    pytester.makepyfile(
        """
        import logging, sys

        import falcon, falcon.testing, pytest

        from common_utils.logs import AccessLogMiddleware, RequestIdMiddleware, setup_logging


        class Hello:
            def on_get(self, req, resp):
                logging.getLogger("hello").info("greeting", extra={"who": "you"})
                resp.text = "hi"


        @pytest.fixture
        def client():
            setup_logging("INFO", "json", sys.stdout, environ={})  # as create_app does
            app = falcon.App(middleware=[RequestIdMiddleware(), AccessLogMiddleware()])
            app.add_route("/", Hello())
            return falcon.testing.TestClient(app)


        def test_lines(client, log_records):
            client.simulate_get("/", headers={"X-Vcap-Request-Id": "r-1"})
            (greeting,) = log_records.lines("hello")
            assert (greeting["who"], greeting["request_id"]) == ("you", "r-1")
            (access,) = log_records.lines("common_utils.access")
            assert access["status"] == 200


        def test_logging_was_reset():
            names = [h.get_name() for h in logging.getLogger().handlers]
            assert "common_utils.logs" not in names
            assert "common_utils.testing.capture" not in names
        """
    )
    pytester.runpytest_inprocess("-p", "no:cacheprovider", "-p", "no:randomly").assert_outcomes(
        passed=2
    )


def test_reset_logging_removes_only_the_librarys_handlers() -> None:
    """reset_logging: setup_logging's handler gone, root at WARNING, other handlers kept."""
    import io
    import logging

    from common_utils.logs import setup_logging
    from common_utils.testing import reset_logging

    other = logging.NullHandler()
    root = logging.getLogger()
    root.addHandler(other)
    try:
        setup_logging("DEBUG", "json", io.StringIO(), environ={})
        reset_logging()
        assert other in root.handlers
        assert "common_utils.logs" not in [h.get_name() for h in root.handlers]
        assert root.level == logging.WARNING
    finally:
        root.removeHandler(other)
