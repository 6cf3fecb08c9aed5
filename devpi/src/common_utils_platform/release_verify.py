"""The release's verify steps: install, check the import, run the suite, write constraints.

Each is one step of ``common-utils-release`` with its own log
(``WORKDIR/logs/{install,import,tests,constraints}.log``):

1. `install_staged`: a fresh virtualenv installs ``NAME==X.Y.Z`` pinned to the
   built files' sha256 digests, plus the tag's verify lock, with ``pip
   --require-hashes --only-binary :all:`` from the staging index only (pip's
   configuration ignored);
2. `check_import`: that virtualenv's interpreter imports the package from the
   virtualenv and it reports the tag's version;
3. `run_suite`: the tagged checkout's tests (the repository's selection) run
   against the installed package, through `release_steps.run_untrusted_step`;
   `verify_plugin` proves which copy they imported;
4. `write_constraints`: the exact versions of the package's runtime dependencies
   in that virtualenv become ``constraints-pyX.Y.txt``.

Neither pip nor the tests see any credential.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
import venv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from common_utils_platform import probes, verify_plugin
from common_utils_platform.release_settings import ProjectSettings, ReleaseConfig
from common_utils_platform.release_steps import (
    ExitCode,
    ReleaseError,
    Step,
    private_env,
    run_untrusted_step,
    untrusted_workspace,
)
from common_utils_platform.sandbox import Sandbox, SandboxError

__all__ = [
    "VerifyEnv",
    "check_import",
    "constraints_file",
    "install_staged",
    "run_suite",
    "runtime_dependencies",
    "write_constraints",
]

_PLUGIN = "_release_verify"


@dataclasses.dataclass(frozen=True)
class VerifyEnv:
    """The verify virtualenv: its directory, interpreter and (pip-free) environment."""

    path: Path
    python: Path
    env: dict[str, str]


def _ask(
    step: Step, python: Path, question: str, *args: str, cwd: Path, env: Mapping[str, str]
) -> Any:
    """Run `probes` with ``python``; return its JSON answer.

    Untrusted: the virtualenv's interpreter imports the installed package and runs
    its ``.pth`` files, so it runs as the sandbox user when there is one.
    """
    cmd = [str(python), "-I", probes.__file__, question, *args]
    try:
        done = run_untrusted_step(step, cmd, cwd=cwd, env=env, timeout=120)
    except subprocess.TimeoutExpired:
        raise step.fail(f"the verify interpreter did not answer {question!r} in 120 s") from None
    try:
        return json.loads(done.stdout)
    except ValueError:
        raise step.fail(
            f"the verify interpreter cannot answer {question!r}: {step.tail(done, 3)}"
        ) from None


def install_staged(
    step: Step,
    config: ReleaseConfig,
    project: ProjectSettings,
    version: str,
    digests: Mapping[str, str],
    clone: Path,
    workdir: Path,
    *,
    with_pip: bool,
) -> VerifyEnv:
    """Install the staged release, pinned to ``digests``, into a fresh virtualenv.

    ``with_pip``: the virtualenv gets pip of its own (some tests call ``python -m
    pip``); the install itself uses this interpreter's pip with ``--python``.

    Raises:
        ReleaseError: ``VERIFY`` when the verify lock is missing or pip fails.
    """
    lock = clone / project.verify_lock
    if not lock.is_file():
        raise step.fail(
            f"{project.verify_lock} is missing in the tagged commit: the verify steps install "
            "only hash-pinned requirements (see docs/release.md)"
        )
    hashes = " ".join(f"--hash=sha256:{digest}" for _, digest in sorted(digests.items()))
    requirements = workdir / "verify-requirements.txt"
    requirements.write_text(f"{project.name}=={version} {hashes}\n-r {lock}\n")
    path = workdir / "venv"
    venv.create(path, with_pip=with_pip, symlinks=True)
    python = path / "bin" / "python"
    index = config.simple_url(config.staging_index)
    env = {**private_env(workdir, pip=True), "PIP_INDEX_URL": index}
    # NOTE: --index-url only (never --extra-index-url): everything, dependencies
    # included, resolves through devpi, as it will for the services; every file
    # must match a hash (the built files' own for the package), and only wheels
    # are accepted, so no sdist's setup code runs here.
    done = step.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-cache-dir",
         "--require-hashes", "--only-binary", ":all:", "--index-url", index,
         "-r", str(requirements)],
        env=env,
    )  # fmt: skip
    if done.returncode != 0:
        raise step.fail(
            f"pip install {project.name}=={version} from {config.staging_index} failed:\n"
            f"{step.tail(done, 8)}"
        )
    return VerifyEnv(path, python, env)


def check_import(
    step: Step, target: VerifyEnv, project: ProjectSettings, version: str, workdir: Path
) -> str:
    """Check that the virtualenv imports the package from itself, at ``version``; say where.

    Raises:
        ReleaseError: ``VERIFY`` when it does not import, reports another version
            (a package without ``__version__`` is checked by its metadata only),
            or imports from elsewhere.
    """
    answer = _ask(step, target.python, "library", project.import_name, cwd=workdir, env=target.env)
    reported, where = answer.get("version"), Path(answer["file"]).resolve()
    if reported is not None and reported != version:
        raise step.fail(f"the installed {project.import_name} reports {reported}, not {version}")
    if not where.is_relative_to(target.path.resolve()):
        raise step.fail(f"imported {project.import_name} from {where}, not the verify virtualenv")
    return f"{project.import_name} {reported or version} from {where.parent.name}/ in the venv"


def run_suite(
    step: Step,
    target: VerifyEnv,
    project: ProjectSettings,
    clone: Path,
    workdir: Path,
    *,
    pytest_args: Sequence[str] = (),
    timeout: float = 900,
) -> str:
    """Run the tagged checkout's tests against the installed package; return pytest's summary.

    ``pytest_args`` replace the repository's selection; ``{clone}`` in one
    stands for the tagged checkout.

    Raises:
        ReleaseError: ``VERIFY`` when the suite fails, does not finish in time,
            or imported the package from elsewhere than the virtualenv.
    """
    site = Path(_ask(step, target.python, "purelib", cwd=workdir, env=target.env)["purelib"])
    shutil.copyfile(verify_plugin.__file__, site / f"{_PLUGIN}.py")
    # With a sandbox the tests run on their own copy of the tag, in the sandbox's area.
    clone, run_dir = untrusted_workspace(step, clone, workdir / "run", "tests")
    started_log = run_dir.parent / "tests-started.log"
    env = {
        **target.env,
        "_RELEASE_VERIFY_PREFIX": str(target.path),
        "_RELEASE_VERIFY_LOG": str(started_log),
        "_RELEASE_VERIFY_IMPORT": project.import_name.split(".")[0],
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    selection = [arg.replace("{clone}", str(clone)) for arg in pytest_args] or [
        *(str(clone / path) for path in project.tests),
        *(f"--ignore={clone / path}" for path in project.exclude_tests),
    ]
    marker = ["-m", project.test_marker] if project.test_marker else []
    # NOTE: importlib import mode and a cwd outside the clone keep the source tree's
    # package off sys.path; the plugin proves which copy the tests imported.
    cmd = [
        str(target.python), "-m", "pytest", "-p", _PLUGIN, "-p", "no:cacheprovider",
        "--import-mode=importlib", "--rootdir", str(clone), "-c", str(clone / "pyproject.toml"),
        *marker, "-q", *selection,
    ]  # fmt: skip
    try:
        done = run_untrusted_step(step, cmd, cwd=run_dir, env=env, timeout=timeout)
    except subprocess.TimeoutExpired:
        started = _started(started_log)
        raise step.fail(
            f"the test suite did not finish within {timeout:.0f} s; "
            f"last test started: {started[-1]}"
        ) from None
    summary = (done.stdout.strip().splitlines() or [""])[-1]
    if done.returncode != 0:
        raise step.fail(
            f"the test suite failed against the staged {project.name} "
            f"(pytest exit {done.returncode}):\n{step.tail(done, 25)}"
        )
    return summary.strip("= ")


def _started(log: Path) -> list[str]:
    """The tests the plugin saw start (a link or other non-file there reads as none)."""
    try:
        text = Sandbox.take_file(log, limit=16 * 1024 * 1024).decode("utf-8", errors="replace")
    except SandboxError:
        text = ""
    return text.splitlines() or ["(none)"]


def passed_counts(summary: str) -> str:
    """Return pytest's counts without the duration.

    Example:
        >>> passed_counts("646 passed, 3 skipped in 41.20s")
        '646 passed, 3 skipped'
    """
    counts = re.findall(
        r"(\d+ (?:passed|failed|skipped|xfailed|xpassed|deselected|errors?))", summary
    )
    return ", ".join(counts) or "no test ran"


def runtime_dependencies(
    path: Sequence[str], environment: Mapping[str, str], root: str
) -> dict[str, str]:
    """Return the installed runtime dependencies of ``root``, transitively.

    Walks the ``Requires-Dist`` metadata of the distributions found on ``path``
    (a ``sys.path``), starting at ``root`` without extras; a requirement counts
    when its marker holds in ``environment`` (PEP 508 variables; ``extra`` is set
    for each extra a requirement asked for). Test tools are never reached, so
    they are not in it; neither is ``root`` itself.

    Returns:
        ``{normalized name: installed version}``, sorted by name.

    Raises:
        ReleaseError: ``VERIFY`` when ``root`` or a required distribution is missing.

    Example:
        >>> import sys
        >>> from packaging.markers import default_environment
        >>> deps = runtime_dependencies(sys.path, default_environment(), "twine")
        >>> "requests" in deps and "twine" not in deps and "pytest" not in deps
        True
    """
    from importlib.metadata import Distribution, distributions

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    installed: dict[str, Distribution] = {}
    for dist in distributions(path=list(path)):
        name = dist.metadata["Name"]
        if name:
            # NOTE: the first one on the path wins, as for an import.
            installed.setdefault(canonicalize_name(name), dist)
    found: dict[str, str] = {}
    todo: list[tuple[str, frozenset[str]]] = [(canonicalize_name(root), frozenset())]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, extras = todo.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        current = installed.get(name)
        if current is None:
            raise ReleaseError(
                f"{name} is required but not installed in the verify environment", ExitCode.VERIFY
            )
        found[name] = current.version
        for line in current.requires or []:
            req = Requirement(line)
            wanted = req.marker is None or any(
                req.marker.evaluate({**environment, "extra": extra})
                for extra in ("", *sorted(extras))
            )
            if wanted:
                todo.append((canonicalize_name(req.name), frozenset(req.extras)))
    found.pop(canonicalize_name(root), None)
    return dict(sorted(found.items()))


def constraints_file(
    step: Step,
    target: VerifyEnv,
    project: ProjectSettings,
    *,
    version: str,
    commit: str,
    passed: str,
    cwd: Path,
) -> tuple[str, str]:
    """Return ``(file name, text)`` of the constraints the verify virtualenv passed with.

    The header says what it is for (version, tag commit, Python, platform, what
    passed); the body is one ``name==version`` line per runtime dependency
    (`runtime_dependencies` in that virtualenv). The same virtualenv gives the
    same bytes: no date or duration is written.

    Raises:
        ReleaseError: ``VERIFY`` when the virtualenv's interpreter cannot be asked.
    """
    info = _ask(step, target.python, "environment", cwd=cwd, env=target.env)
    environment: dict[str, str] = dict(info["env"])
    # NOTE: the answer comes from untrusted code: only the virtualenv's own directories are
    # read (never a path it names elsewhere, say a dist-info dir linking to a secret).
    inside = [
        entry for entry in info["path"]
        if isinstance(entry, str) and Path(entry).resolve().is_relative_to(target.path.resolve())
    ]  # fmt: skip
    pins = runtime_dependencies(inside, environment, project.name)
    name = f"constraints-py{environment['python_version']}.txt"
    header = [
        f"# {project.name} {version}: the exact runtime dependencies "
        "its release was verified with.",
        f"# tag v{version}, commit {commit}",
        f"# Python {environment['python_full_version']} "
        f"({environment['platform_python_implementation']}), platform {info['platform']}",
        f"# verify: {passed}",
        f"# apply: pip install -c {name} ... | uv pip compile -c {name} ...",
    ]
    return name, "\n".join([*header, *(f"{n}=={v}" for n, v in pins.items())]) + "\n"


def write_constraints(
    step: Step,
    target: VerifyEnv,
    project: ProjectSettings,
    dest: Path,
    *,
    version: str,
    commit: str,
    passed: str,
) -> str:
    """Write ``dest/constraints-pyX.Y.txt`` (`constraints_file`); return a short note."""
    name, text = constraints_file(
        step, target, project, version=version, commit=commit, passed=passed, cwd=dest.parent
    )
    dest.mkdir(parents=True, exist_ok=True)
    (dest / name).write_text(text)
    count = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
    return f"{name}: {count} runtime dependencies"
