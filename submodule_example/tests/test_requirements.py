"""The deployment files say what the two consumption approaches need, and agree."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from unit_support import SERVICE_ROOT

SERVERS = {"uwsgi"}
# (input, lock) of each approach. A service keeps the pair(s) it uses: this repository's
# sample keeps both; a service on the submodule approach deletes the pip pair.
APPROACHES = {
    "pip": ("requirements.in", "requirements.txt"),
    "submodule": ("requirements-submodule.in", "requirements-submodule.txt"),
}
KEPT = {name: pair for name, pair in APPROACHES.items() if (SERVICE_ROOT / pair[0]).exists()}
KEPT_FILES = [name for pair in KEPT.values() for name in pair]
KEPT_LOCKS = [lock for _, lock in KEPT.values()]


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


def locked(path: Path) -> dict[str, tuple[str, list[str]]]:
    """Parse a hashed lock: canonical name -> (version, hashes)."""
    text = path.read_text().replace("\\\n", " ")
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement, *options = line.split()
        req = Requirement(requirement)
        hashes = [o.split("=", 1)[1] for o in options if o.startswith("--hash=sha256:")]
        assert len(req.specifier) == 1, f"{path.name}: {requirement} is not pinned"
        (spec,) = req.specifier
        assert spec.operator == "==", f"{path.name}: {requirement} is not pinned with =="
        pins[canonicalize_name(req.name)] = (spec.version, hashes)
    return pins


def as_keys(reqs: list[Requirement]) -> set[tuple[str, frozenset[str], str]]:
    return {(canonicalize_name(r.name), frozenset(r.extras), str(r.specifier)) for r in reqs}


def test_the_service_keeps_an_approach_and_the_lock_of_each_kept_approach() -> None:
    assert KEPT, "neither requirements.in nor requirements-submodule.in: nothing to deploy"
    for source, lock in KEPT.values():
        assert (SERVICE_ROOT / lock).is_file(), f"{source} without {lock}: common-utils-lock"


def test_submodule_requirements_are_exactly_the_librarys_dependencies_plus_the_server() -> None:
    if "submodule" not in KEPT:
        return  # a service on the pip approach only
    ours = requirements(SERVICE_ROOT / "requirements-submodule.in")
    library = [r for r in ours if canonicalize_name(r.name) not in SERVERS]
    assert as_keys(library) == as_keys(library_dependencies(library_pyproject()))


@pytest.mark.parametrize("lock", KEPT_LOCKS)
def test_locks_pin_everything_with_hashes_and_name_no_index(lock: str) -> None:
    pins = locked(SERVICE_ROOT / lock)
    assert pins, f"{lock} is empty"
    for name, (_version, hashes) in pins.items():
        assert hashes, f"{lock}: {name} has no --hash (pip --require-hashes would refuse it)"
    text = (SERVICE_ROOT / lock).read_text()
    assert "index-url" not in text, f"{lock} names an index: the index comes from the environment"
    assert "://" not in text


@pytest.mark.parametrize("lock", KEPT_LOCKS)
def test_locks_satisfy_the_pinned_librarys_dependencies(lock: str) -> None:
    """The check of the submodule approach, extended to the lock (and done for pip too)."""
    pins = locked(SERVICE_ROOT / lock)
    for dependency in library_dependencies(library_pyproject()):
        name = canonicalize_name(dependency.name)
        assert name in pins, f"{lock} lacks {dependency}; re-run common-utils-lock"
        version = pins[name][0]
        assert dependency.specifier.contains(version, prereleases=True), (
            f"{lock} pins {name}=={version}, the library needs {dependency}; "
            "re-run common-utils-lock"
        )


@pytest.mark.parametrize(("source", "lock"), list(KEPT.values()))
def test_each_lock_header_is_the_command_that_remakes_it(source: str, lock: str) -> None:
    """Renovate's pip-compile manager re-runs the header as written: it must be uv's command
    for this pair and Cloud Foundry's Python (runtime.txt), naming the constraints file
    when one is kept."""
    runtime = (SERVICE_ROOT / "runtime.txt").read_text().strip()
    python = re.fullmatch(r"python-(\d+\.\d+)\.(?:\d+|x)", runtime)
    assert python, runtime
    constraints = (SERVICE_ROOT / "common-utils-constraints.txt").is_file()
    expected = " ".join(
        [
            "uv pip compile --generate-hashes --universal",
            f"--python-version={python[1]}",
            *(["--constraints=common-utils-constraints.txt"] if constraints else []),
            f"--output-file={lock} {source}",
        ]
    )
    header = (SERVICE_ROOT / lock).read_text().splitlines()[:2]
    assert header == ["# This file was autogenerated by uv via the following command:",
                      f"#    {expected}"], f"{lock}: re-lock with common-utils-lock"  # fmt: skip


def test_submodule_lock_holds_no_common_utils() -> None:
    if "submodule" not in KEPT:
        return  # a service on the pip approach only
    assert "common-utils" not in locked(SERVICE_ROOT / "requirements-submodule.txt")


def test_requirements_in_pins_a_released_common_utils_and_the_server_and_the_lock_agrees() -> None:
    if "pip" not in KEPT:
        return  # a service on the submodule approach only
    pins = {
        canonicalize_name(r.name): str(r.specifier)
        for r in requirements(SERVICE_ROOT / "requirements.in")
    }
    assert set(pins) == {"common-utils", "uwsgi"}
    assert re.fullmatch(r"==\d+\.\d+\.\d+", pins["common-utils"])
    assert pins["uwsgi"].startswith("==")
    lock = locked(SERVICE_ROOT / "requirements.txt")
    for name, spec in pins.items():
        assert f"=={lock[name][0]}" == spec, (
            f"requirements.txt is stale for {name}: common-utils-lock"
        )


def test_requirements_never_name_an_extra_index() -> None:
    for name in (*KEPT_FILES, "manifest.yml"):
        text = (SERVICE_ROOT / name).read_text()
        active = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
        assert not any("--extra-index-url" in line for line in active), name


def test_every_requirements_file_pins_the_same_uwsgi() -> None:
    pins = set()
    for name in (*(source for source, _ in KEPT.values()), "requirements-server.txt"):
        pins |= {str(r.specifier) for r in requirements(SERVICE_ROOT / name) if r.name == "uwsgi"}
    for lock in KEPT_LOCKS:
        pins.add(f"=={locked(SERVICE_ROOT / lock)['uwsgi'][0]}")
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
