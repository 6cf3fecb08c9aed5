"""A second library through the same release path, and a failed release that can be debugged.

The library is ``team-flags``, a small package made here in its own git repository
(setuptools-scm, ``vX.Y.Z`` tags, a test suite, the test tools' hashed lock taken
from ``requirements/verify.lock``): nothing in the pipeline names it, it comes
from its ``pyproject.toml`` (docs/release.md, "Settings").

- Made to fail in each step of ``common-utils-release``, a run leaves its
  ``--workdir`` with that step's full log, named in the one failure line.
- The documented ``--workdir`` command releases it and keeps every step's log.
- Pushed as a tag to its own bare repository with the release hooks, it is
  released, and a service locks and installs it beside common-utils from one
  hashed lock (``common-utils-lock``).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest
from common_utils_platform.devpitools import DevpiAPI, DevpiServer
from common_utils_platform.devsupport import GIT_ENV, git

from tests.conftest import REPO_ROOT

from .conftest import next_version, pip_env, run_release_cli, tool

NAME = "team-flags"
STEPS = (
    "guards", "build", "login", "upload", "install", "import", "tests", "constraints", "notes",
    "push",
)  # fmt: skip
# The test tools' blocks of the library's own verify lock (hashes included).
TEST_TOOLS = ("exceptiongroup", "iniconfig", "packaging", "pluggy", "pygments", "pytest", "tomli")
TEST_PYTHON = f"{sys.version_info[0]}.{sys.version_info[1]}"


def tools_lock() -> str:
    """The blocks of ``requirements/verify.lock`` that pin pytest and what it needs."""
    text = (REPO_ROOT / "requirements" / "verify.lock").read_text()
    blocks = re.split(r"\n(?=\S)", text)
    wanted = [b for b in blocks if re.split(r"[=\s;]", b, maxsplit=1)[0] in TEST_TOOLS]
    assert len(wanted) == len(TEST_TOOLS), "verify.lock no longer pins the test tools"
    return "\n".join(wanted) + "\n"


FILES = {
    "pyproject.toml": """\
        [build-system]
        requires = ["setuptools>=70", "setuptools-scm>=8"]
        build-backend = "setuptools.build_meta"

        [project]
        name = "team-flags"
        dynamic = ["version"]
        description = "Feature flags the team's services share."
        readme = "README.md"
        requires-python = ">=3.10"
        dependencies = ["packaging>=24"]

        [tool.setuptools_scm]

        [tool.setuptools.packages.find]
        where = ["src"]

        [tool.pytest.ini_options]
        addopts = ["--strict-markers"]

        [tool.common-utils-release]
        import-name = "team_flags"
        tests = ["tests"]
        exclude-tests = []
        test-marker = ""
        notes-script = "notes.py"
        """,
    "README.md": "# team-flags\n\nFeature flags the team's services share.\n",
    "CHANGELOG.md": "# Changelog\n",
    "src/team_flags/__init__.py": """\
        \"\"\"Feature flags the team's services share.\"\"\"
        from importlib.metadata import version

        __version__ = version("team-flags")


        def enabled(flags: str, name: str) -> bool:
            \"\"\"Tell whether ``name`` is in the comma-separated ``flags``.\"\"\"
            return name in {f.strip() for f in flags.split(",") if f.strip()}
        """,
    "tests/test_flags.py": """\
        import team_flags


        def test_a_listed_flag_is_enabled():
            assert team_flags.enabled("a, b", "b")


        def test_an_unlisted_flag_is_not():
            assert not team_flags.enabled("a", "b")
        """,
    "notes.py": """\
        import sys
        from pathlib import Path

        tag = sys.argv[1]
        out = Path(sys.argv[sys.argv.index("--output") + 1])
        out.write_text(f"## [{tag[1:]}]\\n\\nFeature flags.\\n")
        """,
}


def make_library(root: Path, edits: dict[str, str] | None = None, *, tag: str | None) -> Path:
    """Create the library's repository in ``root`` (one commit on main, tagged ``tag``)."""
    files = {**FILES, "requirements/verify.lock": tools_lock(), **(edits or {})}
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "team-flags")
    if tag:
        git(root, "tag", "-a", tag, "-m", tag)
    return root


