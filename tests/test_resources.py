"""common_utils.resources: health checks with timeouts, and what /version reports."""

from __future__ import annotations

import asyncio
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import falcon
import falcon.asgi
import falcon.testing
import pytest
from common_utils_platform.devsupport import make_checkout

import common_utils
from common_utils.resources import HealthResource, LibraryOrigin, VersionResource, library_origin

SENTINEL = "postgres://admin:SENTINEL-pw-91@db/prod"


def client(resource: object, asgi: bool, route: str = "/r") -> falcon.testing.TestClient:
    if asgi:
        app: Any = falcon.asgi.App()
        app.add_route(route, resource, suffix="async")
    else:
        app = falcon.App()
        app.add_route(route, resource)
    return falcon.testing.TestClient(app)


def ok() -> bool:
    return True


def returns_none() -> None:
    return None


def says_false() -> bool:
    return False


def raises() -> None:
    raise ConnectionError(f"could not connect to {SENTINEL}")


@pytest.fixture
def release() -> Iterator[threading.Event]:
    """An event hung checks wait on; set at the end so their threads finish."""
    event = threading.Event()
    yield event
    event.set()


# --------------------------------------------------------------------------- health


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
class TestHealth:
    def test_no_checks_is_ok(self, asgi: bool) -> None:
        result = client(HealthResource(), asgi).simulate_get("/r")
        assert result.status_code == 200
        assert result.json == {"status": "ok", "checks": {}}
        assert result.headers["Cache-Control"] == "no-store"

    def test_passing_checks_are_listed_as_ok(self, asgi: bool) -> None:
        health = HealthResource(checks={"db": ok, "cache": returns_none})
        result = client(health, asgi).simulate_get("/r")
        assert result.status_code == 200
        assert result.json == {"status": "ok", "checks": {"db": "ok", "cache": "ok"}}

    def test_failing_checks_give_503_with_names_but_not_exception_text(
        self, asgi: bool, caplog: pytest.LogCaptureFixture
    ) -> None:
        health = HealthResource(checks={"db": raises, "queue": says_false, "cache": ok})
        with caplog.at_level(logging.WARNING, logger="common_utils.resources"):
            result = client(health, asgi).simulate_get("/r")
        assert result.status_code == 503
        assert result.json == {
            "status": "fail",
            "checks": {"db": "fail", "queue": "fail", "cache": "ok"},
            "failing": ["db", "queue"],
        }
        assert "SENTINEL" not in result.text
        assert "health check 'db' failed: ConnectionError" in caplog.text
        assert "SENTINEL" not in caplog.text

    def test_hung_check_answers_503_timeout_and_is_not_started_twice(
        self, asgi: bool, release: threading.Event
    ) -> None:
        calls = []

        def hangs() -> bool:
            calls.append(1)
            release.wait(30)
            return True

        health = HealthResource(checks={"slow": hangs, "db": ok}, timeout=0.2)
        test_client = client(health, asgi)
        started = time.monotonic()
        first = test_client.simulate_get("/r")
        second = test_client.simulate_get("/r")
        assert time.monotonic() - started < 10  # bounded, not hung for the check's 30 s
        for result in (first, second):
            assert result.status_code == 503
            assert result.json["checks"] == {"slow": "timeout", "db": "ok"}
            assert result.json["failing"] == ["slow"]
        assert len(calls) == 1
        release.set()
        deadline = time.monotonic() + 10
        while test_client.simulate_get("/r").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        runs = len(calls)
        assert test_client.simulate_get("/r").status_code == 200
        assert len(calls) == runs + 1  # a finished check runs again on the next request


