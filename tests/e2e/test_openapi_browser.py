"""The /docs page of the sample service, rendered by headless Chromium from a real server."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from common_utils_platform.devsupport import free_port

from tests.conftest import REPO_ROOT

SERVICE_DIR = REPO_ROOT / "submodule_example"
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-quic",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=8000",
]


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("chromium is not installed (apt-get install chromium); CI must run this")
        pytest.skip("chromium is not installed: apt-get install -y chromium to run this test")
    return found


@pytest.fixture(scope="module")
def service_url() -> Iterator[str]:
    port = free_port()
    vcap = {
        "user-provided": [
            {
                "name": "jwt",
                "label": "user-provided",
                "tags": ["jwt"],
                "credentials": {
                    "issuer": "https://issuer.e2e.example",
                    "audience": "example-app",
                    "secret": "e2e-secret-" + "x" * 32,
                    "algorithms": ["HS256"],
                },
            }
        ]
    }
    env = {**os.environ, "VCAP_SERVICES": json.dumps(vcap), "PORT": str(port)}
    ARTIFACTS.mkdir(exist_ok=True)
    log = (ARTIFACTS / "openapi_browser_server.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--chdir",
            str(SERVICE_DIR),
            "example_app.wsgi:app",
        ],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the service did not start; see {log.name}")
                time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _run_chromium(*args: str) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        return subprocess.run(
            [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def test_docs_page_renders_the_service_operations_offline(service_url):
    _chromium()
    spec = json.loads(urllib.request.urlopen(service_url + "/openapi.json", timeout=5).read())
    expected = {(m.upper(), p) for p, item in spec["paths"].items() for m in item}
    assert ("POST", "/") in expected

    result = _run_chromium("--dump-dom", service_url + "/docs")
    dom = result.stdout
    (ARTIFACTS / "openapi_docs_dom.html").write_text(dom, encoding="utf-8")
    assert result.returncode == 0, result.stderr[-2000:]
    assert 'class="swagger-ui' in dom, (
        "Swagger UI did not start; see artifacts/openapi_docs_dom.html"
    )
    rendered = set(
        re.findall(
            r'opblock-summary-method">(\w+)</span>.*?data-path="([^"]*)"', dom, flags=re.DOTALL
        )
    )
    assert expected <= rendered, f"missing operations: {sorted(expected - rendered)}"
    assert spec["info"]["title"] in dom


def test_docs_page_screenshot_is_saved(service_url):
    _chromium()
    shot = ARTIFACTS / "openapi_docs.png"
    shot.unlink(missing_ok=True)
    result = _run_chromium("--window-size=1280,1600", f"--screenshot={shot}", service_url + "/docs")
    assert result.returncode == 0, result.stderr[-2000:]
    assert shot.is_file()
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


def test_screenshot_directory_is_gitignored():
    assert "artifacts/" in (REPO_ROOT / ".gitignore").read_text().splitlines()
    assert isinstance(ARTIFACTS, Path)
