"""The deployment files say what the two consumption approaches need, and agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from unit_support import SERVICE_ROOT

SERVERS = {"uwsgi"}


def requirements(path: Path) -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def library_pyproject() -> Path:
    """The pyproject.toml of the library this service is tested with."""
    for candidate in (
        SERVICE_ROOT / "submodules" / "common_utils" / "pyproject.toml",
        SERVICE_ROOT.parent / "pyproject.toml",
    ):
        if candidate.is_file() and 'name = "common-utils"' in candidate.read_text():
            return candidate
    pytest.skip("no common_utils pyproject.toml next to this copy of the service")


def library_dependencies(pyproject: Path) -> list[Requirement]:
    # NOTE: a regex, not tomllib: the tests also run on Python 3.10.
    match = re.search(r"^dependencies = \[(.*?)^\]", pyproject.read_text(), re.M | re.S)
    assert match, f"no [project] dependencies in {pyproject}"
    return [Requirement(item) for item in re.findall(r'"([^"]+)"', match[1])]


def as_keys(reqs: list[Requirement]) -> set[tuple[str, frozenset[str], str]]:
    return {(canonicalize_name(r.name), frozenset(r.extras), str(r.specifier)) for r in reqs}


def test_submodule_requirements_are_exactly_the_librarys_dependencies_plus_the_server() -> None:
    ours = requirements(SERVICE_ROOT / "requirements-submodule.txt")
    library = [r for r in ours if canonicalize_name(r.name) not in SERVERS]
    assert as_keys(library) == as_keys(library_dependencies(library_pyproject()))


def test_requirements_pin_a_released_common_utils_and_the_server() -> None:
    pins = {
        canonicalize_name(r.name): str(r.specifier)
        for r in requirements(SERVICE_ROOT / "requirements.txt")
    }
    assert set(pins) == {"common-utils", "uwsgi"}
    assert re.fullmatch(r"==\d+\.\d+\.\d+", pins["common-utils"])
    assert pins["uwsgi"].startswith("==")


def test_requirements_never_name_an_extra_index() -> None:
    for name in ("requirements.txt", "requirements-submodule.txt", "manifest.yml"):
        text = (SERVICE_ROOT / name).read_text()
        active = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert not any("--extra-index-url" in line for line in active), name


def test_every_requirements_file_pins_the_same_uwsgi() -> None:
    pins = set()
    for name in ("requirements.txt", "requirements-submodule.txt", "requirements-server.txt"):
        pins |= {str(r.specifier) for r in requirements(SERVICE_ROOT / name) if r.name == "uwsgi"}
    assert len(pins) == 1


def test_manifest_runs_uwsgi_on_port_with_the_shared_settings() -> None:
    manifest = (SERVICE_ROOT / "manifest.yml").read_text()
    assert "command: uwsgi --ini uwsgi.ini --http :$PORT" in manifest
    assert "memory: 128M" in manifest
    assert "health-check-http-endpoint: /health" in manifest
    assert "PIP_INDEX_URL:" in manifest
    assert "module = example_app.wsgi:app" in (SERVICE_ROOT / "uwsgi.ini").read_text()


def test_runtime_names_a_python_the_library_supports() -> None:
    runtime = (SERVICE_ROOT / "runtime.txt").read_text().strip()
    match = re.fullmatch(r"python-3\.(\d+)\.(\d+|x)", runtime)
    assert match
    assert 10 <= int(match[1]) <= 13