class TestAsyncWait:
    """The ASGI variant waits on the check threads without blocking the event loop."""

    def test_slow_checks_finishing_in_time_end_the_wait_early(self) -> None:
        def slow() -> bool:
            time.sleep(0.05)
            return True

        health = HealthResource(checks={"a": slow, "b": slow}, timeout=30)
        result = client(health, True).simulate_get("/r")
        assert result.json == {"status": "ok", "checks": {"a": "ok", "b": "ok"}}

    def test_check_finishing_after_the_timeout_or_after_the_loop_closed_is_harmless(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        release_late, release_later = threading.Event(), threading.Event()
        health = HealthResource(
            checks={"late": release_late.wait, "later": release_later.wait}, timeout=0.01
        )
        app = falcon.asgi.App()
        app.add_route("/r", health, suffix="async")
        before = set(threading.enumerate())

        async def main() -> None:
            async with falcon.testing.ASGIConductor(app) as conductor:
                result = await conductor.simulate_get("/r")
            assert result.json["checks"] == {"late": "timeout", "later": "timeout"}
            release_late.set()  # the loop still runs; the request's wait is over
            await asyncio.sleep(0.05)

        # NOTE: not asyncio.run: on 3.10 it leaves no current loop for falcon.testing later
        loop = asyncio.new_event_loop()
        with caplog.at_level(logging.DEBUG):
            try:
                loop.run_until_complete(main())
            finally:
                loop.close()
            release_later.set()  # the loop is closed now
            for thread in set(threading.enumerate()) - before:
                thread.join(5)
        assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be > 0"):
        HealthResource(timeout=0)


def test_hung_check_does_not_block_interpreter_exit(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import threading, falcon, falcon.testing
        from common_utils.resources import HealthResource
        app = falcon.App()
        app.add_route("/health", HealthResource(checks={"x": threading.Event().wait}, timeout=0.1))
        print(falcon.testing.TestClient(app).simulate_get("/health").status_code)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "503"


# --------------------------------------------------------------------------- version resource


@pytest.mark.parametrize("asgi", [False, True], ids=["wsgi", "asgi"])
def test_version_document_names_app_library_and_python(asgi: bool) -> None:
    resource = VersionResource(app_name="orders", app_version="1.4.0")
    doc = client(resource, asgi).simulate_get("/r").json
    origin = library_origin()
    assert doc["app"] == {"name": "orders", "version": "1.4.0"}
    assert doc["common_utils"] == {
        "version": common_utils.__version__,
        "source": origin.source,
        "path": str(Path(common_utils.__file__).resolve().parent),
        "shadowed_installation": origin.shadowed_installation,
    }
    assert doc["python"] == ".".join(map(str, sys.version_info[:3]))


def test_library_origin_is_frozen_and_cached() -> None:
    origin = library_origin()
    assert library_origin() is origin
    with pytest.raises(AttributeError):
        origin.source = "pip"  # type: ignore[misc]


# --------------------------------------------------------------------------- origin detection


def fake_installed(site: Path, *, version: str = "1.2.3", record: str = "RECORD") -> Path:
    """Lay out an installed common-utils the way pip does: package dir plus dist-info."""
    package = site / "common_utils"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"__version__ = {version!r}\n")
    info = site / f"common_utils-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: common-utils\nVersion: {version}\n"
    )
    (info / record).write_text(
        f"common_utils/__init__.py,,\ncommon_utils-{version}.dist-info/METADATA,,\n"
    )
    return package


def source_tree(root: Path) -> Path:
    package = root / "common_utils"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    return package


