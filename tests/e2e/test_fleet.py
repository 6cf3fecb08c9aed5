"""End to end: the fleet check against real services on different library versions and devpi.

Three copies of the sample run under gunicorn on loopback, each with the library
as a git submodule at another tag (v3.1.0, v3.0.0, v1.0.0), plus one port where
nothing listens. The newest release comes from a real devpi index holding the
v3.1.0 wheel. ``common-utils-fleet`` must print the right rows,
flag v1.0.0 (withdrawn in the given file, and two majors behind) and the
unreachable port, and exit 1; without the flagged services it exits 0.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from common_utils_platform.devsupport import free_port

from tests.e2e.conftest import tool
from tests.e2e.consumers import (
    Gunicorn,
    library_with_tags,
    run,
    service_with_submodule,
    stamp,
)

LIBRARY_TAGS = ("v1.0.0", "v3.0.0", "v3.1.0")
REASON = "e2e: withdrawn on purpose"
SERVICES = {"orders": "v3.1.0", "billing": "v3.0.0", "legacy": "v1.0.0"}


@pytest.fixture(scope="module")
def fleet(
    make_release_checkout: Callable[..., Path],
    devpi_server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[dict[str, str], str]]:
    from common_utils_platform.devpitools import seed_base_index

    work = tmp_path_factory.mktemp("fleet")
    library = library_with_tags(make_release_checkout, *LIBRARY_TAGS)
    wheels = work / "wheels"
    run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            "--outdir",
            str(wheels),
            str(library),
        ],
        timeout=600,
    )
    index = "root/fleet-e2e"
    seed_base_index(devpi_server, wheels, index=index)
    servers: list[Gunicorn] = []
    urls: dict[str, str] = {}
    try:
        for number, (name, tag) in enumerate(SERVICES.items(), start=1):
            root = service_with_submodule(work / name, library, tag, f"v2.{number}.0")
            stamp(root)  # as before cf push (and no stray editable install can answer)
            server = Gunicorn(root, work)
            servers.append(server)
            urls[name] = server.url
        for server in servers:
            assert server.wait()
        urls["gone"] = f"http://127.0.0.1:{free_port()}"
        yield urls, devpi_server.simple_url(index)
    finally:
        for server in servers:
            server.stop()


def fleet_check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*tool("common-utils-fleet"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_fleet_table_json_and_exit_status(
    fleet: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    urls, index_url = fleet
    withdrawn = tmp_path / "withdrawn.txt"
    withdrawn.write_text(f"1.0.0  {REASON}\n")
    services = tmp_path / "services.txt"
    services.write_text("".join(f"{name} {url}\n" for name, url in urls.items()))
    common = ["--index-url", index_url, "--withdrawn", str(withdrawn), "--timeout", "5"]

    started = time.perf_counter()
    done = fleet_check(*common, "--json", "--file", str(services))
    elapsed = time.perf_counter() - started
    print(f"\nfleet check of {len(urls)} services (one unreachable): {elapsed:.2f} s")
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert doc["newest"] == "3.1.0"
    rows = {row["service"]: row for row in doc["services"]}
    assert list(rows) == ["orders", "billing", "legacy", "gone"]
    expected = {
        "orders": ("2.1.0", "3.1.0", "current", []),
        "billing": ("2.2.0", "3.0.0", "minor", []),
        "legacy": ("2.3.0", "1.0.0", "major", ["2 majors behind", f"withdrawn: {REASON}"]),
    }
    for name, (app_version, library, behind, flags) in expected.items():
        row = rows[name]
        assert (row["app"], row["version"], row["common_utils"], row["source"]) == (
            "example-app",
            app_version,
            library,
            "submodule",
        )
        assert (row["behind"], row["flags"]) == (behind, flags)
    assert rows["gone"]["flags"] == ["unreachable: connection refused"]
    assert doc["flagged"] == 2

    table = fleet_check(*common, *(f"{n}={u}" for n, u in urls.items()))
    assert table.returncode == 1
    lines = table.stdout.splitlines()
    assert lines[0].split() == [
        "SERVICE",
        "APP",
        "VERSION",
        "COMMON_UTILS",
        "VIA",
        "BEHIND",
        "FLAGS",
    ]
    assert lines[1].split()[:6] == [
        "orders",
        "example-app",
        "2.1.0",
        "3.1.0",
        "submodule",
        "current",
    ]
    assert "newest common-utils release: 3.1.0; 2 of 4 services flagged" in table.stdout

    healthy = fleet_check(*common, f"orders={urls['orders']}", f"billing={urls['billing']}")
    assert healthy.returncode == 0, healthy.stdout

    # N services: the same three processes listed ten times each.
    many = [f"s{i}={urls[name]}" for i in range(10) for name in ("orders", "billing", "legacy")]
    started = time.perf_counter()
    done = fleet_check(*common, "--json", *many)
    elapsed = time.perf_counter() - started
    print(
        f"fleet check of {len(many)} services: {elapsed:.2f} s "
        f"(in the command: {json.loads(done.stdout)['elapsed_s']} s)"
    )
    assert len(json.loads(done.stdout)["services"]) == len(many)
