"""Cloud Foundry environment parsing: common_utils.cfenv."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common_utils.cfenv import (
    AmbiguousServiceError,
    Application,
    BindingSource,
    CFEnv,
    CFEnvError,
    Credentials,
    HostPort,
    Limits,
    Service,
    ServiceNotFoundError,
    ServiceURL,
)
from common_utils.cfenv import _env as cfenv_env
from tests.conftest import FIXTURES

VCAP_SERVICES = (FIXTURES / "vcap_services.json").read_text(encoding="utf-8")
VCAP_APPLICATION = (FIXTURES / "vcap_application.json").read_text(encoding="utf-8")
SENTINEL = "SENTINEL-S3CRET-do-not-leak"


def _env(**extra: str) -> CFEnv:
    return CFEnv(
        environ={"VCAP_SERVICES": VCAP_SERVICES, "VCAP_APPLICATION": VCAP_APPLICATION, **extra}
    )


def _services(doc: object) -> CFEnv:
    return CFEnv(environ={"VCAP_SERVICES": json.dumps(doc)})


@pytest.fixture(autouse=True)
def _reset_vcap_app_port_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cfenv_env, "_warned_vcap_app_port", False)


# --- local development -------------------------------------------------------------------


def test_nothing_set_means_local_development_defaults() -> None:
    env = CFEnv(environ={})
    assert env.on_cloud_foundry is False
    assert env.services() == ()
    assert env.port == 8080
    assert env.binding_source is BindingSource.NONE
    assert env.app == Application()
    assert env.app.instance_index is None


def test_blank_variables_count_as_unset() -> None:
    env = CFEnv(environ={"VCAP_APPLICATION": "", "VCAP_SERVICES": "  ", "PORT": ""})
    assert env.on_cloud_foundry is False
    assert env.binding_source is BindingSource.NONE
    assert env.port == 8080


def test_reads_os_environ_when_no_mapping_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VCAP_SERVICES_FILE_PATH", "SERVICE_BINDING_ROOT", "PORT", "VCAP_APP_PORT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("VCAP_APPLICATION", VCAP_APPLICATION)
    monkeypatch.setenv("VCAP_SERVICES", VCAP_SERVICES)
    monkeypatch.setenv("PORT", "9000")
    env = CFEnv()
    assert env.on_cloud_foundry is True
    assert env.app.name == "example-app"
    assert env.port == 9000
    assert len(env.services()) == 5


def test_repr_summarises_without_credentials() -> None:
    assert repr(_env(PORT="8000")) == (
        "CFEnv(on_cloud_foundry=True, app='example-app', port=8000, "
        "binding_source='VCAP_SERVICES', services=['orders-db-binding', 'cache', "
        "'my-binding', 'uaa-orders', 'bus'])"
    )


# --- application -------------------------------------------------------------------------


def test_application_exposes_every_documented_vcap_application_attribute() -> None:
    app = _env().app
    assert app.name == "example-app"
    assert app.application_id == "fa05c1a9-0fc1-4fbd-bae1-139850dec7a3"
    assert app.application_name == "example-app"
    assert app.application_uris == ("example-app.apps.example.com",)
    assert app.application_version == "fb8fbcc6-8d58-479e-bcc7-3b4ce5a7f0ca"
    assert app.cf_api == "https://api.example.com"
    assert app.limits == Limits(mem=128, disk=1024, fds=16384)
    assert app.organization_id == "c0134c1a-5d1b-4b9f-8f0b-9d2b5f6e1a00"
    assert app.organization_name == "platform"
    assert app.process_id == "fa05c1a9-0fc1-4fbd-bae1-139850dec7a3"
    assert app.process_type == "web"
    assert app.space_id == "06450c72-4669-4dc6-8096-45f9777db68a"
    assert app.space_name == "staging"
    assert app.uris == ("example-app.apps.example.com",)
    assert app.version == "fb8fbcc6-8d58-479e-bcc7-3b4ce5a7f0ca"
    assert app.memory_limit_mb == 128  # limits.mem when MEMORY_LIMIT is unset
    assert app.instance_index is None  # never a fake 0


def test_application_is_immutable() -> None:
    app = _env().app
    with pytest.raises(dataclasses.FrozenInstanceError):
        app.name = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CF_INSTANCE_INDEX": "3", "INSTANCE_INDEX": "4"}, 3),
        ({"INSTANCE_INDEX": "4"}, 4),
        ({"VCAP_APPLICATION": '{"instance_index": 5}'}, 5),
        ({"VCAP_APPLICATION": '{"instance_index": 0}'}, 0),
        ({"CF_INSTANCE_INDEX": "0", "VCAP_APPLICATION": '{"instance_index": 5}'}, 0),
        ({}, None),
    ],
)
def test_instance_index_prefers_cf_instance_index_then_instance_index_then_vcap(
    environ: dict[str, str], expected: int | None
) -> None:
    assert CFEnv(environ=environ).app.instance_index == expected


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"CF_INSTANCE_GUID": "g1", "INSTANCE_GUID": "g2"}, "g1"),
        ({"INSTANCE_GUID": "g2", "VCAP_APPLICATION": '{"instance_id": "g3"}'}, "g2"),
        ({"VCAP_APPLICATION": '{"instance_id": "g3"}'}, "g3"),
        ({}, None),
    ],
)
def test_instance_guid_prefers_cf_instance_guid_then_instance_guid_then_vcap(
    environ: dict[str, str], expected: str | None
) -> None:
    assert CFEnv(environ=environ).app.instance_guid == expected


@pytest.mark.parametrize("var", ["CF_INSTANCE_INDEX", "INSTANCE_INDEX"])
@pytest.mark.parametrize("value", ["-1", "two", "1.5"])
def test_bad_instance_index_variable_is_an_error_naming_it(var: str, value: str) -> None:
    with pytest.raises(CFEnvError, match=f"^{var} must be a non-negative integer$"):
        CFEnv(environ={var: value})


def test_negative_vcap_instance_index_is_an_error() -> None:
    with pytest.raises(CFEnvError, match=r'VCAP_APPLICATION\["instance_index"\]'):
        CFEnv(environ={"VCAP_APPLICATION": '{"instance_index": -1}'})


def test_instance_ip_addresses_are_parsed() -> None:
    app = CFEnv(environ={"CF_INSTANCE_IP": "10.0.16.4", "CF_INSTANCE_INTERNAL_IP": "fd00::4"}).app
    assert app.instance_ip == ipaddress.IPv4Address("10.0.16.4")
    assert app.instance_internal_ip == ipaddress.IPv6Address("fd00::4")


@pytest.mark.parametrize("var", ["CF_INSTANCE_IP", "CF_INSTANCE_INTERNAL_IP"])
def test_bad_instance_ip_is_an_error_naming_the_variable(var: str) -> None:
    with pytest.raises(CFEnvError, match=f"^{var} must be an IP address$"):
        CFEnv(environ={var: "10.0.0.300"})


@pytest.mark.parametrize(
    ("value", "mb"),
    [("512M", 512), ("512m", 512), ("1G", 1024), ("2g", 2048), ("256MB", 256), ("1gb", 1024)],
)
def test_memory_limit_is_parsed_case_insensitively(value: str, mb: int) -> None:
    env = CFEnv(environ={"MEMORY_LIMIT": value, "VCAP_APPLICATION": VCAP_APPLICATION})
    assert env.app.memory_limit_mb == mb


@pytest.mark.parametrize("value", ["lots", "512", "1T", "-1G"])
def test_bad_memory_limit_is_an_error_naming_it(value: str) -> None:
    with pytest.raises(CFEnvError, match=r"^MEMORY_LIMIT must be a size"):
        CFEnv(environ={"MEMORY_LIMIT": value})


# --- port --------------------------------------------------------------------------------


def test_port_comes_from_port_and_never_from_cf_instance_port() -> None:
    assert CFEnv(environ={"PORT": "8081", "CF_INSTANCE_PORT": "61001"}).port == 8081
    assert CFEnv(environ={"CF_INSTANCE_PORT": "61001"}).port == 8080


def test_port_falls_back_to_the_callers_default() -> None:
    assert CFEnv(environ={}, default_port=5000).port == 5000


def test_port_wins_over_vcap_app_port_without_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="common_utils.cfenv"):
        assert CFEnv(environ={"PORT": "8081", "VCAP_APP_PORT": "8082"}).port == 8081
    assert caplog.records == []


def test_vcap_app_port_is_used_and_its_deprecation_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="common_utils.cfenv"):
        assert CFEnv(environ={"VCAP_APP_PORT": "8082"}).port == 8082
        assert CFEnv(environ={"VCAP_APP_PORT": "8083"}).port == 8083
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["VCAP_APP_PORT is deprecated; the platform should set PORT"]


@pytest.mark.parametrize("value", ["abc", "0", "70000", "-1", "80.5", "8_080", "٨٠"])
def test_bad_port_is_an_error_naming_port(value: str) -> None:
    with pytest.raises(CFEnvError, match=r"^PORT must be an integer in 1\.\.65535$"):
        CFEnv(environ={"PORT": value})


def test_bad_vcap_app_port_is_an_error_naming_it() -> None:
    with pytest.raises(CFEnvError, match=r"^VCAP_APP_PORT must be"):
        CFEnv(environ={"VCAP_APP_PORT": "abc"})


def test_default_port_is_validated() -> None:
    with pytest.raises(CFEnvError, match=r"^default_port must be"):
        CFEnv(environ={}, default_port=0)
    with pytest.raises(TypeError, match=r"default_port"):
        CFEnv(environ={}, default_port=True)


# --- services and lookup -----------------------------------------------------------------


def test_services_keep_document_order_and_every_attribute() -> None:
    env = _env()
    assert env.binding_source is BindingSource.VCAP_SERVICES
    assert [s.name for s in env.services()] == [
        "orders-db-binding",
        "cache",
        "my-binding",
        "uaa-orders",
        "bus",
    ]
    db = env.service(name="orders-db")
    assert db.binding_name == "orders-db-binding"
    assert db.instance_name == "orders-db"
    assert db.label == "elephantsql"
    assert db.tags == ("postgres", "postgresql", "relational")
    assert db.plan == "turtle"
    assert db.provider is None
    assert db.binding_guid == "0b6f3c2e-5a41-4d8e-9c3f-2e7a1d9b4c10"
    assert db.instance_guid == "7d2e9a14-3f6b-4c81-a5d0-9e8b2c4f6a31"
    assert db.volume_mounts == ()
    assert env.service(label="user-provided").syslog_drain_url == "syslog://logs.example.com:514"


def test_service_label_falls_back_to_the_vcap_key_and_name_to_binding_name() -> None:
    env = _services({"p-mysql": [{"binding_name": "b1"}], "x": [{"instance_name": "i1"}]})
    assert [(s.name, s.label) for s in env.services()] == [("b1", "p-mysql"), ("i1", "x")]


def test_volume_mounts_are_read_only_mappings() -> None:
    mount = {"container_dir": "/var/vcap/data/x", "mode": "rw", "device_type": "shared"}
    service = _services({"nfs": [{"name": "vol", "volume_mounts": [mount]}]}).service()
    assert service.volume_mounts == (mount,)
    with pytest.raises(TypeError):
        service.volume_mounts[0]["mode"] = "r"  # type: ignore[index]


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"tag": "postgres"}, "orders-db-binding"),
        ({"tag": "POSTGRES"}, "orders-db-binding"),
        ({"name": "orders-db-binding"}, "orders-db-binding"),
        ({"name": "orders-db"}, "orders-db-binding"),
        ({"name": "my-ups"}, "my-binding"),
        ({"label": "redis"}, "cache"),
        ({"label": "redis", "tag": "redis28"}, "cache"),
        ({"label": re.compile(r"p-.*")}, "bus"),
        ({"tag": re.compile(r"redis\d+")}, "cache"),
        ({"name": re.compile(r"uaa-.*")}, "uaa-orders"),
    ],
)
def test_service_finds_exactly_one_match(criteria: dict[str, Any], expected: str) -> None:
    assert _env().service(**criteria).name == expected


def test_patterns_must_match_the_whole_value() -> None:
    env = _env()
    assert env.services(label=re.compile("elephant")) == ()
    assert env.services(tag=re.compile("redis")) == (env.service(name="cache"),)


def test_string_criteria_match_exactly() -> None:
    assert _env().services(label="Redis") == ()
    assert _env().services(name="orders") == ()


def test_services_returns_every_match_in_document_order() -> None:
    doc = {"user-provided": [{"name": "a"}, {"name": "b"}], "redis": [{"name": "c"}]}
    env = _services(doc)
    assert [s.name for s in env.services(label="user-provided")] == ["a", "b"]
    assert [s.name for s in env.services()] == ["a", "b", "c"]


def test_criteria_are_anded() -> None:
    with pytest.raises(ServiceNotFoundError):
        _env().service(label="redis", tag="postgres")


def test_no_match_raises_service_not_found_listing_bound_services() -> None:
    with pytest.raises(ServiceNotFoundError) as info:
        _env().service(tag="mongodb", label=re.compile("m.*"))
    assert isinstance(info.value, CFEnvError)
    assert isinstance(info.value, LookupError)
    assert info.value.criteria == "label=re.compile('m.*'), tag='mongodb'"
    assert str(info.value) == (
        "no bound service matches label=re.compile('m.*'), tag='mongodb'; bound services: "
        "'orders-db-binding', 'cache', 'my-binding', 'uaa-orders', 'bus'"
    )


def test_no_services_at_all_says_none_are_bound() -> None:
    with pytest.raises(ServiceNotFoundError, match=r"bound services: none$"):
        CFEnv(environ={}).service()


def test_several_matches_raise_ambiguous_service_listing_candidates() -> None:
    env = _services({"user-provided": [{"name": "a"}, {"name": "b"}]})
    with pytest.raises(AmbiguousServiceError) as info:
        env.service(label="user-provided")
    assert isinstance(info.value, CFEnvError)
    assert info.value.candidates == ("a", "b")
    assert str(info.value) == (
        "2 bound services match label='user-provided': 'a', 'b'; "
        "narrow the lookup (for example with name=)"
    )
    with pytest.raises(AmbiguousServiceError, match=r"no criteria"):
        env.service()


def test_criterion_of_another_type_is_a_type_error() -> None:
    with pytest.raises(TypeError, match=r"tag= must be"):
        _env().services(tag=42)  # type: ignore[arg-type]


def test_services_are_hashable_values() -> None:
    a, b = _env().service(name="cache"), _env().service(name="cache")
    assert a == b
    assert hash(a) == hash(b)


# --- credentials -------------------------------------------------------------------------


def test_credentials_behave_as_a_read_only_mapping() -> None:
    creds = _env().service(name="cache").credentials
    assert creds["hostname"] == "redis.example.com"
    assert creds.get("missing") is None
    assert creds.get("missing", "x") == "x"
    assert "password" in creds
    assert list(creds) == ["hostname", "password", "port", "ports", "uri"]
    assert len(creds) == 5
    assert creds["ports"] == {"6379/tcp": "30773"}
    assert dict(creds)["hostname"] == "redis.example.com"
    with pytest.raises(TypeError):
        creds["hostname"] = "other"  # type: ignore[index]


def test_credentials_nested_arrays_become_tuples() -> None:
    creds = _env().service(name="bus").credentials
    assert creds["uris"] == ("amqp://u:p@10.0.0.5/vh",)


@pytest.mark.parametrize("credentials", [None, "absent"])
def test_missing_or_null_credentials_are_empty(credentials: str | None) -> None:
    entry: dict[str, Any] = {"name": "s"}
    if credentials != "absent":
        entry["credentials"] = credentials
    assert _services({"x": [entry]}).service().credentials == {}


def test_credentials_lookup_follows_dotted_paths() -> None:
    creds = _env().service(name="bus").credentials
    assert creds.lookup("protocols.amqp.uri") == "amqp://u:p@10.0.0.5:5672/vh"
    assert creds.lookup("uris.0") == "amqp://u:p@10.0.0.5/vh"
    assert creds.lookup("uris.1") is None
    assert creds.lookup("uris.x") is None
    assert creds.lookup("protocols.mqtt.uri", "none") == "none"
    assert creds.lookup("protocols.amqp.uri.deeper") is None


def test_credentials_lookup_prefers_a_key_that_contains_dots() -> None:
    creds = Credentials({"a.b": 1, "a": {"b": 2}})
    assert creds.lookup("a.b") == 1


def test_credentials_get_and_indexing_read_one_key_like_any_mapping() -> None:
    creds = Credentials({"a": {"b": 2}})
    assert creds.get("a.b") is None
    assert creds.get("a.b", "default") == "default"
    with pytest.raises(KeyError):
        creds["a.b"]
    assert creds["a"]["b"] == creds.get("a").get("b") == 2


@pytest.mark.parametrize(("key", "expected"), [("port", 30773), ("ports.6379/tcp", 30773)])
def test_string_ports_give_ints(key: str, expected: int) -> None:
    assert _env().service(name="cache").credentials.get_int(key) == expected


def test_integer_ports_give_ints_and_missing_gives_the_default() -> None:
    creds = Credentials({"port": 30773, "padded": " 42 "})
    assert creds.get_int("port") == 30773
    assert creds.get_int("padded") == 42
    assert creds.get_int("missing") is None
    assert creds.get_int("missing", 5432) == 5432


@pytest.mark.parametrize("value", [SENTINEL, True, 1.5, [1]])
def test_non_integer_value_is_an_error_without_the_value(value: object) -> None:
    creds = _services({"x": [{"name": "svc", "credentials": {"port": value}}]}).service()
    with pytest.raises(CFEnvError) as info:
        creds.credentials.get_int("port")
    assert str(info.value) == "credential 'port' of service 'svc' is not an integer"


def test_credentials_without_owner_name_the_key_only() -> None:
    with pytest.raises(CFEnvError, match=r"^'p' is not an integer$"):
        Credentials({"p": "x"}).get_int("p")


# --- URLs --------------------------------------------------------------------------------


def test_uri_is_parsed_and_percent_decoded() -> None:
    db = _env().service(tag="postgres")
    assert db.credentials["uri"] == "postgres://dbuser:p%40ss@db.example.com:5432/orders"
    assert db.uri.scheme == "postgres"
    assert db.uri.hostname == "db.example.com"
    assert db.uri.port == 5432
    assert db.uri.username == "dbuser"
    assert db.uri.password == "p@ss"
    assert db.uri.path == "/orders"
    assert db.uri is db.uri  # parsed once


def test_uri_falls_back_to_url_then_the_first_of_uris() -> None:
    env = _env()
    assert env.service(label="user-provided").uri.hostname == "api.example.com"
    bus = env.service(name="bus")
    assert bus.uri.hostname == "10.0.0.5"
    assert bus.uri.port is None
    assert bus.uris == (bus.uri,)
    assert env.service(name="uaa-orders").uri.scheme == "https"


def test_uris_without_a_uris_credential_is_the_uri_or_nothing() -> None:
    env = _env()
    cache = env.service(name="cache")
    assert cache.uris == (cache.uri,)
    none = _services({"x": [{"name": "n", "credentials": {"host": "h"}}]}).service()
    assert none.uris == ()
    with pytest.raises(CFEnvError, match=r"^service 'n' has no 'uri', 'url' or 'uris' credential$"):
        _ = none.uri


def test_uris_skips_null_entries_and_rejects_a_non_array() -> None:
    ok = _services({"x": [{"name": "s", "credentials": {"uris": ["a://h1", None, "a://h2"]}}]})
    assert [u.hostname for u in ok.service().uris] == ["h1", "h2"]
    bad = _services({"x": [{"name": "s", "credentials": {"uris": "a://h"}}]}).service()
    with pytest.raises(CFEnvError, match=r"^credential 'uris' of service 's' must be an array$"):
        _ = bad.uris


def test_uris_reraises_a_broken_uri() -> None:
    bad = _services({"x": [{"name": "s", "credentials": {"uri": "nope"}}]}).service()
    with pytest.raises(CFEnvError, match=r"is not a URL"):
        _ = bad.uris


def test_multi_host_urls_keep_every_host() -> None:
    url = ServiceURL.parse("mongodb://u:p@H1.example.com:27017,h2:27018,[::1]/db?replicaSet=rs0")
    assert url.hosts == (
        HostPort("h1.example.com", 27017),
        HostPort("h2", 27018),
        HostPort("::1", None),
    )
    assert url.hostname == "h1.example.com"
    assert url.params == {"replicaSet": ["rs0"]}
    assert str(url) == "mongodb://u:***@h1.example.com:27017,h2:27018,[::1]/db?replicaSet=***"


def test_url_without_host_or_userinfo() -> None:
    url = ServiceURL.parse("file:///var/data#frag")
    assert url.hosts == ()
    assert url.hostname is None
    assert url.port is None
    assert url.username is None
    assert url.fragment == "frag"
    assert str(url) == "file:///var/data"
    assert ServiceURL.parse("redis://h:").port is None


def test_url_with_username_only_shows_it() -> None:
    url = ServiceURL.parse("ldap://admin@[fd00::1]:389")
    assert url.password is None
    assert str(url) == "ldap://admin@[fd00::1]:389"
    assert repr(url) == (
        "ServiceURL(scheme='ldap', username='admin', password=None, "
        "hosts=(HostPort(host='fd00::1', port=389),), path='')"
    )


def test_get_url_parses_any_credential_key() -> None:
    creds = _env().service(name="bus").credentials
    url = creds.get_url("protocols.amqp.uri")
    assert url is not None
    assert url.port == 5672
    assert url.geturl() == "amqp://u:p@10.0.0.5:5672/vh"
    assert creds.get_url("nothing") is None


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("db.example.com:5432", "is not a URL"),
        ("1http://h", "is not a URL"),
        ("pg://h:port/x", "has an invalid port"),
        ("pg://h:0/x", "has an invalid port"),
        ("pg://h:65536/x", "has an invalid port"),
        ("pg://[::1/x", "has an unterminated IPv6 host"),
        ("pg://[::1]x/x", "has an invalid host"),
    ],
)
def test_bad_urls_are_errors_naming_the_credential(value: str, message: str) -> None:
    svc = _services({"x": [{"name": "svc", "credentials": {"uri": value}}]}).service()
    with pytest.raises(CFEnvError) as info:
        _ = svc.uri
    assert str(info.value) == f"credential 'uri' of service 'svc' {message}" + (
        " (expected scheme://...)" if message == "is not a URL" else ""
    )


def test_non_string_url_credential_is_an_error() -> None:
    svc = _services({"x": [{"name": "svc", "credentials": {"url": 5}}]}).service()
    with pytest.raises(
        CFEnvError, match=r"^credential 'url' of service 'svc' must be a URL string$"
    ):
        _ = svc.uri


# --- secrets never leak ------------------------------------------------------------------


def test_no_secret_appears_in_repr_str_or_errors() -> None:
    doc = {
        "postgres": [
            {
                "name": "db",
                "tags": ["postgres"],
                "credentials": {
                    "uri": f"postgres://u:{SENTINEL}@h:5432/db?password={SENTINEL}",
                    "password": SENTINEL,
                    "nested": {"secret": SENTINEL, "list": [SENTINEL]},
                    "port": SENTINEL,
                    "bad_url": f"{SENTINEL}://x",
                    "bad_port": f"pg://u:{SENTINEL}@h:{SENTINEL}",
                },
            }
        ]
    }
    env = _services(doc)
    db = env.service(tag="postgres")
    texts = [repr(env), repr(db), str(db), repr(db.credentials), str(db.credentials)]
    texts += [repr(db.credentials["nested"]), repr(db.uri), str(db.uri), repr(db.uris)]
    for key in ("port", "bad_port", "password"):
        with pytest.raises(CFEnvError) as info:
            db.credentials.get_int(key) if key != "bad_port" else db.credentials.get_url(key)
        texts.append(str(info.value))
    for not_json in (f'{{"x": [{{"password": "{SENTINEL}" }}', f"{SENTINEL}"):
        with pytest.raises(CFEnvError) as info:
            CFEnv(environ={"VCAP_SERVICES": not_json})
        texts.append(str(info.value))
    assert db.uri.password == SENTINEL
    assert "***" in str(db.uri)
    for text in texts:
        assert SENTINEL not in text, text


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "{not json",
            "VCAP_SERVICES is not valid JSON: Expecting property name enclosed in "
            "double quotes (line 1, column 2)",
        ),
        ("[]", "VCAP_SERVICES must be a JSON object, got array"),
        ('"x"', "VCAP_SERVICES must be a JSON object, got string"),
        ("1", "VCAP_SERVICES must be a JSON object, got number"),
        ("true", "VCAP_SERVICES must be a JSON object, got boolean"),
        ("null", "VCAP_SERVICES must be a JSON object, got null"),
        ('{"redis": {}}', 'VCAP_SERVICES["redis"] must be an array of services, got object'),
        ('{"redis": [1]}', 'VCAP_SERVICES["redis"][0] must be an object, got number'),
        (
            '{"redis": [{"name": "a"}, []]}',
            'VCAP_SERVICES["redis"][1] must be an object, got array',
        ),
        (
            '{"redis": [{}]}',
            'VCAP_SERVICES["redis"][0] has no "name", "binding_name" or "instance_name"',
        ),
        ('{"r": [{"name": 1}]}', 'VCAP_SERVICES["r"][0]["name"] must be a string, got number'),
        (
            '{"r": [{"name": "a", "tags": "x"}]}',
            'VCAP_SERVICES["r"][0]["tags"] must be an array of strings, got string',
        ),
        (
            '{"r": [{"name": "a", "tags": [null]}]}',
            'VCAP_SERVICES["r"][0]["tags"][0] must be a string, got null',
        ),
        (
            '{"r": [{"name": "a", "credentials": "x"}]}',
            'VCAP_SERVICES["r"][0]["credentials"] must be an object, got string',
        ),
        (
            '{"r": [{"name": "a", "volume_mounts": {}}]}',
            'VCAP_SERVICES["r"][0]["volume_mounts"] must be an array of objects, got object',
        ),
        (
            '{"r": [{"name": "a", "volume_mounts": [1]}]}',
            'VCAP_SERVICES["r"][0]["volume_mounts"][0] must be an object, got number',
        ),
        ("[" * 100_000, "VCAP_SERVICES is not valid JSON (too deep or too large)"),
    ],
)
def test_bad_vcap_services_is_one_cfenv_error_naming_variable_and_path(
    text: str, message: str
) -> None:
    with pytest.raises(CFEnvError) as info:
        CFEnv(environ={"VCAP_SERVICES": text})
    assert type(info.value) is CFEnvError
    assert str(info.value) == message
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__ or info.value.__context__ is None


def test_credentials_nested_too_deeply_are_an_error() -> None:
    deep = "[" * 600 + "]" * 600
    with pytest.raises(CFEnvError, match=r'^VCAP_SERVICES\["r"\]\[0\]\["credentials"\] is nested'):
        CFEnv(
            environ={"VCAP_SERVICES": f'{{"r": [{{"name": "a", "credentials": {{"x": {deep}}}}}]}}'}
        )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "VCAP_APPLICATION is not valid JSON: Expecting value (line 1, column 1)"),
        ("[1]", "VCAP_APPLICATION must be a JSON object, got array"),
        ('{"name": 1}', 'VCAP_APPLICATION["name"] must be a string, got number'),
        ('{"uris": "x"}', 'VCAP_APPLICATION["uris"] must be an array of strings, got string'),
        ('{"limits": 1}', 'VCAP_APPLICATION["limits"] must be an object, got number'),
        (
            '{"limits": {"mem": "1G"}}',
            'VCAP_APPLICATION["limits"]["mem"] must be an integer, got string',
        ),
        (
            '{"limits": {"mem": true}}',
            'VCAP_APPLICATION["limits"]["mem"] must be an integer, got boolean',
        ),
        (
            '{"instance_index": 1.0}',
            'VCAP_APPLICATION["instance_index"] must be an integer, got number',
        ),
    ],
)
def test_bad_vcap_application_is_one_cfenv_error_naming_variable_and_path(
    text: str, message: str
) -> None:
    with pytest.raises(CFEnvError) as info:
        CFEnv(environ={"VCAP_APPLICATION": text})
    assert str(info.value) == message


# --- VCAP_SERVICES_FILE_PATH -------------------------------------------------------------


def test_services_from_a_vcap_services_file(tmp_path: Path) -> None:
    path = tmp_path / "vcap.json"
    path.write_text(VCAP_SERVICES, encoding="utf-8")
    env = CFEnv(environ={"VCAP_SERVICES_FILE_PATH": str(path)})
    assert env.binding_source is BindingSource.VCAP_SERVICES_FILE_PATH
    assert str(env.binding_source) == "VCAP_SERVICES_FILE_PATH"
    assert env.service(tag="postgres").uri.password == "p@ss"
    assert env.on_cloud_foundry is False  # local development with a file


def test_vcap_services_variable_wins_over_the_file(tmp_path: Path) -> None:
    env = CFEnv(environ={"VCAP_SERVICES": "{}", "VCAP_SERVICES_FILE_PATH": str(tmp_path / "x")})
    assert env.binding_source is BindingSource.VCAP_SERVICES


def test_unreadable_vcap_services_file_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    with pytest.raises(CFEnvError) as info:
        CFEnv(environ={"VCAP_SERVICES_FILE_PATH": str(missing)})
    assert (
        str(info.value)
        == f"VCAP_SERVICES_FILE_PATH ({missing}) cannot be read: No such file or directory"
    )
    with pytest.raises(CFEnvError, match=r"cannot be read: Is a directory"):
        CFEnv(environ={"VCAP_SERVICES_FILE_PATH": str(tmp_path)})


def test_vcap_services_file_that_is_not_utf8_or_json_is_an_error(tmp_path: Path) -> None:
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\xff\xfe{}")
    with pytest.raises(CFEnvError, match=r"\) is not UTF-8 text$"):
        CFEnv(environ={"VCAP_SERVICES_FILE_PATH": str(binary)})
    bad = tmp_path / "bad.json"
    bad.write_text('{"redis": [1]}', encoding="utf-8")
    with pytest.raises(CFEnvError) as info:
        CFEnv(environ={"VCAP_SERVICES_FILE_PATH": str(bad)})
    assert str(info.value) == (
        f'VCAP_SERVICES_FILE_PATH ({bad})["redis"][0] must be an object, got number'
    )


# --- SERVICE_BINDING_ROOT ----------------------------------------------------------------


def _binding(root: Path, name: str, entries: dict[str, str | bytes]) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    for key, value in entries.items():
        if isinstance(value, bytes):
            (directory / key).write_bytes(value)
        else:
            (directory / key).write_text(value, encoding="utf-8")
    return directory


def test_services_from_a_service_binding_root(tmp_path: Path) -> None:
    _binding(
        tmp_path,
        "orders-db",
        {
            "type": "postgresql\n",
            "provider": "bitnami",
            "host": "db.example.com",
            "port": "5432",
            "password": "12345",
            "uri": "postgres://u:p%40ss@db.example.com:5432/orders\n",
            "options": '{"sslmode": "require", "hosts": ["a", "b"]}',
            "not-json": "{oops",
            "keystore.jks": b"\xfe\xed\xfe\xed\x00",
        },
    )
    _binding(tmp_path, "cache", {"type": "redis", "uri": "redis://:pw@cache:6379"})
    (tmp_path / "README").write_text("not a binding", encoding="utf-8")
    _binding(tmp_path, ".hidden", {"type": "x"})
    env = CFEnv(environ={"SERVICE_BINDING_ROOT": str(tmp_path)})
    assert env.binding_source is BindingSource.SERVICE_BINDING_ROOT
    assert [s.name for s in env.services()] == ["cache", "orders-db"]
    db = env.service(label="postgresql")
    assert db.binding_name == "orders-db"
    assert db.provider == "bitnami"
    assert "type" not in db.credentials
    assert "provider" not in db.credentials
    assert db.credentials["password"] == "12345"  # text stays text
    assert db.credentials.get_int("port") == 5432
    assert db.credentials.lookup("options.sslmode") == "require"
    assert db.credentials.lookup("options.hosts.1") == "b"
    assert db.credentials["not-json"] == "{oops"
    assert db.credentials["keystore.jks"] == b"\xfe\xed\xfe\xed\x00"
    assert db.uri.password == "p@ss"
    assert env.service(name="cache").provider is None


def test_kubernetes_secret_layout_is_read_through_symlinks(tmp_path: Path) -> None:
    binding = tmp_path / "db"
    data = binding / "..2024_01_01_00_00_00.1"
    data.mkdir(parents=True)
    (data / "type").write_text("mysql", encoding="utf-8")
    (data / "username").write_text("app", encoding="utf-8")
    (binding / "..data").symlink_to(data.name)
    for key in ("type", "username"):
        (binding / key).symlink_to(Path("..data") / key)
    (binding / "nested-dir").mkdir()
    service = CFEnv(environ={"SERVICE_BINDING_ROOT": str(tmp_path)}).service()
    assert service.label == "mysql"
    assert dict(service.credentials) == {"username": "app"}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ({"username": "u"}, "needs a non-empty 'type' entry"),
        ({"type": ""}, "needs a non-empty 'type' entry"),
        ({"type": '["a"]'}, "needs a non-empty 'type' entry"),
        ({"type": "x", "provider": '{"a": 1}'}, "/provider must be text"),
    ],
)
def test_binding_without_usable_metadata_is_an_error(
    tmp_path: Path, entries: dict[str, str | bytes], message: str
) -> None:
    _binding(tmp_path, "svc", entries)
    with pytest.raises(CFEnvError) as info:
        CFEnv(environ={"SERVICE_BINDING_ROOT": str(tmp_path)})
    assert str(info.value).startswith(f"SERVICE_BINDING_ROOT ({tmp_path})/svc")
    assert str(info.value).endswith(message)


def test_unreadable_binding_root_is_an_error_not_zero_services(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(CFEnvError) as info:
        CFEnv(environ={"SERVICE_BINDING_ROOT": str(missing)})
    assert (
        str(info.value)
        == f"SERVICE_BINDING_ROOT ({missing}) cannot be read: No such file or directory"
    )
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    with pytest.raises(CFEnvError, match=r"cannot be read: Not a directory"):
        CFEnv(environ={"SERVICE_BINDING_ROOT": str(a_file)})


def test_unreadable_binding_entry_is_an_error(tmp_path: Path) -> None:
    binding = _binding(tmp_path, "svc", {"type": "x"})
    (binding / "password").symlink_to(tmp_path / "gone")
    with pytest.raises(CFEnvError) as info:
        CFEnv(environ={"SERVICE_BINDING_ROOT": str(tmp_path)})
    assert str(info.value) == (
        f"SERVICE_BINDING_ROOT ({tmp_path})/svc/password cannot be read: No such file or directory"
    )


def test_binding_entry_nested_too_deeply_is_an_error(tmp_path: Path) -> None:
    _binding(tmp_path, "svc", {"type": "x", "deep": "[" * 600 + "]" * 600})
    with pytest.raises(CFEnvError, match=r"svc has an entry nested too deeply$"):
        CFEnv(environ={"SERVICE_BINDING_ROOT": str(tmp_path)})


def test_binding_entry_too_deep_for_json_stays_text(tmp_path: Path) -> None:
    _binding(tmp_path, "svc", {"type": "x", "deep": "[" * 100_000})
    service = CFEnv(environ={"SERVICE_BINDING_ROOT": str(tmp_path)}).service()
    assert service.credentials["deep"] == "[" * 100_000


def test_file_path_wins_over_binding_root(tmp_path: Path) -> None:
    path = tmp_path / "vcap.json"
    path.write_text("{}", encoding="utf-8")
    env = CFEnv(environ={"VCAP_SERVICES_FILE_PATH": str(path), "SERVICE_BINDING_ROOT": "/nope"})
    assert env.binding_source is BindingSource.VCAP_SERVICES_FILE_PATH


# --- fuzz --------------------------------------------------------------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=25,
)
_keys = st.sampled_from(
    ["name", "label", "tags", "plan", "binding_name", "instance_name", "credentials",
     "volume_mounts", "provider", "uri", "url", "uris", "port", "instance_index", "limits",
     "mem", "uris"]
)  # fmt: skip
_url_like = st.from_regex(r"[a-z]{1,5}://([a-z:@%0-9]{0,12}@)?[a-z0-9.:\[\],]{0,20}(/[a-z?=#]*)?")
_shaped = st.recursive(
    st.none() | st.integers() | st.text(max_size=10) | _url_like,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(_keys | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=10,
)


def _touch_everything(env: CFEnv) -> None:
    repr(env)
    for service in env.services():
        repr(service)
        for attempt in (
            lambda s=service: s.uri,
            lambda s=service: s.uris,
            *(lambda s=service, k=k: s.credentials.get_int(k) for k in service.credentials),
            *(lambda s=service, k=k: s.credentials.get_url(k) for k in service.credentials),
        ):
            with contextlib.suppress(CFEnvError):
                attempt()


def _parse_or_cfenv_error(environ: dict[str, str]) -> None:
    try:
        env = CFEnv(environ=environ)
    except CFEnvError:
        return
    _touch_everything(env)


_VARS = ["VCAP_SERVICES", "VCAP_APPLICATION", "PORT", "VCAP_APP_PORT", "MEMORY_LIMIT",
         "CF_INSTANCE_INDEX", "CF_INSTANCE_IP"]  # fmt: skip


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.dictionaries(st.sampled_from(_VARS), st.text(max_size=60)))
def test_fuzz_arbitrary_text_parses_or_raises_cfenv_error(environ: dict[str, str]) -> None:
    _parse_or_cfenv_error(environ)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(services=_json_values | _shaped, application=_json_values | _shaped)
def test_fuzz_json_documents_parse_or_raise_cfenv_error(services: Any, application: Any) -> None:
    _parse_or_cfenv_error(
        {"VCAP_SERVICES": json.dumps(services), "VCAP_APPLICATION": json.dumps(application)}
    )


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.text(min_size=1, max_size=6),
        st.lists(st.dictionaries(_keys, _shaped, max_size=5), max_size=2),
        max_size=2,
    )
)
def test_fuzz_service_shaped_documents_parse_or_raise_cfenv_error(doc: Any) -> None:
    _parse_or_cfenv_error({"VCAP_SERVICES": json.dumps(doc)})


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=40) | _url_like)
def test_fuzz_url_parsing_gives_a_url_or_cfenv_error(text: str) -> None:
    try:
        url = ServiceURL.parse(text)
    except CFEnvError:
        return
    assert url.geturl() == text
    str(url)
    repr(url)


def test_service_can_be_built_directly_for_tests_of_dependent_code() -> None:
    service = Service(name="jwt", label="user-provided", tags=("jwt",))
    assert service.credentials == {}
    assert os.fspath(str(service)) == (
        "Service(name='jwt', label='user-provided', tags=('jwt',), plan=None, credentials=[])"
    )