def origin_of(package: Path, version: str, search: list[str]) -> LibraryOrigin:
    """`library_origin` as a process answers it with common_utils loaded from ``package``."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common_utils, "__file__", str(package / "__init__.py"))
        patch.setattr(common_utils, "__version__", version)
        patch.setattr(sys, "path", search)
        library_origin.cache_clear()
        try:
            return library_origin()
        finally:
            library_origin.cache_clear()


class TestLibraryOrigin:
    def test_files_of_an_installed_distribution_are_pip(self, tmp_path: Path) -> None:
        package = fake_installed(tmp_path / "site")
        origin = origin_of(package, "1.2.3", [str(tmp_path / "site")])
        assert origin == LibraryOrigin("1.2.3", "pip", str(package.resolve()), None)

    def test_raw_source_with_an_installed_copy_elsewhere_is_submodule_and_shadowed(
        self, tmp_path: Path
    ) -> None:
        installed = fake_installed(tmp_path / "site")
        raw = source_tree(tmp_path / "submodules" / "common_utils")
        search = [str(tmp_path / "submodules" / "common_utils"), str(tmp_path / "site")]
        origin = origin_of(raw, "9.9.9", search)
        assert origin.source == "submodule"
        assert origin.path == str(raw.resolve())
        assert origin.shadowed_installation == str(installed.resolve())

    def test_raw_source_alone_is_submodule(self, tmp_path: Path) -> None:
        raw = source_tree(tmp_path / "checkout")
        origin = origin_of(raw, "0+unknown", [str(tmp_path / "checkout")])
        assert (origin.source, origin.shadowed_installation) == ("submodule", None)

    def test_egg_info_left_in_a_checkout_by_a_build_is_not_an_installation(
        self, tmp_path: Path
    ) -> None:
        raw = source_tree(tmp_path / "checkout")
        info = tmp_path / "checkout" / "common_utils.egg-info"
        info.mkdir()
        (info / "PKG-INFO").write_text("Metadata-Version: 2.1\nName: common-utils\nVersion: 1\n")
        (info / "SOURCES.txt").write_text("common_utils/__init__.py\n")
        origin = origin_of(raw, "1", [str(tmp_path / "checkout")])
        assert (origin.source, origin.shadowed_installation) == ("submodule", None)

    def test_editable_install_of_the_loaded_checkout_is_pip(self, tmp_path: Path) -> None:
        project = tmp_path / "my checkout"
        raw = source_tree(project)
        site = tmp_path / "site"
        info = site / "common_utils-2.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: common-utils\nVersion: 2.0\n")
        (info / "RECORD").write_text("__editable__.common_utils-2.0.pth,,\n")
        url = project.resolve().as_uri()
        (info / "direct_url.json").write_text(
            json.dumps({"url": url, "dir_info": {"editable": True}})
        )
        origin = origin_of(raw, "2.0", [str(site)])
        assert (origin.source, origin.shadowed_installation) == ("pip", None)

    @pytest.mark.parametrize(
        "direct_url",
        [
            "not json",
            "[]",
            json.dumps({"url": "https://example.invalid/x.whl", "dir_info": {"editable": True}}),
            json.dumps({"url": "file:///somewhere/else", "dir_info": {}}),
        ],
    )
    def test_other_direct_urls_do_not_make_raw_source_pip(
        self, tmp_path: Path, direct_url: str
    ) -> None:
        raw = source_tree(tmp_path / "checkout")
        info = tmp_path / "site" / "common_utils-3.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: common-utils\nVersion: 3.0\n")
        (info / "RECORD").write_text("")
        (info / "direct_url.json").write_text(direct_url)
        origin = origin_of(raw, "3.0", [str(tmp_path / "site")])
        assert (origin.source, origin.shadowed_installation) == ("submodule", None)

    def test_editable_install_of_another_checkout_is_reported_as_shadowed(
        self, tmp_path: Path
    ) -> None:
        other = source_tree(tmp_path / "other")
        raw = source_tree(tmp_path / "checkout")
        info = tmp_path / "site" / "common_utils-4.0.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: common-utils\nVersion: 4.0\n")
        (info / "RECORD").write_text("")
        (info / "direct_url.json").write_text(
            json.dumps({"url": (tmp_path / "other").as_uri(), "dir_info": {"editable": True}})
        )
        # the same installation seen twice on the path is reported once
        search = [str(tmp_path / "site"), str(tmp_path / "site")]
        origin = origin_of(raw, "4.0", search)
        assert origin.shadowed_installation == str(other.resolve())

    def test_version_resource_warns_at_start_up_when_a_copy_is_shadowed(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        installed = fake_installed(tmp_path / "site", version="0.0.1")
        monkeypatch.setattr(sys, "path", [*sys.path, str(tmp_path / "site")])
        library_origin.cache_clear()
        try:
            with caplog.at_level(logging.WARNING, logger="common_utils.resources"):
                doc = client(VersionResource(app_name="a", app_version="1"), False).simulate_get(
                    "/r"
                )
        finally:
            library_origin.cache_clear()
        assert doc.json["common_utils"]["shadowed_installation"] == str(installed.resolve())
        assert "another installed copy at " + str(installed.resolve()) in caplog.text


# --------------------------------------------------------------------------- real installs


@pytest.fixture(scope="module")
def wheel_and_checkout(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A raw checkout tagged v1.2.3, and its wheel pip-installed into a --target dir."""
    checkout = make_checkout(tmp_path_factory.mktemp("checkout"), tag="v1.2.3")
    # a separate clone to build from: building writes common_utils/_version.py into it
    build_dir = make_checkout(tmp_path_factory.mktemp("build"), tag="v1.2.3")
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir", str(dist)],
        cwd=build_dir,
        check=True,
        capture_output=True,
    )
    (wheel,) = dist.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        assert "common_utils/resources.py" in zf.namelist()
    target = tmp_path_factory.mktemp("target")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), wheel],
        check=True,
        capture_output=True,
    )
    return checkout, target


