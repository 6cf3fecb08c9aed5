"""End to end: a Python client generated from the running sample's /openapi.json.

The sample runs under gunicorn on loopback; openapi-python-client (a real
generator, from requirements/e2e.lock) generates a package from the document the
service serves, pip installs it (no index: its dependencies, httpx and attrs,
are already in the test environment), and a separate interpreter calls
``POST /`` through it with a token (200, the filtered object) and without one
(401, an RFC 9457 problem parsed into the generated ``Problem`` model).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest

from tests.e2e.consumers import SERVICE_SRC, Gunicorn, run

BIN = Path(sys.executable).parent


@pytest.fixture
def sample(tmp_path: Path) -> Iterator[Gunicorn]:
    if shutil.which("openapi-python-client", path=str(BIN)) is None:
        pytest.fail("openapi-python-client is not installed (pip install -r requirements/e2e.lock)")
    server = Gunicorn(SERVICE_SRC, tmp_path)
    try:
        assert server.wait()
        yield server
    finally:
        server.stop()


CALL = """
import json, sys
from example_app_client import AuthenticatedClient, Client
from example_app_client.api.sample_resource import post
from example_app_client.models import PostBody, Problem

base_url, token = sys.argv[1], sys.argv[2]
body = PostBody.from_dict({"abra": 123, "kadabra": 4, "Apple": [1]})
with AuthenticatedClient(base_url=base_url, token=token) as client:
    ok = post.sync_detailed(client=client, body=body)
with Client(base_url=base_url) as anonymous:
    denied = post.sync_detailed(client=anonymous, body=body)
print(json.dumps({
    "ok": [int(ok.status_code), json.loads(ok.content)],
    "denied": [int(denied.status_code), isinstance(denied.parsed, Problem),
               denied.headers.get("www-authenticate", "")],
}))
"""


def test_generated_client_calls_post_with_and_without_a_token(
    sample: Gunicorn, tmp_path: Path
) -> None:
    with urllib.request.urlopen(f"{sample.url}/openapi.json", timeout=10) as resp:
        (tmp_path / "openapi.json").write_bytes(resp.read())

    started = time.perf_counter()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    run(
        [
            str(BIN / "openapi-python-client"),
            "generate",
            "--path",
            "openapi.json",
            "--output-path",
            "client",
            "--meta",
            "setup",
        ],
        cwd=tmp_path,
        env=env,
    )
    generated = time.perf_counter() - started
    assert (tmp_path / "client" / "example_app_client" / "api" / "sample_resource").is_dir()
    run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--no-build-isolation",
            "--target",
            str(tmp_path / "site"),
            str(tmp_path / "client"),
        ],
        env=env,
    )
    print(f"\ngenerated in {generated:.1f} s")

    now = int(time.time())
    token = jwt.encode(
        {
            "iss": "https://uaa.e2e.test/oauth/token",
            "aud": "example-app",
            "sub": "client-tests",
            "iat": now,
            "exp": now + 300,
            "scope": ["example.filter"],
        },
        "s" * 32,
        algorithm="HS256",
    )
    done = run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(tmp_path / 'site')!r})"
         f"\n{CALL}", sample.url, token],
        cwd=tmp_path,
    )  # fmt: skip
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] == [200, {"abra": 123, "Apple": [1]}]
    status, is_problem, challenge = result["denied"]
    assert status == 401
    assert is_problem
    assert challenge.startswith("Bearer")
