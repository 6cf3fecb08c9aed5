#!/usr/bin/env python3
"""Release the tag at HEAD to the team's devpi: ``git tag v1.4.0 && tox -e release``.

The pipeline releases whatever library the tagged repository is: its name comes
from its ``pyproject.toml`` (``[project] name``), the test selection, the verify
lock, the notes script, the indexes and the release user from its
``[tool.common-utils-release]`` table (``release_settings``; the environment's
``DEVPI_*`` win over the table). Each step prints what it does and how long it
took, writes the whole output of every process it runs to
``WORKDIR/logs/<step>.log``, and a failed step stops the run with one line on
stderr that names that log, and a distinct exit code:

1. guards: a git work tree, not a shallow clone, no changed or untracked file,
   HEAD exactly at a release tag (``vX.Y.Z`` or a candidate ``vX.Y.ZrcN``, the
   grammar of ``release_rules.py``) whose version is canonical PEP 440 without a
   local part, on a commit reachable from ``main`` or its ``release/X.Y`` branch
   (the fetched ``origin/*`` branches when the clone has them, as in CI and in
   the git hook's fresh clone; else the local branches); the project's settings;
2. build: sdist and wheel with ``python -m build`` in a fresh clone of HEAD
   (``SOURCE_DATE_EPOCH`` from the commit, so a re-run builds the same bytes);
   the built version must equal the tag; ``twine check --strict``;
3. login: fail fast on an unreachable server or wrong credentials;
   an already released version with identical sha256 digests ends here with
   "already released" (success); with different digests it fails: the version
   is taken and needs a new tag;
4. upload: ``twine upload`` to the volatile staging index (never ``--skip-existing``);
5. install, import, tests, constraints (``release_verify``): a fresh virtualenv
   installs ``NAME==X.Y.Z`` pinned to the built files' sha256 digests plus the
   tag's verify lock from the staging index only; it must import the package
   from itself at the tag's version; the checkout's tests run against it; the
   exact versions of its runtime dependencies become ``constraints-pyX.Y.txt``;
6. notes: the tagged clone's notes script (``release_docs``); the notes and the
   constraints go into one documentation zip, the same bytes from the same run;
7. push: the documentation zip, then the verified local files (the bytes whose
   digests the install checked) are uploaded to the non-volatile release index
   by the release user, then the release index's digests must equal the built
   files' and its doc zip ours. Nothing is copied from staging, so a file
   replaced on staging after the verify can never reach the release index.
   Identical bytes re-uploaded are accepted (a re-run resumes); docs of the
   version already there with other bytes (an earlier, interrupted run) are kept.

Every child process gets a scrubbed environment (``devsupport.scrub_env``: no
``DEVPI_*``, ``TWINE_*``, ``PIP_*`` and nothing named like a password, token or
key) and a private ``HOME``; only the two ``twine upload`` runs get the release
user's credentials; the doc zip goes up from this process (``DevpiAPI``, basic
auth). The build backend, the tests and the notes script run through
``release_steps.run_untrusted_step`` and never see a credential.

Configuration (environment): ``DEVPI_URL`` (default ``http://127.0.0.1:3141``;
``https://`` required except on loopback: ``urls.check_url``), ``DEVPI_USER``
(default: the repository's ``release-user``, else ``ci-release``),
``DEVPI_PASSWORD`` (required, never printed), ``DEVPI_STAGING_INDEX`` and
``DEVPI_RELEASE_INDEX`` (default: the repository's, else ``team/staging`` and
``team/release``), ``RELEASE_TAG`` (optional, like ``--tag``: which release tag
at HEAD to release when the commit carries a candidate and its final).

The work directory (``--workdir DIR``, else a new temporary one) holds the
clone, the built files, the verify virtualenv and ``logs/``; a temporary one is
removed after a successful run and kept after a failed one.

Exit codes (``ExitCode``): 0 released or already released; 2 configuration or
usage error; 3 guard failed (tree, tag, branch, version, settings); 4 build,
``twine check`` or the release notes failed; 5 devpi unreachable, credentials
refused or upload/push refused; 6 verification failed (install, import, tests,
constraints); 7 the version is already released with different files.

Importable API (``common_utils_platform.release``; see ``devpitools`` for servers):

- ``run_release(checkout, *, config=, run_tests=True, pytest_args=(), out=, workdir=)``
  returns a ``ReleaseResult`` (``version``, ``project``, ``digests``,
  ``already_released``, ``timings``, ``docs_url``, ``docs_files``, ``workdir``) or
  raises ``ReleaseError`` (``code`` is an ``ExitCode``, ``log`` the failed step's log).
- ``ReleaseConfig(url=, user=, password=, staging_index=, release_index=)`` and
  ``ReleaseConfig.from_env(environ)``; ``ProjectSettings.load(checkout)``.
- ``main(argv, environ=None) -> int``: the command line.

Example:
    >>> config = ReleaseConfig.from_env({"DEVPI_PASSWORD": "s3cret"})
    >>> config.user, config.staging_index, config.release_index, "s3cret" in repr(config)
    ('ci-release', 'team/staging', 'team/release', False)
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import hashlib
import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TextIO, TypeVar

from common_utils_platform.devpitools import DevpiAPI, DevpiError, sha256_of
from common_utils_platform.devsupport import append_log
from common_utils_platform.release_docs import NOTES_FILE, docs_zip, release_notes
from common_utils_platform.release_rules import (
    RELEASE_TAG_RE,
    ReleaseRuleError,
    check_branch_rule,
    git_branches,
    git_is_ancestor,
    parse_tag,
)
from common_utils_platform.release_settings import ProjectSettings, ReleaseConfig
from common_utils_platform.release_steps import (
    ExitCode,
    ReleaseError,
    Reporter,
    Step,
    private_env,
    run_untrusted_step,
    take_back,
    untrusted_workspace,
)
from common_utils_platform.release_verify import (
    check_import,
    install_staged,
    passed_counts,
    run_suite,
    write_constraints,
)
from common_utils_platform.sandbox import Sandbox, SandboxError, protect_process

__all__ = [
    "ExitCode",
    "ProjectSettings",
    "ReleaseConfig",
    "ReleaseError",
    "ReleaseResult",
    "main",
    "run_release",
    "run_untrusted_step",
]

_VERSIONISH_RE = re.compile(r"^v?\d+(\.\d+)*")
T = TypeVar("T")


@dataclasses.dataclass
class ReleaseResult:
    """What a pipeline run did.

    Example:
        >>> ReleaseResult(version="1.4.0").already_released
        False
    """

    version: str
    project: str = ""
    digests: dict[str, str] = dataclasses.field(default_factory=dict)
    already_released: bool = False
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    docs_url: str = ""
    docs_files: list[str] = dataclasses.field(default_factory=list)
    workdir: Path | None = None


# --------------------------------------------------------------------------- guards


def check_guards(step: Step, checkout: Path, env: Mapping[str, str], *, tag: str | None) -> str:
    """Check the working tree, the tag at HEAD and its branch; return the release version.

    Args:
        step: The guards step (its log gets every git command).
        checkout: The git working tree.
        env: The environment git runs with (`release_steps.private_env`).
        tag: The release tag to release (must point at HEAD); ``None``: the
            release tag at HEAD (the final one when a candidate and its final
            share the commit).

    Raises:
        ReleaseError: ``GUARD`` with what is wrong and how to fix it.
    """
    inside = step.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=checkout, env=env)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise step.fail(f"{checkout} is not a git working tree")
    if step.git(checkout, "rev-parse", "--is-shallow-repository", env=env) == "true":
        raise step.fail(
            "shallow clone: the version comes from the full history; "
            "run `git fetch --unshallow --tags` (CI: fetch-depth: 0)"
        )
    status = step.git(checkout, "status", "--porcelain", "--untracked-files=all", env=env)
    if status:
        changed = [line[3:] for line in status.splitlines()]
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise step.fail(
            f"working tree is not clean ({len(changed)} changed or untracked file(s): {shown}); "
            "commit or remove them and tag again"
        )
    chosen = select_tag(step, checkout, env, tag)
    version = str(parse_tag(chosen))
    _check_pep440(step, version)
    return version


def select_tag(step: Step, checkout: Path, env: Mapping[str, str], tag: str | None) -> str:
    """Return the release tag at HEAD to release (see `check_guards`).

    Raises:
        ReleaseError: ``GUARD``: no release tag at HEAD, ``tag`` is not at HEAD
            or not a release tag, or HEAD carries two final release tags.
    """
    tags = step.git(checkout, "tag", "--points-at", "HEAD", env=env).split()
    if tag is not None:
        try:
            parse_tag(tag)
        except ReleaseRuleError as ex:
            raise step.fail(str(ex)) from None
        if tag not in tags:
            raise step.fail(f"tag {tag} does not point at HEAD: check out the tag to release")
        return tag
    strict = sorted((parse_tag(t) for t in tags if RELEASE_TAG_RE.fullmatch(t)), reverse=True)
    if not strict:
        raise step.fail(_no_tag_message(step, checkout, env, tags))
    finals = [v.tag for v in strict if not v.is_prerelease]
    if len(finals) > 1:
        raise step.fail(
            f"HEAD carries several release tags ({', '.join(sorted(finals))}): "
            "one commit, one version"
        )
    return strict[0].tag


def check_branch(step: Step, checkout: Path, env: Mapping[str, str], tag: str) -> str:
    """Check that HEAD is on ``main`` or the tag's ``release/X.Y``; return that branch.

    Uses the remote-tracking branches of ``origin`` when the clone has any (CI,
    the hook's fresh clone), else the local branches.

    Raises:
        ReleaseError: ``GUARD`` with the rule's one-line reason.
    """
    git_dir = step.git(checkout, "rev-parse", "--absolute-git-dir", env=env)
    branches = git_branches(git_dir, remote="origin")
    where = "origin/"
    if not branches:
        branches, where = git_branches(git_dir), ""
    if not branches:
        raise step.fail(
            "no main or release/X.Y branch in this clone to check the tag against: fetch them "
            "(git fetch origin '+refs/heads/main:refs/remotes/origin/main' "
            "'+refs/heads/release/*:refs/remotes/origin/release/*')"
        )
    head = step.git(checkout, "rev-parse", "HEAD", env=env)
    try:
        branch = check_branch_rule(parse_tag(tag), head, branches, git_is_ancestor(git_dir))
    except ReleaseRuleError as ex:
        raise step.fail(f"{ex} [{where or 'local '}branches]") from None
    return where + branch


def _no_tag_message(step: Step, checkout: Path, env: Mapping[str, str], tags: list[str]) -> str:
    near = [t for t in tags if _VERSIONISH_RE.match(t)]
    if near:
        return (
            f"tag {near[0]!r} at HEAD is not a release tag: releases are tagged vX.Y.Z, "
            "candidates vX.Y.ZrcN (for example v1.4.0, v1.5.0rc1)"
        )
    described = step.run(
        ["git", "describe", "--tags", "--match", "v[0-9]*.[0-9]*.[0-9]*", "--long"],
        cwd=checkout,
        env=env,
    )
    hint = ""
    if described.returncode == 0:
        tag, ahead, _ = described.stdout.strip().rsplit("-", 2)
        hint = f" (the nearest release tag {tag} is {ahead} commit(s) behind HEAD)"
    return (
        f"HEAD is not at a release tag{hint}: tag the commit to release with "
        "`git tag vX.Y.Z` and run the release from it"
    )


def _check_pep440(step: Step, version: str) -> None:
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        raise step.fail(f"{version!r} is not a PEP 440 version") from None
    if str(parsed) != version or parsed.local is not None:
        raise step.fail(
            f"{version!r} is not a canonical PEP 440 version without local part "
            f"(canonical: {parsed.public})"
        )


# --------------------------------------------------------------------------- build


def _normalize_sdist(path: Path, epoch: int) -> None:
    # NOTE: setuptools stamps the gzip header and tar entries with the current time;
    # a release must be byte-identical when rebuilt from the same commit (re-runs
    # compare sha256 digests), so entries get the commit time, sorted, owner-less.
    with tarfile.open(path, "r:gz") as src:
        entries = []
        for member in src.getmembers():
            fh = src.extractfile(member) if member.isfile() else None
            entries.append((member, fh.read() if fh else None))
    buf = io.BytesIO()
    with (
        gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=epoch) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as dst,
    ):
        for member, data in sorted(entries, key=lambda e: e[0].name):
            member.mtime = epoch
            member.uid = member.gid = 0
            member.uname = member.gname = ""
            member.pax_headers = {}
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    path.write_bytes(buf.getvalue())


def build(
    step: Step, project: ProjectSettings, checkout: Path, version: str, workdir: Path
) -> tuple[Path, list[Path]]:
    """Build sdist and wheel from a fresh clone of HEAD; check them with twine.

    In the clone, ``v<version>`` is the only tag at HEAD, so setuptools-scm
    cannot pick a sibling (``v1.6.0rc1`` beside ``v1.6.0``). The build backend
    runs through `run_untrusted_step`. Returns ``(clone, files)``.

    Raises:
        ReleaseError: ``BUILD`` on a failed build or check, ``GUARD`` when the
            built version is not the tag's.
    """
    env = private_env(workdir)
    head = step.git(checkout, "rev-parse", "HEAD", env=env)
    clone = workdir / "src"
    step.git(
        workdir, "clone", "--quiet", "--no-checkout", str(checkout.resolve()), str(clone), env=env
    )
    step.git(clone, "checkout", "--quiet", "--detach", head, env=env)
    for other in step.git(clone, "tag", "--points-at", "HEAD", env=env).split():
        if other != f"v{version}":
            step.git(clone, "tag", "-d", other, env=env)
    epoch = step.git(clone, "log", "-1", "--format=%ct", "HEAD", env=env)
    dist = workdir / "dist"
    # With a sandbox the backend builds its own copy into its own area; the files come back
    # as regular files only.
    source, outdir = untrusted_workspace(step, clone, dist, "build")
    cmd = [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), str(source)]
    build_env = {**env, "SOURCE_DATE_EPOCH": epoch, "PYTHONWARNINGS": "ignore"}
    try:
        done = run_untrusted_step(step, cmd, cwd=source.parent, env=build_env, timeout=900)
    except subprocess.TimeoutExpired:
        raise step.fail("python -m build did not finish within 900 s") from None
    if done.returncode != 0:
        raise step.fail(f"python -m build failed:\n{step.tail(done)}")
    files = sorted(take_back(step, outdir, dist))
    names = {f.name for f in files}
    sdist = f"{project.dist_name}-{version}.tar.gz"
    wheels = [
        n for n in names if n.startswith(f"{project.dist_name}-{version}-") and n.endswith(".whl")
    ]
    if sdist not in names or len(wheels) != 1 or len(names) != 2:
        raise step.fail(
            f"built {', '.join(sorted(names))}, expected {sdist} and one wheel of {project.name} "
            f"{version} from the tag (is setuptools-scm configured for vX.Y.Z tags?)",
            ExitCode.GUARD,
        )
    _normalize_sdist(dist / sdist, int(epoch))
    check = step.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)], env=env
    )
    if check.returncode != 0:
        raise step.fail(f"twine check --strict failed:\n{step.tail(check)}")
    return clone, files


# --------------------------------------------------------------------------- devpi


def _devpi(step: Step, call: Callable[[], T]) -> T:
    """Ask devpi; a failure stops the step with ``SERVER`` and devpi's one line."""
    try:
        return call()
    except DevpiError as ex:
        raise step.fail(str(ex), ExitCode.SERVER) from None


@dataclasses.dataclass(frozen=True)
class _Upload:
    """The built files of one version, and the devpi they go to as the release user."""

    config: ReleaseConfig
    api: DevpiAPI
    project: ProjectSettings
    version: str
    files: list[Path]
    digests: dict[str, str]

    def held(self, step: Step, index: str) -> dict[str, str]:
        """The files of this version ``index`` holds (name: sha256)."""
        return _devpi(
            step, lambda: self.api.release_digests(index, self.project.name, self.version)
        )


def _check_no_conflict(step: Step, up: _Upload, index: str, released: Mapping[str, str]) -> None:
    """Refuse when ``index`` holds a file of this version that is not ours."""
    foreign = sorted(name for name, digest in released.items() if up.digests.get(name) != digest)
    if foreign:
        raise step.fail(
            f"{up.project.name} {up.version} is already released on {index} with "
            f"different files ({', '.join(foreign)}); a released version never changes: "
            "tag a new version",
            ExitCode.TAKEN,
        )


def _upload(step: Step, up: _Upload, index: str) -> None:
    """``twine upload`` the files to ``index``: the only processes given the password.

    A refused upload asks the index what it holds: a file of this version with
    other bytes is ``TAKEN`` (devpi's own answer, not twine's wording), anything
    else ``SERVER``.
    """
    config = up.config
    failure = _twine_upload_in_process(
        f"{config.url}/{index}/", up.files, user=config.user, password=config.password, log=step.log
    )
    if failure:
        _check_no_conflict(step, up, index, up.held(step, index))
        raise step.fail(f"twine upload to {index} failed: {failure}", ExitCode.SERVER)


def _twine_upload_in_process(
    url: str, files: Sequence[Path], *, user: str, password: str, log: Path
) -> str:
    """Upload ``files`` with twine's own upload command, in this process; ``""`` when done.

    NOTE: in-process on purpose: the password never goes into a child's environment
    (``TWINE_PASSWORD``) or argv, only into this non-dumpable process's memory.
    Returns one line saying why the upload failed, without the password.
    """
    from twine.commands.upload import upload
    from twine.settings import Settings

    settings = Settings(
        username=user,
        password=password,
        repository_url=url,
        non_interactive=True,
        disable_progress_bar=True,
        config_file=os.devnull,
    )
    shown = io.StringIO()
    try:
        with contextlib.redirect_stdout(shown), contextlib.redirect_stderr(shown):
            upload(settings, [str(f) for f in files])
        failure = ""
    except Exception as ex:  # noqa: BLE001 - twine raises requests' and its own errors
        failure = " ".join(f"{type(ex).__name__}: {ex}".split())[:300]
    append_log(
        log, ["twine", "upload", "--repository-url", url, *map(str, files)], None,
        shown.getvalue().replace(password, "********"), failure or "ok (in-process)",
    )  # fmt: skip
    return failure.replace(password, "********")


def _publish_docs(step: Step, up: _Upload, docs: bytes) -> tuple[str, str]:
    """Upload the doc zip to the release index as the release user; return (URL, note).

    Identical bytes already there are fine (devpi answers 200); other docs of the
    version already there (a non-volatile index keeps them: 409) came from an
    earlier, interrupted run of the pipeline for these very files, and are kept.
    """
    index, name, version, api = up.config.release_index, up.project.name, up.version, up.api
    digest = hashlib.sha256(docs).hexdigest()
    status = _devpi(step, lambda: api.upload_doczip(index, name, version, docs))
    link = _devpi(step, lambda: api.doczip_link(index, name, version))
    if link is None or (status == 200 and link["sha256"] != digest):
        raise step.fail(f"{index} does not hold the uploaded docs of {name} {version}")
    if status == 409:
        return link["href"], (
            f"docs: {index} already holds other docs of {version} "
            f"(sha256:{link['sha256'][:12]}, an earlier run's): kept"
        )
    return link["href"], f"docs sha256:{digest[:12]}"


def _publish(step: Step, up: _Upload, docs: bytes) -> str:
    """Upload the docs, then the verified files, to the release index; check its digests.

    Returns the docs' URL.

    NOTE: not ``devpi push``: a push copies whatever staging holds at that moment,
    and anyone who could upload to staging could swap the file between the verify
    and the push. These are the very bytes the install step checked (pip verified
    their sha256), uploaded by the release user. Re-uploading an identical file
    to the non-volatile index is a no-op (HTTP 200), so an interrupted run resumes.
    The docs go first: once pip can see the files, the notes and constraints are
    there too.
    """
    index = up.config.release_index
    _check_no_conflict(step, up, index, up.held(step, index))
    docs_url, docs_note = _publish_docs(step, up, docs)
    _upload(step, up, index)
    pushed = up.held(step, index)
    if pushed != up.digests:
        raise step.fail(f"{index} does not hold the built files after the push", ExitCode.SERVER)
    step.notes.append(f"{len(pushed)} file(s), digests match; {docs_note}")
    return docs_url


# --------------------------------------------------------------------------- the pipeline


def run_release(
    checkout: Path,
    *,
    config: ReleaseConfig | None = None,
    run_tests: bool = True,
    pytest_args: Sequence[str] = (),
    verify_timeout: float = 900,
    out: TextIO | None = None,
    tag: str | None = None,
    workdir: Path | None = None,
    sandbox: Sandbox | None = None,
) -> ReleaseResult:
    """Run the whole pipeline for the tag at HEAD of ``checkout``.

    Args:
        checkout: A git working tree of the library to release.

    Keyword Args:
        config: Server and credentials (default: ``ReleaseConfig.from_env()``).
        run_tests: Run the test suite (``False`` only for benchmarks and demos:
            the install from staging and the import are still checked).
        pytest_args: Replace the repository's test selection; ``{clone}`` in an
            argument stands for the clone of the tag the package was built from.
        verify_timeout: Seconds the test suite may take.
        out: Where progress lines go (default ``sys.stdout``).
        tag: The release tag at HEAD to release (default: the one there is;
            the final when a candidate shares the commit).
        workdir: Where the clone, the built files, the virtualenv and
            ``logs/<step>.log`` go (an empty or new directory, kept); default a
            temporary directory, removed after a successful run only.
        sandbox: Run the tagged code (build backend, tests, notes script, the
            virtualenv's probes) as this unprivileged user, in ``WORKDIR/sandbox``.

    Raises:
        ReleaseError: A step failed; ``ex.code`` is the ``ExitCode``, ``ex.log``
            the step's log.

    Example:
        >>> run_release(Path("/"), config=ReleaseConfig(password="pw"),
        ...             out=io.StringIO())  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        common_utils_platform.release_steps.ReleaseError: / is not a git working tree
    """
    config = config or ReleaseConfig.from_env()
    keep = workdir is not None
    if workdir is None:
        workdir = Path(tempfile.mkdtemp(prefix="release-"))
    elif workdir.exists() and any(workdir.iterdir()):
        raise ReleaseError(
            f"--workdir {workdir} is not empty: name a new directory", ExitCode.USAGE
        )
    workdir = workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    area = None
    if sandbox is not None:
        try:
            area = sandbox.area(workdir)
        except (OSError, SandboxError) as ex:
            raise ReleaseError(f"cannot prepare the sandbox: {ex}", ExitCode.USAGE) from None
    # NOTE: a failed run raises here and keeps its workdir (the failure names its log).
    result = _pipeline(
        Path(checkout),
        config,
        workdir,
        Reporter(out or sys.stdout, workdir / "logs", sandbox=sandbox, area=area),
        run_tests=run_tests,
        pytest_args=pytest_args,
        verify_timeout=verify_timeout,
        tag=tag,
    )
    result.workdir = workdir if keep else None
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def _pipeline(
    checkout: Path,
    config: ReleaseConfig,
    workdir: Path,
    report: Reporter,
    *,
    run_tests: bool,
    pytest_args: Sequence[str],
    verify_timeout: float,
    tag: str | None,
) -> ReleaseResult:
    env = private_env(workdir)
    with report.step("guards", f"checking {checkout}", ExitCode.GUARD) as step:
        version = check_guards(step, checkout, env, tag=tag)
        branch = check_branch(step, checkout, env, f"v{version}")
        project = ProjectSettings.load(checkout)
        config = config.for_project(project)
        kind = "release candidate" if parse_tag(f"v{version}").is_prerelease else "release"
        step.notes.append(
            f"HEAD is at v{version} of {project.name} ({kind}) on {branch}, clean, full history"
        )
    result = ReleaseResult(version=version, project=project.name, timings=report.timings)
    name = project.name
    with report.step(
        "build", "python -m build (sdist + wheel) and twine check", ExitCode.BUILD
    ) as step:
        clone, files = build(step, project, checkout, version, workdir)
        result.digests = {f.name: sha256_of(f) for f in files}
        step.notes.append(", ".join(f"{n} sha256:{d[:12]}" for n, d in result.digests.items()))
    api = DevpiAPI(config.url, user=config.user, password=config.password)
    up = _Upload(config, api, project, version, files, result.digests)
    with report.step(
        "login", f"logging in to {config.url} as {config.user}", ExitCode.SERVER
    ) as step:
        _devpi(step, api.login)
        released = up.held(step, config.release_index)
        _check_no_conflict(step, up, config.release_index, released)
        if released == result.digests:
            step.notes.append(f"{name} {version} is already released with identical files")
            link = _devpi(step, lambda: api.doczip_link(config.release_index, name, version))
            result.docs_url = link["href"] if link else ""
        elif released:
            step.notes.append(
                f"{len(released)} of {len(result.digests)} file(s) released: resuming"
            )
    if released == result.digests:
        report.say(f"already released: {name}=={version} on {config.release_index}")
        if result.docs_url:
            report.say(f"release notes and constraints: {result.docs_url}")
        result.already_released = True
        return result
    with report.step("upload", f"twine upload to {config.staging_index}", ExitCode.SERVER) as step:
        _upload(step, up, config.staging_index)
    with report.step(
        "install", f"fresh venv, pip install {name}=={version} from {config.staging_index}",
        ExitCode.VERIFY,
    ) as step:  # fmt: skip
        target = install_staged(
            step, config, project, version, result.digests, clone, workdir, with_pip=run_tests
        )
        step.notes.append(f"installed {name}=={version} with --require-hashes")
    with report.step(
        "import", f"import {project.import_name} in the venv", ExitCode.VERIFY
    ) as step:
        step.notes.append(check_import(step, target, project, version, workdir))
    selection = " ".join(pytest_args) or project.test_selection()
    where = f"the wheel installed from {config.staging_index} with --require-hashes"
    if run_tests:
        with report.step("tests", f"pytest {selection} against the venv", ExitCode.VERIFY) as step:
            summary = run_suite(
                step,
                target,
                project,
                clone,
                workdir,
                pytest_args=pytest_args,
                timeout=verify_timeout,
            )
            step.notes.append(f"tests: {summary}")
        marker = f", -m {project.test_marker!r}" if project.test_marker else ""
        passed = f"{passed_counts(summary)} ({selection}{marker}) against {where}"
    else:
        report.say(f"[tests] skipped (--skip-tests): {name} is installed and imports")
        passed = f"installed from {config.staging_index} with --require-hashes; tests skipped"
    with report.step("constraints", "the venv's runtime dependencies", ExitCode.VERIFY) as step:
        commit = step.git(clone, "rev-parse", "HEAD", env=env)
        step.notes.append(
            write_constraints(
                step, target, project, workdir / "constraints",
                version=version, commit=commit, passed=passed,
            )
        )  # fmt: skip
    with report.step(
        "notes", f"python {project.notes_script} v{version} --fallback-draft; the docs zip",
        ExitCode.BUILD,
    ) as step:  # fmt: skip
        tagged = step.git(clone, "for-each-ref", "--format=%(creatordate:short)",
                          f"refs/tags/v{version}", env=env)  # fmt: skip
        date = tagged or step.git(clone, "log", "-1", "--format=%cs", "HEAD", env=env)
        text, said = release_notes(step, project, clone, version, workdir, date=date)
        if said:
            report.say(f"notes: {said}")
        constraints = {
            path.name: path.read_text()
            for path in sorted((workdir / "constraints").glob("constraints-py*.txt"))
        }
        epoch = int(step.git(clone, "log", "-1", "--format=%ct", "HEAD", env=env))
        docs = docs_zip(version, text, constraints, epoch=epoch, project=name)
        result.docs_files = sorted([NOTES_FILE, "index.html", *constraints])
        step.notes.append(f"{name}-{version}.doc.zip: {', '.join(result.docs_files)}")
    with report.step(
        "push", f"upload the docs and the verified files to {config.release_index}", ExitCode.SERVER
    ) as step:
        result.docs_url = _publish(step, up, docs)
    report.say(
        f"released {name}=={version}: pip install --index-url "
        f"{config.simple_url(config.release_index)} {name}=={version}"
    )
    report.say(f"release notes and constraints: {result.docs_url}")
    return result


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run the release command line and return its exit code.

    Example:
        >>> main(["--checkout", "/"], environ={})
        2
    """
    parser = argparse.ArgumentParser(
        prog="common-utils-release",
        description="Release the vX.Y.Z tag at HEAD to devpi (see docs/release.md).",
    )
    parser.add_argument(
        "--checkout",
        type=Path,
        default=Path.cwd(),
        help="the git working tree to release (default: the current directory)",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="an empty or new directory for the clone, the built files, the verify venv and "
        "logs/<step>.log, kept (default: a temporary one, kept only when the run fails)",
    )
    parser.add_argument(
        "--skip-tests",
        action="store_true",
        help="verify only the install from staging, do not run the tests (benchmarks, demos)",
    )
    parser.add_argument(
        "--tag",
        default=None,
        help="the release tag at HEAD to release (default: $RELEASE_TAG, or the tag there is)",
    )
    parser.add_argument(
        "--pytest-args",
        default="",
        help="arguments replacing the repository's test selection of the tests step",
    )
    parser.add_argument(
        "--sandbox-user",
        default=None,
        help="run the tagged code (build backend, tests, notes script) as this unprivileged "
        "user (default: $RELEASE_SANDBOX_USER; none: as this user)",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as ex:
        return int(ex.code or 0) and int(ExitCode.USAGE)
    # NOTE: before the password is read: no process of this user may read our memory.
    protect_process()
    try:
        env = _with_password_from_fd(os.environ if environ is None else environ)
        config = ReleaseConfig.from_env(env)
        user = args.sandbox_user or env.get("RELEASE_SANDBOX_USER") or None
        try:
            sandbox = Sandbox.from_user(user) if user else None
        except SandboxError as ex:
            raise ReleaseError(str(ex), ExitCode.USAGE) from None
        run_release(
            args.checkout,
            config=config,
            run_tests=not args.skip_tests,
            pytest_args=shlex.split(args.pytest_args),
            tag=args.tag or env.get("RELEASE_TAG") or None,
            workdir=args.workdir,
            sandbox=sandbox,
        )
    except ReleaseError as ex:
        where = f"; full output: {ex.log}" if ex.log else ""
        print(
            f"release failed ({ex.code.name.lower()}, exit {int(ex.code)}{where}): {ex}",
            file=sys.stderr,
        )
        return int(ex.code)
    except KeyboardInterrupt:
        print("release interrupted", file=sys.stderr)
        return 130
    return int(ExitCode.OK)


def _with_password_from_fd(env: Mapping[str, str]) -> Mapping[str, str]:
    """Read the password from the file descriptor ``DEVPI_PASSWORD_FD`` names, if any.

    The git host's hook hands the password over a pipe, so it never sits in an
    environment (``/proc/<pid>/environ``); it lives in this process's memory only.

    Raises:
        ReleaseError: ``USAGE`` when the descriptor cannot be read or holds nothing.
    """
    number = env.get("DEVPI_PASSWORD_FD", "")
    if not number:
        return env
    try:
        with os.fdopen(int(number), "rb", closefd=True) as pipe:
            password = pipe.read(64 * 1024).decode("utf-8").strip()
    except (OSError, ValueError):
        raise ReleaseError(
            "DEVPI_PASSWORD_FD does not name a readable file descriptor", ExitCode.USAGE
        ) from None
    if not password:
        raise ReleaseError("DEVPI_PASSWORD_FD gave no password", ExitCode.USAGE)
    return {**env, "DEVPI_PASSWORD": password}


if __name__ == "__main__":
    sys.exit(main())