ORIGIN_SCRIPT = textwrap.dedent(
    """
    import json, logging, sys
    sys.path[0:0] = sys.argv[1:]
    import falcon, falcon.testing
    from common_utils.resources import VersionResource
    logging.basicConfig(stream=sys.stderr)
    app = falcon.App()
    app.add_route("/version", VersionResource(app_name="svc", app_version="0.1"))
    print(json.dumps(falcon.testing.TestClient(app).simulate_get("/version").json))
    """
)


def version_document(cwd: Path, *path: Path) -> tuple[dict[str, Any], str]:
    done = subprocess.run(
        [sys.executable, "-c", ORIGIN_SCRIPT, *map(str, path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout), done.stderr


@pytest.mark.slow
def test_installed_wheel_reports_pip_with_its_version_and_path(
    wheel_and_checkout: tuple[Path, Path], tmp_path: Path
) -> None:
    _, target = wheel_and_checkout
    doc, stderr = version_document(tmp_path, target)
    assert doc["app"] == {"name": "svc", "version": "0.1"}
    assert doc["common_utils"]["version"] == "1.2.3"
    assert doc["common_utils"]["source"] == "pip"
    assert doc["common_utils"]["path"] == str((target / "common_utils").resolve())
    # only a copy installed in the test environment itself (tox installs the wheel) may show
    here = library_origin()
    installed_here = {here.shadowed_installation, here.path if here.source == "pip" else None}
    shadowed = doc["common_utils"]["shadowed_installation"]
    assert shadowed in installed_here
    assert ("another installed copy" in stderr) == (shadowed is not None)


@pytest.mark.slow
def test_raw_checkout_first_reports_submodule_and_the_shadowed_wheel(
    wheel_and_checkout: tuple[Path, Path], tmp_path: Path
) -> None:
    checkout, target = wheel_and_checkout
    assert not (checkout / "common_utils" / "_version.py").exists()  # raw source
    doc, stderr = version_document(tmp_path, checkout, target)
    assert doc["common_utils"]["version"] == "1.2.3"  # from the checkout's tag
    assert doc["common_utils"]["source"] == "submodule"
    assert doc["common_utils"]["path"] == str((checkout / "common_utils").resolve())
    shadowed = str((target / "common_utils").resolve())
    assert doc["common_utils"]["shadowed_installation"] == shadowed
    assert "another installed copy at " + shadowed in stderr
