"""The service through Falcon's test client (no server), and its WSGI entry point."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import example_app
import falcon
import pytest
from example_app.app import create_app
from falcon import testing
from unit_support import SERVICE_ROOT, jwt_service_vcap

import common_utils
from common_utils.cfenv import CFEnvError, ServiceNotFoundError
from common_utils.logs import LoggingConfigError

TALK_INPUT = {"abra": 123, "kadabra": 4}


# --------------------------------------------------------------------------- routes


def test_get_root_says_hello_world(client: testing.TestClient) -> None:
    resp = client.simulate_get("/")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text == "Hello world\n"


def test_post_filters_the_talks_example(
    client: testing.TestClient, auth_headers: dict[str, str]
) -> None:
    resp = client.simulate_post("/", body=json.dumps(TALK_INPUT), headers=auth_headers)
    assert resp.status_code == 200
    assert resp.json == {"abra": 123}


def test_post_filter_ignores_case_and_keeps_values(
    client: testing.TestClient, auth_headers: dict[str, str]
) -> None:
    body = {"Apple": {"nested": [1, 2]}, "ALPHA": None, "beta": 1, "": 2}
    resp = client.simulate_post("/", body=json.dumps(body), headers=auth_headers)
    assert resp.json == {"Apple": {"nested": [1, 2]}, "ALPHA": None}


def test_post_of_an_empty_object_answers_an_empty_object(
    client: testing.TestClient, auth_headers: dict[str, str]
) -> None:
    resp = client.simulate_post("/", body="{}", headers=auth_headers)
    assert resp.status_code == 200
    assert resp.json == {}


def test_post_without_token_gets_401(client: testing.TestClient) -> None:
    resp = client.simulate_post(
        "/", body=json.dumps(TALK_INPUT), headers={"Content-Type": "application/json"}
    )
    assert resp.status_code == 401
    assert resp.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    ("scopes", "content_type", "body"),
    [
        (["other.scope"], "application/json", json.dumps(TALK_INPUT)),
        ([], "text/plain", "not json"),  # the scope is checked before the body
    ],
    ids=["another scope", "no scope, body not json"],
)
def test_post_without_the_scope_gets_403(
    client: testing.TestClient,
    make_token: Callable[..., str],
    scopes: list[str],
    content_type: str,
    body: str,
) -> None:
    headers = {"Authorization": f"Bearer {make_token(scopes=scopes)}", "Content-Type": content_type}
    resp = client.simulate_post("/", body=body, headers=headers)
    assert resp.status_code == 403
    assert 'error="insufficient_scope"' in resp.headers["www-authenticate"]


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/json; charset=utf-8", json.dumps(TALK_INPUT), 200),
        ("text/plain", json.dumps(TALK_INPUT), 415),
        ("application/json", '{"abra": ', 400),
        ("application/json", "[1, 2]", 400),
        ("application/json", '"abra"', 400),
        ("application/json", json.dumps({"a": "x" * (1024 * 1024)}), 413),
    ],
)
def test_post_body_handling(
    client: testing.TestClient,
    auth_headers: dict[str, str],
    content_type: str,
    body: str,
    status: int,
) -> None:
    headers = {**auth_headers, "Content-Type": content_type}
    resp = client.simulate_post("/", body=body, headers=headers)
    assert resp.status_code == status
    if status >= 400:
        assert resp.headers["content-type"] == "application/problem+json"


def test_health_is_public_and_ok(client: testing.TestClient) -> None:
    resp = client.simulate_get("/health")
    assert resp.status_code == 200
    assert resp.json["status"] == "ok"


def test_version_names_the_app_and_the_library_copy_in_use(client: testing.TestClient) -> None:
    doc = client.simulate_get("/version").json
    assert doc["app"] == {"name": "example-app", "version": example_app.__version__}
    assert doc["common_utils"]["version"] == common_utils.__version__
    assert doc["common_utils"]["source"] in {"pip", "submodule"}
    assert Path(doc["common_utils"]["path"]) == Path(common_utils.__file__).resolve().parent


def test_openapi_and_docs_are_public(client: testing.TestClient) -> None:
    spec = client.simulate_get("/openapi.json")
    assert spec.status_code == 200
    assert spec.json["paths"]["/"]["post"]
    assert client.simulate_get("/docs").status_code == 200


def test_request_id_is_echoed(client: testing.TestClient) -> None:
    resp = client.simulate_get("/", headers={"X-Vcap-Request-Id": "unit-abc"})
    assert resp.headers["x-request-id"] == "unit-abc"


# --------------------------------------------------------------------------- configuration


def test_missing_jwt_service_is_a_configuration_error() -> None:
    with pytest.raises(ServiceNotFoundError, match="jwt"):
        create_app({"LOG_FORMAT": "json"})


def test_bad_port_is_a_configuration_error_naming_port(environ: dict[str, str]) -> None:
    with pytest.raises(CFEnvError, match="PORT"):
        create_app({**environ, "PORT": "70000"})


def test_bad_log_level_is_a_configuration_error_naming_it(environ: dict[str, str]) -> None:
    with pytest.raises(LoggingConfigError, match="LOG_LEVEL"):
        create_app({**environ, "LOG_LEVEL": "LOUD"})


def test_jwt_service_without_a_key_is_a_configuration_error(public_pem: str) -> None:
    vcap = json.loads(jwt_service_vcap(public_pem))
    del vcap["user-provided"][0]["credentials"]["public_key"]
    from example_app.app import CONFIGURATION_ERRORS

    with pytest.raises(CONFIGURATION_ERRORS):
        create_app({"VCAP_SERVICES": json.dumps(vcap), "LOG_FORMAT": "json"})


def test_create_app_reads_os_environ_by_default(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert isinstance(create_app(), falcon.App)


# --------------------------------------------------------------------------- the WSGI entry


def run_entry(root: Path, env: dict[str, str], *python_flags: str) -> subprocess.CompletedProcess:
    """Import ``example_app`` from ``root`` and touch ``app``, as uWSGI does."""
    code = "import example_app; example_app.app; import common_utils; print(common_utils.__file__)"
    return subprocess.run(
        [sys.executable, *python_flags, "-c", code],
        cwd=root,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(root), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_entry_point_builds_the_app_from_the_environment(environ: dict[str, str]) -> None:
    done = run_entry(SERVICE_ROOT, environ)
    assert done.returncode == 0, done.stderr


def test_entry_point_reports_a_configuration_error_in_one_line() -> None:
    done = run_entry(SERVICE_ROOT, {"LOG_FORMAT": "json"})
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("example-app: configuration error: ")
    assert "jwt" in done.stderr
    assert done.stdout == ""


def test_app_attribute_is_built_once_and_cached(
    environ: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import example_app

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delattr(example_app, "app", raising=False)
    first = example_app.app
    assert example_app.app is first
    monkeypatch.delattr(example_app, "app")


def test_unknown_attribute_of_the_package_is_an_attribute_error() -> None:
    import example_app

    with pytest.raises(AttributeError, match="nope"):
        _ = example_app.nope


def copy_service(tmp_path: Path) -> Path:
    root = tmp_path / "service"
    shutil.copytree(
        SERVICE_ROOT / "example_app",
        root / "example_app",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    return root


def test_submodule_is_put_first_on_sys_path_and_wins(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    root = copy_service(tmp_path)
    library = root / "submodules" / "common_utils"
    shutil.copytree(
        Path(common_utils.__file__).parent,
        library / "common_utils",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    done = run_entry(root, environ)
    assert done.returncode == 0, done.stderr
    *log_lines, imported = done.stdout.splitlines()
    assert Path(imported) == library / "common_utils" / "__init__.py"
    ready = [json.loads(line) for line in log_lines if "ready" in line]
    assert ready[0]["common_utils_source"] == "submodule"


def test_empty_submodule_directory_is_a_configuration_error(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    root = copy_service(tmp_path)
    (root / "submodules" / "common_utils").mkdir(parents=True)
    done = run_entry(root, environ)
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "git submodule update --init" in done.stderr


def test_missing_library_is_a_configuration_error(tmp_path: Path) -> None:
    root = copy_service(tmp_path)
    # -S: no site-packages and no .pth files, so no installed common_utils.
    done = run_entry(root, {}, "-S")
    assert done.returncode == 3
    assert done.stderr.count("\n") == 1
    assert "common_utils is not importable" in done.stderr


def test_uvicorn_logging_file_is_the_librarys_server_logging_config() -> None:
    """uvicorn-logging.json is server_logging_config() as a file, not a copy that drifts."""
    from common_utils.logs import server_logging_config

    saved = json.loads((SERVICE_ROOT / "uvicorn-logging.json").read_text(encoding="utf-8"))
    assert saved == server_logging_config()


def test_gunicorn_reads_the_server_logging_config() -> None:
    """gunicorn.conf.py hands gunicorn the library's recipe as logconfig_dict."""
    import runpy

    from common_utils.logs import server_logging_config

    settings = runpy.run_path(str(SERVICE_ROOT / "gunicorn.conf.py"))
    assert settings["logconfig_dict"] == server_logging_config()


HS256_VCAP = jwt_service_vcap(secret="s" * 32, algorithms=["HS256"])


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_the_service_answers_the_same_as_wsgi_and_asgi(asgi: bool) -> None:
    """create_app(asgi=True) is the same service on falcon.asgi.App: routes, docs, errors."""
    client = testing.TestClient(
        create_app({"VCAP_SERVICES": HS256_VCAP, "LOG_FORMAT": "json"}, asgi=asgi)
    )
    assert client.simulate_get("/").text == "Hello world\n"
    assert client.simulate_post("/", json={"abra": 1}).status_code == 401
    assert client.simulate_get("/docs").status_code == 200
    assert client.simulate_get("/health").json["status"] == "ok"
    assert "/" in client.simulate_get("/openapi.json").json["paths"]