def closed_index(server: DevpiServer) -> str:
    """An index of the team the release user may not upload to."""
    api = DevpiAPI(server.url, user="root", password=server.root_password)
    api.login()
    name = f"{server.user}/closed"
    status, _ = api.get(f"/{name}")
    if status != 200:
        status, body = api.put(
            f"/{name}", {"type": "stage", "bases": ["root/deps"], "acl_upload": [server.user]}
        )
        assert status in (200, 201), body
    return name


# Each case: (files to change, environment to change, what the step's log holds).
def _cases(server: DevpiServer) -> dict[str, tuple[dict[str, str], dict[str, str], str]]:
    return {
        "guards": (
            {
                "pyproject.toml": "[project]\nname = 'x'\n[tool.common-utils-release]\n"
                "tests = 'tests'\n"
            },
            {},
            "tests must be a list of paths",
        ),
        "build": (
            {"setup.py": "raise SystemExit('the build backend broke: h1-build')\n"},
            {},
            "h1-build",
        ),
        "login": ({}, {"DEVPI_PASSWORD": "not-the-Password-42"}, "wrong user or password"),
        "upload": ({}, {"DEVPI_STAGING_INDEX": "CLOSED"}, "403"),
        "install": (
            {"requirements/verify.lock": "pytest==0.0.1 --hash=sha256:" + "0" * 64 + "\n"},
            {},
            "pytest==0.0.1",
        ),
        "import": ({"src/team_flags/__init__.py": "__version__ = '0.0.1'\n"}, {}, "reports 0.0.1"),
        "tests": (
            {"tests/test_zz_gate.py": "def test_gate():\n    assert 'h1-tests' == 'no'\n"},
            {},
            "h1-tests",
        ),
        "constraints": (
            {
                "tests/test_zz_break.py": textwrap.dedent("""\
            import shutil, importlib.metadata as md

            def test_remove_a_runtime_dependency():
                dist = md.distribution("packaging")
                shutil.rmtree(dist.locate_file(f"packaging-{dist.version}.dist-info"))
            """)
            },
            {},
            "packaging is required but not installed",
        ),
        "notes": (
            {"notes.py": "import sys\nsys.exit('the notes script broke: h1-notes')\n"},
            {},
            "h1-notes",
        ),
        "push": ({}, {"DEVPI_RELEASE_INDEX": "CLOSED"}, "403"),
    }


@pytest.mark.parametrize("step", STEPS)
def test_a_release_failing_in_each_step_keeps_that_steps_full_log_named_in_the_output(
    step: str, devpi_server: DevpiServer, devpi_env: dict[str, str], tmp_path: Path
) -> None:
    """The failure line names WORKDIR/logs/<step>.log, which holds what went wrong in full."""
    edits, env, said = _cases(devpi_server)[step]
    env = {k: closed_index(devpi_server) if v == "CLOSED" else v for k, v in env.items()}
    version = next_version(7)
    library = make_library(tmp_path / "flags", edits, tag=f"v{version}")
    workdir = tmp_path / "work"
    done = run_release_cli(library, "--workdir", str(workdir), env={**devpi_env, **env})
    assert done.returncode != 0, done.stdout
    log = workdir / "logs" / f"{step}.log"
    failure = done.stderr.strip().splitlines()[0]
    assert failure.startswith("release failed ("), done.stderr
    assert f"full output: {log}" in failure
    assert f"[{step}] FAILED after " in done.stdout
    text = log.read_text()
    assert said in text
    assert f"# step {step} FAILED after " in text
    assert "Traceback" not in done.stderr
    assert devpi_env["DEVPI_PASSWORD"] not in text + done.stdout + done.stderr
    later = STEPS[STEPS.index(step) + 1 :]
    assert not [s for s in later if (workdir / "logs" / f"{s}.log").exists()]


def documented_workdir_command() -> str:
    """The ``--workdir`` block of docs/release.md, as written."""
    page = (REPO_ROOT / "docs" / "release.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", page, re.S)
    found = [b for b in blocks if "--workdir" in b]
    assert len(found) == 1, found
    return found[0]


