"""End to end: a release on devpi -> Renovate proposes it in both sample consumers -> upgraded.

Renovate 44 (``tools/renovate``, installed by ``npm ci --ignore-scripts`` as
``scripts/renovate_validate.py`` does) runs as ``renovate --platform=local`` in a copy
of each sample consumer, configured by the sample's ``renovate.json`` extending the
shared preset ``renovate/default.json``. The two documented substitutions: the preset
is served over loopback HTTP instead of the forge (``local>`` presets need one), and
the team's devpi URL is this test's devpi. Renovate talks to 127.0.0.1 only: every
other host goes to a proxy on a closed port, and internal hosts are blocked
(``internalHostAccess=block``) but for the one allowed by a host rule, as on the team's
Renovate host.

``--platform=local`` is Renovate's lookup mode (it opens no branch and runs no
artifact command), so the test then applies each proposal the way Renovate's
managers do, as written in their sources: pip-compile sets the new pin in
``requirements.in`` and re-runs the command of the lock's header; git-submodules checks
the new tag's commit out and records the tag as the submodule's ``branch``. Then the
preset's ``postUpgradeTasks`` command (``common-utils-lock --common-utils ...
--constraints ...``) runs as written, and each consumer's service tests pass on the
new version, which ``/version`` reports. The Renovate host's tools (uv and
``common-utils-lock``) are installed into a venv by docs/consuming.md's block as written,
from the test's git host and devpi (the two documented substitutions), and only they run
the lock commands. Timings are printed with ``-s``.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from common_utils_platform.devpitools import build_wheelhouse, seed_base_index
from common_utils_platform.devsupport import free_port
from packaging.version import Version

from tests.conftest import REPO_ROOT
from tests.e2e.conftest import next_version, pip_env, run_release_cli, tool
from tests.e2e.consumers import (
    PINNED_VERSION,
    TEST_PYTHON,
    commit_all,
    copy_service,
    git,
    library_with_tags,
    lock_pins,
    lock_service,
    make_venv,
    pip_install_from,
    run,
    run_service_tests,
    service_tools_in_devpi,  # noqa: F401 - a fixture
)

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import renovate_validate

PRESET = REPO_ROOT / "renovate" / "default.json"
SAMPLE_CONFIG = REPO_ROOT / "submodule_example" / "renovate.json"
TEAM_DEVPI = "https://devpi.example.internal"
TEAM_LIBRARY_REPO = "https://git.example.internal/platform/common_utils.git"
CONSUMING = REPO_ROOT / "docs" / "consuming.md"
PRESET_REFERENCE = "local>platform/common_utils//renovate/default"
SUBMODULE = "submodules/common_utils"
LOCKS = ("requirements.txt", "requirements-submodule.txt")


class StaticServer:
    """A loopback HTTP server for a directory (the preset, a git repository over dumb HTTP)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def static_server(tmp_path: Path) -> Iterator[StaticServer]:
    root = tmp_path / "www"
    root.mkdir()
    server = StaticServer(root)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def renovate() -> Path:
    """Renovate installed from tools/renovate's lock (npm ci --ignore-scripts)."""
    if shutil.which("npm") is None:
        pytest.fail("npm is not installed: Renovate cannot run (apt-get install npm)")
    assert renovate_validate.install() == 0
    return renovate_validate.RENOVATE