def test_the_documented_workdir_command_releases_a_second_library_and_keeps_every_log(
    devpi_server: DevpiServer, devpi_env: dict[str, str], tmp_path: Path
) -> None:
    """docs/release.md's command as written (CHECKOUT, WORKDIR and the command's path set)."""
    version = next_version(7)
    library = make_library(tmp_path / "flags", tag=f"v{version}")
    workdir = tmp_path / "work"
    command = documented_workdir_command()
    env = {
        **devpi_env,
        "CHECKOUT": str(library),
        "WORKDIR": str(workdir),
        "PATH": f"{Path(tool('common-utils-release')[0]).parent}{os.pathsep}{os.environ['PATH']}",
    }
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", command],
        env=env, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"released {NAME}=={version}" in done.stdout
    assert sorted(p.stem for p in (workdir / "logs").iterdir()) == sorted(STEPS)
    assert "2 passed" in (workdir / "logs" / "tests.log").read_text()
    digests = devpi_server.api().release_digests(devpi_server.release_index, NAME, version)
    assert sorted(digests) == [
        f"team_flags-{version}-py3-none-any.whl",
        f"team_flags-{version}.tar.gz",
    ]


# -- through the hooks, installed beside common-utils from one lock ----------------------------


def test_a_second_library_released_through_the_hooks_installs_with_common_utils_from_one_lock(
    devpi_server: DevpiServer, release_index: str, tmp_path: Path
) -> None:
    """Its own bare repository with the release hooks; a tag push releases it; a service's
    ``requirements.in`` names both libraries and ``common-utils-lock`` locks them together."""
    from tests.e2e.consumers import PINNED_VERSION

    bare = tmp_path / "team_flags.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    work = make_library(tmp_path / "work", tag="v0.1.0")
    git(work, "remote", "add", "origin", str(bare))
    git(work, "push", "-q", "origin", "main")
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    password_file = secrets / "devpi-release-password"
    password_file.write_text(devpi_server.release_password + "\n")
    password_file.chmod(0o600)
    installed = subprocess.run(
        [*tool("common-utils-install-hooks"), str(bare), "--devpi-url", devpi_server.url,
         "--devpi-user", devpi_server.release_user, "--password-file", str(password_file),
         "--staging-index", devpi_server.staging_index,
         "--release-index", devpi_server.release_index, "--timeout", "900", "--no-sandbox"],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    pushed = subprocess.run(
        ["git", "push", "origin", "v0.1.0"],
        cwd=work, env={**os.environ, **GIT_ENV}, capture_output=True, text=True, check=False,
        timeout=900,
    )  # fmt: skip
    output = pushed.stdout + pushed.stderr
    assert pushed.returncode == 0, output
    assert f"remote: release: released {NAME}==0.1.0" in output
    assert "remote: release: [tests] ok in " in output
    assert devpi_server.release_password not in output

    service = tmp_path / "service"
    service.mkdir()
    (service / "requirements.in").write_text(f"common-utils=={PINNED_VERSION}\n{NAME}==0.1.0\n")
    locked = subprocess.run(
        [*tool("common-utils-lock"), "--index-url", release_index, "--python-version", TEST_PYTHON],
        cwd=service, env=pip_env({k: v for k, v in os.environ.items() if not k.startswith("UV_")}),
        capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert locked.returncode == 0, locked.stdout + locked.stderr
    lock = (service / "requirements.txt").read_text()
    assert f"\n{NAME}==0.1.0 " in lock
    assert f"\ncommon-utils=={PINNED_VERSION} " in lock
    target = tmp_path / "venv"
    venv.create(target, with_pip=False, symlinks=True)
    python = target / "bin" / "python"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-cache-dir",
         "--require-hashes", "--index-url", release_index, "-r", str(service / "requirements.txt")],
        env=pip_env(), capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    probe = subprocess.run(
        [str(python), "-I", "-c",
         "import common_utils as c, team_flags as t; print(c.__version__, t.__version__)"],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert probe.stdout.split() == [PINNED_VERSION, "0.1.0"]