def renovate_env(workdir: Path, run_dir: Path, preset_url: str) -> dict[str, str]:
    """Renovate's environment: loopback only, nothing of this machine's configuration."""
    closed = f"http://127.0.0.1:{free_port()}"
    env = renovate_validate.node_env(
        {"PATH": os.environ["PATH"], "HOME": str(workdir / "home"), "LANG": "C.UTF-8"}
    )
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        env[name] = closed
    env.update(
        NO_PROXY="127.0.0.1",
        no_proxy="127.0.0.1",
        # A fresh base directory per run: no lookup is answered from an earlier run's cache.
        RENOVATE_BASE_DIR=str(run_dir),
        LOG_LEVEL="info",
        # As the team's Renovate host: internal hosts blocked but the index's (and git host's).
        RENOVATE_INTERNAL_HOST_ACCESS="block",
        RENOVATE_HOST_RULES=json.dumps(
            [
                {"matchHost": "127.0.0.1", "allowInternal": True},
                # a response that becomes configuration needs a URL prefix of its own
                {"matchHost": preset_url.rsplit("/", 1)[0] + "/", "allowInternal": True},
            ]
        ),
        GIT_CONFIG_NOSYSTEM="1",
    )
    return env


def run_renovate(renovate: Path, repo: Path, workdir: Path, preset_url: str) -> dict[str, Any]:
    """``renovate --platform=local`` in ``repo``; return the repository's report."""
    run_dir = workdir / f"renovate-{repo.name}-{time.monotonic_ns()}"
    run_dir.mkdir()
    report = run_dir / "report.json"
    done = subprocess.run(
        [
            str(renovate),
            "--platform=local",
            "--report-type=file",
            f"--report-path={report}",
        ],
        cwd=repo,
        env=renovate_env(workdir, run_dir, preset_url),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    (run_dir / "renovate.log").write_text(output)
    assert done.returncode == 0, output[-6000:]
    assert "ERROR:" not in output, output[-6000:]
    assert "would refuse" not in output, output[-6000:]  # no internal host but the allowed
    assert "Blocked HTTP request" not in output, output[-6000:]
    assert "invalid config" not in output, output[-6000:]
    return dict(json.loads(report.read_text())["repositories"]["local"])


def proposals(report: dict[str, Any], dep_name: str) -> list[dict[str, Any]]:
    """The updates Renovate proposes for ``dep_name``, found by exactly one manager.

    The plain pip_requirements manager sees the pins of the locks too: the preset disables
    it there, so only pip-compile (which re-locks with hashes) may propose them.
    """
    found = [
        (manager, package_file, dep)
        for manager, files in report["packageFiles"].items()
        for package_file in files
        for dep in package_file["deps"]
        if dep["depName"] == dep_name
    ]
    active = [(m, f, d) for m, f, d in found if not d.get("skipReason")]
    assert len(active) == 1, json.dumps(found, indent=1)[:6000]
    for manager, package_file, dep in found:
        if manager == "pip_requirements" and package_file["packageFile"] in LOCKS:
            assert dep.get("skipReason") == "disabled", (package_file["packageFile"], dep)
    ((manager, _, dep),) = active
    return [
        dict(update, manager=manager, currentValue=dep.get("currentValue"))
        for update in dep.get("updates", [])
    ]


def same_major(updates: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The proposals within the pinned major line (Renovate proposes a newer major apart)."""
    return [update for update in updates if update.get("updateType") != "major"]


def serve_preset(static: StaticServer, devpi_url: str) -> str:
    """The preset as a service's Renovate reads it, with the team's devpi URL substituted."""
    text = PRESET.read_text().replace(TEAM_DEVPI, devpi_url)
    (static.root / "default.json").write_text(text)
    return f"{static.url}/default.json"


def configure_renovate(root: Path, preset_url: str) -> None:
    text = SAMPLE_CONFIG.read_text()
    assert PRESET_REFERENCE in text
    (root / "renovate.json").write_text(text.replace(PRESET_REFERENCE, preset_url))


def header_command(lock: Path) -> list[str]:
    """The command in a lock's header, as Renovate's pip-compile manager extracts it."""
    match = re.match(r"^(?:#.*\n)+# {4}(\S+)( .*)?\n", lock.read_text())
    assert match, lock.read_text()[:400]
    return [match[1], *shlex.split(match[2] or "")]


def post_upgrade_commands(update: dict[str, Any], devpi_url: str) -> list[list[str]]:
    """The preset's postUpgradeTasks for common-utils, templated as Renovate does."""
    preset = json.loads(PRESET.read_text())
    (rule,) = [r for r in preset["packageRules"] if "postUpgradeTasks" in r]
    commands = []
    for template in rule["postUpgradeTasks"]["commands"]:
        text = template.replace(TEAM_DEVPI, devpi_url)
        for key in ("newMajor", "newMinor", "newPatch"):
            text = text.replace("{{{" + key + "}}}", str(update[key]))
        argv = shlex.split(text)
        assert argv[0] == "common-utils-lock"
        commands.append(argv)
    return commands


def lock_tool_block() -> str:
    """docs/consuming.md's block that installs the lock command (its first ``pip install uv``)."""
    text = CONSUMING.read_text()
    (block,) = [
        b for b in re.findall(r"```bash\n(.*?)```", text, re.S) if b.startswith("pip install uv\n")
    ]
    return block


def install_lock_tools(venv: Path, index_url: str, library_url: str) -> Path:
    """The Renovate host's tools: docs/consuming.md's install block, run as written in a venv.

    The documented substitutions only: the team's devpi and git host become the test's.
    The venv's ``bin`` is returned; it comes first on the commands' ``PATH``.
    """
    python = make_venv(venv, with_pip=True)
    block = lock_tool_block().replace(TEAM_LIBRARY_REPO, library_url)
    env = pip_env({k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PYTHON"))})
    env["PATH"] = f"{python.parent}{os.pathsep}{env['PATH']}"
    env["PIP_INDEX_URL"] = index_url
    run(["bash", "-euo", "pipefail", "-c", block], cwd=venv, env=env)
    assert (python.parent / "common-utils-lock").is_file()
    assert (python.parent / "uv").is_file()
    return python.parent


def tool_env(index_url: str, tools: Path) -> dict[str, str]:
    """What the Renovate host gives commands: the index, its tools first on PATH."""
    env = pip_env({k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PYTHON"))})
    env["PATH"] = f"{tools}{os.pathsep}{env.get('PATH', '')}"
    env["UV_DEFAULT_INDEX"] = index_url
    env["PIP_INDEX_URL"] = index_url
    return env


@pytest.fixture(scope="module")
def uv_in_devpi(devpi_server: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Put the uv wheel this environment runs into devpi's seeded base index."""
    from importlib.metadata import version

    wheels = tmp_path_factory.mktemp("uv-wheel")
    build_wheelhouse(wheels, ["--only-binary", ":all:", "--no-deps", f"uv=={version('uv')}"])
    seed_base_index(devpi_server, wheels, index="root/deps")


def service_test_venv(path: Path, root: Path, index_url: str) -> Path:
    """A venv with the service tests' tools from devpi, installed first (the lock goes last)."""
    python = make_venv(path, with_pip=True)
    clean = pip_env({k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    pip_install_from(python, index_url, "service_tests/requirements.txt", cwd=root, env=clean)
    return python


@pytest.mark.usefixtures("service_tools_in_devpi", "uv_in_devpi")
def test_renovate_proposes_a_devpi_release_to_both_consumers_and_the_upgrade_passes(
    renovate: Path,
    release_index: str,
    uwsgi_in_devpi: str,
    devpi_server: Any,
    devpi_env: dict[str, str],
    make_release_checkout: Callable[..., Path],
    static_server: StaticServer,
    tmp_path: Path,
) -> None:
    devpi_url = devpi_server.url
    preset_url = serve_preset(static_server, devpi_url)
    www = static_server.root

    # The library's git host: a bare repository served over loopback HTTP (dumb protocol).
    library = library_with_tags(make_release_checkout, f"v{PINNED_VERSION}")
    bare = www / "common_utils.git"
    git(tmp_path, "clone", "-q", "--bare", str(library), str(bare))
    git(bare, "update-server-info")
    library_url = f"{static_server.url}/common_utils.git"

    # Consumer 1, pip: requirements.in + its lock + renovate.json.
    pip_root = copy_service(tmp_path / "pip-consumer")
    for name in ("requirements-submodule.in", "requirements-submodule.txt"):
        (pip_root / name).unlink()
    (pip_root / "runtime.txt").write_text(f"python-{TEST_PYTHON}.x\n")
    lock_service(pip_root, release_index)
    configure_renovate(pip_root, preset_url)
    git(pip_root, "init", "-q", "-b", "main")
    commit_all(pip_root, "service on common-utils")

    # Consumer 2, submodule at the release tag, the tag recorded as its branch.
    sub_root = copy_service(tmp_path / "submodule-consumer")
    for name in ("requirements.in", "requirements.txt"):
        (sub_root / name).unlink()
    (sub_root / "runtime.txt").write_text(f"python-{TEST_PYTHON}.x\n")
    git(sub_root, "init", "-q", "-b", "main")
    git(sub_root, "submodule", "add", "-q", library_url, SUBMODULE)
    git(sub_root / SUBMODULE, "checkout", "-q", f"v{PINNED_VERSION}")
    git(sub_root, "submodule", "set-branch", "--branch", f"v{PINNED_VERSION}", SUBMODULE)
    lock_service(sub_root, release_index)
    configure_renovate(sub_root, preset_url)
    commit_all(sub_root, "service on common_utils as a submodule")
    gitmodules = (sub_root / ".gitmodules").read_text()
    assert f"branch = v{PINNED_VERSION}" in gitmodules

    # The release to come: a version no other test of the session publishes. The index is
    # shared with them (their releases of other lines, a major 8.x among them, may be there);
    # before the release nothing proposes it.
    # A minor above every release of the pinned line the other tests publish (1.0.N, 1.4.x):
    # Renovate proposes the newest of the line, so it must be this one.
    major = int(PINNED_VERSION.split(".")[0])
    new = f"{major}.{90 + int(next_version(major=major).rsplit('.', 1)[1])}.0"
    for root, dep_name in ((pip_root, "common-utils"), (sub_root, SUBMODULE)):
        before = proposals(run_renovate(renovate, root, tmp_path, preset_url), dep_name)
        assert all(new not in str(update.get("newValue")) for update in before), before

    # The Renovate host's tools, installed once (not per release) as docs/consuming.md says.
    tools = install_lock_tools(tmp_path / "renovate-host", release_index, library_url)

    # The release: a tag on the library, published by the release pipeline to devpi.
    tag_pushed = time.perf_counter()
    (library / "RELEASE").write_text(new)
    commit_all(library, f"release {new}")
    git(library, "tag", "-a", f"v{new}", "-m", f"common_utils {new}")
    git(library, "push", "-q", str(bare), "main", f"v{new}")
    git(bare, "update-server-info")
    done = run_release_cli(library, "--skip-tests", env=devpi_env, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    published = time.perf_counter()

    # Renovate proposes it in both consumers (a major of another test is a separate proposal,
    # held for the dashboard by the preset).
    pip_report = run_renovate(renovate, pip_root, tmp_path, preset_url)
    (pip_update,) = same_major(proposals(pip_report, "common-utils"))
    assert pip_update["manager"] == "pip-compile"
    assert pip_update["newValue"] == f"=={new}"
    assert pip_update["updateType"] == "minor"
    assert pip_update["branchName"] == "renovate/common-utils"  # the group
    (sub_update,) = same_major(
        proposals(run_renovate(renovate, sub_root, tmp_path, preset_url), SUBMODULE)
    )
    assert sub_update["manager"] == "git-submodules"
    assert sub_update["newValue"] == f"v{new}"
    assert sub_update["updateType"] == "minor"
    assert sub_update["branchName"] == "renovate/common-utils"
    proposed = time.perf_counter()
    env = tool_env(release_index, tools)

    # pip: the new pin, the header's command as written, then the preset's task.
    inp = pip_root / "requirements.in"
    inp.write_text(
        inp.read_text().replace(f"common-utils=={PINNED_VERSION}", f"common-utils=={new}")
    )
    header = header_command(pip_root / "requirements.txt")
    assert header[:3] == ["uv", "pip", "compile"]
    assert "--generate-hashes" in header
    run(header, cwd=pip_root, env=env)
    assert lock_pins(pip_root / "requirements.txt")["common-utils"] == new
    for command in post_upgrade_commands(pip_update, devpi_url):
        out = run(command, cwd=pip_root, env=env).stdout
        assert "constraints:" in out, out
    assert "--constraints=common-utils-constraints.txt" in " ".join(
        header_command(pip_root / "requirements.txt")
    )
    assert lock_pins(pip_root / "requirements.txt")["common-utils"] == new
    python = service_test_venv(tmp_path / "pip-venv", pip_root, release_index)
    clean = pip_env({k: v for k, v in os.environ.items() if not k.startswith("PYTHON")})
    pip_install_from(python, release_index, "requirements.txt", cwd=pip_root, env=clean,
                     require_hashes=True)  # fmt: skip
    run_service_tests(python, pip_root, "service_tests",
                      EXPECT_LIBRARY_SOURCE="pip", EXPECT_LIBRARY_VERSION=new)  # fmt: skip
    pip_done = time.perf_counter()

    # submodule: Renovate's git-submodules update (a fresh clone has the new tag), then
    # the preset's task re-locks the library's dependencies.
    git(sub_root / SUBMODULE, "fetch", "-q", "--tags")
    git(sub_root / SUBMODULE, "checkout", "-q", sub_update["newDigest"])
    git(sub_root, "submodule", "set-branch", "--branch", sub_update["newValue"], SUBMODULE)
    for command in post_upgrade_commands(sub_update, devpi_url):
        run(command, cwd=sub_root, env=env)
    assert f"branch = v{new}" in (sub_root / ".gitmodules").read_text()
    commit_all(sub_root, f"common_utils v{new}")
    python = service_test_venv(tmp_path / "sub-venv", sub_root, release_index)
    pip_install_from(python, release_index, "requirements-submodule.txt", cwd=sub_root,
                     env=clean, require_hashes=True)  # fmt: skip
    run_service_tests(python, sub_root, "service_tests",
                      EXPECT_LIBRARY_SOURCE="submodule", EXPECT_LIBRARY_VERSION=new)  # fmt: skip
    both_done = time.perf_counter()
    print(
        f"\ntag push -> published on devpi: {published - tag_pushed:.1f} s"
        f"\ntag push -> Renovate's proposal in both consumers: {proposed - tag_pushed:.1f} s"
        f"\ntag push -> pip consumer tested on {new}: {pip_done - tag_pushed:.1f} s"
        f"\ntag push -> both consumers on {new}: {both_done - tag_pushed:.1f} s"
    )


def test_renovate_config_validator_passes_on_the_preset_and_the_samples_config(
    renovate: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO_ROOT / "scripts" / "renovate_validate.py"),
         "renovate/default.json", "submodule_example/renovate.json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("Config validated successfully") == 2, done.stdout


def runbook_commands(section: str) -> list[list[str]]:
    """The shell commands of one step of release.md's bad-release runbook, as written."""
    release = (REPO_ROOT / "docs" / "release.md").read_text()
    runbook = release.split("## A bad release", 1)[1].split("\n## ", 1)[0]
    step = runbook.split(section, 1)[1].split("\n**", 1)[0]
    block = re.search(r"```bash\n(.*?)```", step, re.S)
    assert block, step
    text = block[1].replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        for part in line.split("#", 1)[0].split("&&"):
            if part.strip():
                commands.append(shlex.split(part))
    return commands


def test_the_bad_release_runbook_as_written(
    devpi_server: Any,
    devpi_env: dict[str, str],
    release_index: str,
    make_release_checkout: Callable[..., Path],
    servers: list[Any],
    tmp_path: Path,
) -> None:
    """A bad release, a service running it; fix forward, withdraw, remove, tell the owners."""
    from tests.e2e.consumers import Gunicorn, service_with_submodule, stamp

    major = int(PINNED_VERSION.split(".")[0])
    bad, fixed = next_version(major=major), next_version(major=major)
    library = library_with_tags(make_release_checkout, f"v{PINNED_VERSION}", f"v{bad}")
    assert run_release_cli(library, "--skip-tests", env=devpi_env, timeout=1800).returncode == 0
    orders = service_with_submodule(tmp_path / "orders", library, f"v{bad}", "v2.0.0")
    stamp(orders)
    service = Gunicorn(orders, tmp_path)
    servers.append(service)
    assert service.wait()
    assert service.version()["common_utils"]["version"] == bad  # type: ignore[index]

    # 1. Fix forward: the next patch, released by the pipeline.
    (library / "RELEASE").write_text(fixed)
    commit_all(library, f"fix {bad}")
    git(library, "tag", f"v{fixed}")
    assert run_release_cli(library, "--skip-tests", env=devpi_env, timeout=1800).returncode == 0

    # 2. Withdraw: the file, then the fleet check over the services list.
    work = tmp_path / "runbook"
    (work / "docs").mkdir(parents=True)
    (work / "docs" / "withdrawn.txt").write_text(f"{bad}  e2e: broken, move to {fixed}\n")
    (work / "services.txt").write_text(f"orders {service.url}\n")
    (fleet,) = runbook_commands("**2. Withdraw it")
    assert fleet[0] == "common-utils-fleet"
    argv = [*tool("common-utils-fleet"), *fleet[1:]]
    argv[argv.index("--index-url") + 1] = release_index  # the documented substitution
    redirect = argv.index(">")
    done = subprocess.run(argv[:redirect], cwd=work,
                          capture_output=True, text=True, timeout=120, check=False)  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    (work / argv[redirect + 1]).write_text(done.stdout)
    doc = json.loads(done.stdout)
    # Newest on the shared test index: the fix, or another test's release of a later line.
    assert Version(doc["newest"]) >= Version(fixed)
    (row,) = doc["services"]
    assert row["service"] == "orders"
    # (other tests' later majors on the shared index may add a "majors behind" flag)
    assert f"withdrawn: e2e: broken, move to {fixed}" in row["flags"]

    # 3. Remove it from devpi, as root, forced.
    commands = runbook_commands("**3. Remove it from devpi")
    devpi = Path(sys.executable).parent / "devpi"
    env = {**os.environ, "HOME": str(tmp_path / "admin-home")}
    for command in commands:
        assert command[0] == "devpi"
        argv = [str(devpi), *command[1:]]
        argv = [a.replace("https://devpi.example.internal", devpi_server.url) for a in argv]
        argv = [a.replace("1.4.1", bad) for a in argv]  # the documented example version
        if argv[1:3] == ["login", "root"]:
            argv += ["--password", devpi_server.root_password]
        run(argv, cwd=work, env=env)
    with urllib.request.urlopen(f"{release_index}common-utils/", timeout=30) as page:
        simple = page.read().decode()
    assert f"common_utils-{fixed}" in simple
    assert f"common_utils-{bad}" not in simple
    pinned = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-d", str(tmp_path / "dl"),
         "--index-url", release_index, f"common-utils=={bad}"],
        env=pip_env(), capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert pinned.returncode != 0
    assert "No matching distribution found" in pinned.stderr
    # The running service is unaffected, and still flagged until it moves.
    assert service.version()["common_utils"]["version"] == bad  # type: ignore[index]

    # 4. Tell the owners: the flagged rows name the services.
    flagged = json.loads((work / "fleet.json").read_text())
    assert [r["service"] for r in flagged["services"] if r["flags"]] == ["orders"]
