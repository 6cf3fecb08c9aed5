#!/usr/bin/env python3
"""Release the tag at HEAD to the team's devpi: ``git tag v1.4.0 && tox -e release``.

The pipeline (each step prints what it does and how long it took; a failed step
stops it with one line on stderr and a distinct exit code):

1. guards: a git work tree, not a shallow clone, no changed or untracked file,
   HEAD exactly at a release tag (``vX.Y.Z`` or a candidate ``vX.Y.ZrcN``, the
   grammar of ``release_rules.py``) whose version is canonical PEP 440 without a
   local part, on a commit reachable from ``main`` or its ``release/X.Y`` branch
   (the fetched ``origin/*`` branches when the clone has them, as in CI and in
   the git hook's fresh clone; else the local branches);
2. build: sdist and wheel with ``python -m build`` in a fresh clone of HEAD
   (``SOURCE_DATE_EPOCH`` from the commit, so a re-run builds the same bytes);
   the built version must equal the tag; ``twine check --strict``;
3. login: fail fast on an unreachable server or wrong credentials;
   an already released version with identical sha256 digests ends here with
   "already released" (success); with different digests it fails: the version
   is taken and needs a new tag;
4. upload: ``twine upload`` to the volatile staging index (never ``--skip-existing``);
5. verify: a fresh virtualenv installs ``common-utils==X.Y.Z`` pinned to the
   built files' sha256 digests plus the tag's ``requirements/verify.lock``, with
   ``pip --require-hashes --only-binary :all:`` from the staging index only (pip
   configuration ignored), and runs the checkout's unit tests against the
   installed package (``-m "not e2e"``, ``--import-mode=importlib``); then, in
   that virtualenv, the exact versions of common-utils' runtime dependencies
   (transitively, markers evaluated there) become ``constraints-pyX.Y.txt``;
6. notes: ``python scripts/release_notes.py vX.Y.Z --fallback-draft`` in the
   tagged clone (the committed ``CHANGELOG.md`` section, else the pending
   fragments, said in one line); the notes (``RELEASE_NOTES.md``, ``index.html``)
   and the constraints file go into one documentation zip, built byte for byte
   the same from the same tag and test run;
7. push: the documentation zip, then the verified local files (the bytes whose
   digests the install checked) are uploaded to the non-volatile release index
   by the release user, then the release index's digests must equal the built
   files' and its doc zip ours. Nothing is copied from staging, so a file
   replaced on staging after the verify can never reach the release index.
   Identical bytes re-uploaded are accepted (a re-run resumes); docs of the
   version already there with other bytes (an earlier, interrupted run) are kept.

Every child process gets a scrubbed environment (``devpitools.scrub_env``: no
``DEVPI_*``, ``TWINE_*``, ``PIP_*`` and nothing named like a password, token or
key) and a private ``HOME``; only the two ``twine upload`` runs get the release
user's credentials (``TWINE_USERNAME``/``TWINE_PASSWORD``); the doc zip goes up
from this process (``DevpiAPI.upload_doczip``, basic auth). The build, pip, the
tests and ``release_notes.py`` never see a credential.

Configuration (environment): ``DEVPI_URL`` (default ``http://127.0.0.1:3141``;
``https://`` required except on loopback), ``DEVPI_USER`` (default
``ci-release``, the release user that alone may upload to both indexes),
``DEVPI_PASSWORD`` (required, never printed), ``DEVPI_STAGING_INDEX`` (default
``team/staging``), ``DEVPI_RELEASE_INDEX`` (default ``team/release``),
``RELEASE_TAG`` (optional, like ``--tag``: which release tag at HEAD to
release when the commit carries a candidate and its final).

Exit codes (``ExitCode``): 0 released or already released; 2 configuration or
usage error; 3 guard failed (tree, tag, branch, version); 4 build, ``twine check``
or the release notes failed; 5 devpi unreachable, credentials refused or upload/push refused;
6 verification failed (install from staging or the test suite); 7 the version is
already released with different files.

Importable API (``common_utils_platform.release``; see ``devpitools`` for servers):

- ``run_release(checkout, *, config=, run_tests=True, pytest_args=(), out=)``
  returns a ``ReleaseResult`` (``version``, ``digests``, ``already_released``,
  ``timings``, ``docs_url``, ``docs_files``) or raises ``ReleaseError`` (``code``
  is an ``ExitCode``).
- ``ReleaseConfig(url=, user=, password=, staging_index=, release_index=)`` and
  ``ReleaseConfig.from_env(environ)``.
- ``main(argv, environ=None) -> int``: the command line.

Example:
    >>> config = ReleaseConfig.from_env({"DEVPI_PASSWORD": "s3cret"})
    >>> config.user, config.staging_index, config.release_index, "s3cret" in repr(config)
    ('ci-release', 'team/staging', 'team/release', False)
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import gzip
import hashlib
import html
import io
import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import tempfile
import time
import venv
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO
from urllib.parse import urlsplit

from common_utils_platform.devpitools import (
    DevpiAPI,
    DevpiError,
    clean_pip_env,
    scrub_env,
    sha256_of,
    shown_url,
)
from common_utils_platform.release_rules import (
    RELEASE_TAG_RE,
    ReleaseRuleError,
    check_branch_rule,
    git_branches,
    git_is_ancestor,
    parse_tag,
)

__all__ = ["ExitCode", "ReleaseConfig", "ReleaseError", "ReleaseResult", "main", "run_release"]

PROJECT = "common-utils"
DIST_NAME = "common_utils"
TAG_RE = RELEASE_TAG_RE  # kept for importers; the rules live in release_rules.py
VERIFY_LOCK = Path("requirements") / "verify.lock"
NOTES_SCRIPT = Path("scripts") / "release_notes.py"
NOTES_FILE = "RELEASE_NOTES.md"
# A stdlib-only probe run by the verify venv's interpreter: its sys.path (where the
# installed distributions are) and the PEP 508 marker environment of that interpreter.
_ENV_PROBE = """
import json, os, platform, sys
impl = sys.implementation
v = impl.version
full = f"{v.major}.{v.minor}.{v.micro}"
if v.releaselevel != "final":
    full += f"{v.releaselevel[0]}{v.serial}"
libc = " ".join(platform.libc_ver()).strip()
print(json.dumps({
    "path": sys.path,
    "platform": f"{sys.platform} {platform.machine()}" + (f" ({libc})" if libc else ""),
    "env": {
        "implementation_name": impl.name,
        "implementation_version": full,
        "os_name": os.name,
        "platform_machine": platform.machine(),
        "platform_release": platform.release(),
        "platform_system": platform.system(),
        "platform_version": platform.version(),
        "python_full_version": platform.python_version(),
        "platform_python_implementation": platform.python_implementation(),
        "python_version": ".".join(platform.python_version_tuple()[:2]),
        "sys_platform": sys.platform,
    },
}))
"""
_LOOPBACK_NAMES = frozenset({"localhost"})
_VERSIONISH_RE = re.compile(r"^v?\d+(\.\d+)*")
_VERIFY_PLUGIN = '''
"""Fail the verify run unless the tests imported the installed common_utils."""
import os, sys

def pytest_runtest_logstart(nodeid, location):
    with open(os.environ["_RELEASE_VERIFY_LOG"], "a") as log:
        log.write(nodeid + "\\n")

def pytest_sessionfinish(session, exitstatus):
    module = sys.modules.get("common_utils")
    where = getattr(module, "__file__", None) or "not imported"
    prefix = os.environ["_RELEASE_VERIFY_PREFIX"]
    ok = where.startswith(prefix)
    print(f"\\nverify: tests used common_utils from {where}", file=sys.stderr)
    if not ok and module is not None:
        print("verify: that is not the installed package", file=sys.stderr)
        session.exitstatus = 99
'''


class ExitCode(enum.IntEnum):
    """Exit codes of the release command, one per kind of failure.

    Example:
        >>> int(ExitCode.GUARD), int(ExitCode.TAKEN)
        (3, 7)
    """

    OK = 0
    USAGE = 2
    GUARD = 3
    BUILD = 4
    SERVER = 5
    VERIFY = 6
    TAKEN = 7


class ReleaseError(Exception):
    """Stop the pipeline with a one-line message and an exit code.

    Args:
        message: What went wrong and what to do (never a secret).
        code: The ``ExitCode``.

    Example:
        >>> ex = ReleaseError("working tree is not clean", ExitCode.GUARD)
        >>> ex.code, str(ex)
        (<ExitCode.GUARD: 3>, 'working tree is not clean')
    """

    def __init__(self, message: str, code: ExitCode) -> None:
        super().__init__(message)
        self.code = code


@dataclasses.dataclass(frozen=True)
class ReleaseConfig:
    """Where and as whom the pipeline publishes.

    Example:
        >>> ReleaseConfig(url="http://127.0.0.1:3141", password="pw").user
        'ci-release'
    """

    url: str = "http://127.0.0.1:3141"
    user: str = "ci-release"
    password: str = dataclasses.field(default="", repr=False)
    staging_index: str = "team/staging"
    release_index: str = "team/release"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReleaseConfig:
        """Read ``DEVPI_*`` variables; a bad value names the variable.

        Raises:
            ReleaseError: ``USAGE`` when a variable is missing or malformed.

        Example:
            >>> ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": "https://h:1/"}).url
            'https://h:1'
            >>> ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": "http://h:1"})
            Traceback (most recent call last):
            ...
            common_utils_platform.release.ReleaseError: DEVPI_URL must use https:// (plain http ...
        """
        env = os.environ if environ is None else environ
        password = env.get("DEVPI_PASSWORD", "")
        if not password:
            raise ReleaseError(
                "DEVPI_PASSWORD is not set (the devpi user's password)", ExitCode.USAGE
            )
        url = _check_devpi_url(env.get("DEVPI_URL", cls.url).rstrip("/"))
        values = {"url": url, "password": password}
        for var, field, default in (
            ("DEVPI_USER", "user", cls.user),
            ("DEVPI_STAGING_INDEX", "staging_index", cls.staging_index),
            ("DEVPI_RELEASE_INDEX", "release_index", cls.release_index),
        ):
            value = env.get(var, default).strip("/")
            pattern = r"^[\w.-]+$" if field == "user" else r"^[\w.-]+/[\w.-]+$"
            if not re.match(pattern, value):
                form = "NAME" if field == "user" else "USER/INDEX"
                raise ReleaseError(f"{var} must look like {form}, got {value!r}", ExitCode.USAGE)
            values[field] = value
        if values["staging_index"] == values["release_index"]:
            raise ReleaseError(
                "DEVPI_STAGING_INDEX and DEVPI_RELEASE_INDEX must differ", ExitCode.USAGE
            )
        return cls(**values)

    def simple_url(self, index: str) -> str:
        """Return the pip ``--index-url`` of ``index``.

        Example:
            >>> ReleaseConfig(url="http://h:1").simple_url("team/staging")
            'http://h:1/team/staging/+simple/'
        """
        return f"{self.url}/{index}/+simple/"


def _check_devpi_url(url: str) -> str:
    """Accept ``https://HOST[/PATH]``, and plain ``http://`` only on loopback.

    The password goes to this URL on every request: over plain http anyone on
    the path reads it. Credentials inside the URL, a query and a fragment are
    refused; a message shows the URL without userinfo and query values.
    """
    shown = shown_url(url)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        parts = None
    if parts is None or not re.match(r"^https?://[^/\s]+(/\S*)?$", url):
        raise ReleaseError(
            f"DEVPI_URL must be an https URL such as https://devpi.example.internal, got {shown!r}",
            ExitCode.USAGE,
        )
    if "@" in parts.netloc:
        raise ReleaseError(
            "DEVPI_URL must not carry credentials: put the password in DEVPI_PASSWORD "
            f"(got {shown!r})",
            ExitCode.USAGE,
        )
    if parts.query or parts.fragment:
        raise ReleaseError(
            f"DEVPI_URL must not carry a query or fragment, got {shown!r}", ExitCode.USAGE
        )
    if parts.scheme == "http" and not _is_loopback(parts.hostname or ""):
        raise ReleaseError(
            f"DEVPI_URL must use https:// (plain http only on loopback), got {shown!r}",
            ExitCode.USAGE,
        )
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclasses.dataclass
class ReleaseResult:
    """What a pipeline run did.

    Example:
        >>> ReleaseResult(version="1.4.0").already_released
        False
    """

    version: str
    digests: dict[str, str] = dataclasses.field(default_factory=dict)
    already_released: bool = False
    timings: dict[str, float] = dataclasses.field(default_factory=dict)
    docs_url: str = ""
    docs_files: list[str] = dataclasses.field(default_factory=list)


class _Reporter:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.timings: dict[str, float] = {}

    def say(self, text: str) -> None:
        print(f"release: {text}", file=self.out, flush=True)

    @contextmanager
    def step(self, name: str, doing: str) -> Iterator[list[str]]:
        self.say(f"[{name}] {doing}")
        notes: list[str] = []
        started = time.perf_counter()
        try:
            yield notes
        except BaseException:
            took = time.perf_counter() - started
            self.timings[name] = took
            self.say(f"[{name}] FAILED after {took:.2f} s")
            raise
        took = time.perf_counter() - started
        self.timings[name] = took
        suffix = f": {'; '.join(notes)}" if notes else ""
        self.say(f"[{name}] ok in {took:.2f} s{suffix}")


def _run(
    cmd: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900,
) -> subprocess.CompletedProcess[str]:
    # NOTE: never the parent's environment: it holds DEVPI_PASSWORD (and maybe CI
    # tokens); a child gets the scrubbed one plus what its caller adds.
    return subprocess.run(
        list(cmd),
        cwd=cwd,
        env=scrub_env() if env is None else dict(env),
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


def _git(checkout: Path, *args: str) -> str:
    done = _run(["git", *args], cwd=checkout)
    if done.returncode != 0:
        raise ReleaseError(
            f"git {' '.join(args)} failed in {checkout}: {done.stderr.strip()[:200]}",
            ExitCode.GUARD,
        )
    return done.stdout.strip()


def _tail(done: subprocess.CompletedProcess[str], lines: int = 15) -> str:
    text = (done.stdout or "") + (done.stderr or "")
    return "\n".join(text.strip().splitlines()[-lines:])


def check_guards(checkout: Path, *, tag: str | None = None) -> str:
    """Check the working tree, the tag at HEAD and its branch; return the release version.

    Args:
        checkout: The git working tree.
        tag: The release tag to release (must point at HEAD); ``None``: the
            release tag at HEAD (the final one when a candidate and its final
            share the commit).

    Raises:
        ReleaseError: ``GUARD`` with what is wrong and how to fix it.

    Example:
        >>> check_guards(Path("/"))
        Traceback (most recent call last):
        ...
        common_utils_platform.release.ReleaseError: / is not a git working tree
    """
    inside = _run(["git", "rev-parse", "--is-inside-work-tree"], cwd=checkout)
    if inside.returncode != 0 or inside.stdout.strip() != "true":
        raise ReleaseError(f"{checkout} is not a git working tree", ExitCode.GUARD)
    if _git(checkout, "rev-parse", "--is-shallow-repository") == "true":
        raise ReleaseError(
            "shallow clone: the version comes from the full history; "
            "run `git fetch --unshallow --tags` (CI: fetch-depth: 0)",
            ExitCode.GUARD,
        )
    status = _git(checkout, "status", "--porcelain", "--untracked-files=all")
    if status:
        changed = [line[3:] for line in status.splitlines()]
        shown = ", ".join(changed[:5]) + (" ..." if len(changed) > 5 else "")
        raise ReleaseError(
            f"working tree is not clean ({len(changed)} changed or untracked file(s): {shown}); "
            "commit or remove them and tag again",
            ExitCode.GUARD,
        )
    chosen = select_tag(checkout, tag)
    version = str(parse_tag(chosen))
    _check_pep440(version)
    check_branch(checkout, chosen)
    return version


def select_tag(checkout: Path, tag: str | None = None) -> str:
    """Return the release tag at HEAD to release (see ``check_guards``).

    Raises:
        ReleaseError: ``GUARD``: no release tag at HEAD, ``tag`` is not at HEAD
            or not a release tag, or HEAD carries two final release tags.

    Example:
        >>> callable(select_tag)
        True
    """
    tags = _git(checkout, "tag", "--points-at", "HEAD").split()
    if tag is not None:
        try:
            parse_tag(tag)
        except ReleaseRuleError as ex:
            raise ReleaseError(str(ex), ExitCode.GUARD) from None
        if tag not in tags:
            raise ReleaseError(
                f"tag {tag} does not point at HEAD: check out the tag to release",
                ExitCode.GUARD,
            )
        return tag
    strict = sorted((parse_tag(t) for t in tags if RELEASE_TAG_RE.fullmatch(t)), reverse=True)
    if not strict:
        raise ReleaseError(_no_tag_message(checkout, tags), ExitCode.GUARD)
    finals = [v.tag for v in strict if not v.is_prerelease]
    if len(finals) > 1:
        raise ReleaseError(
            f"HEAD carries several release tags ({', '.join(sorted(finals))}): "
            "one commit, one version",
            ExitCode.GUARD,
        )
    return strict[0].tag


def check_branch(checkout: Path, tag: str) -> str:
    """Check that HEAD is on ``main`` or the tag's ``release/X.Y``; return that branch.

    Uses the remote-tracking branches of ``origin`` when the clone has any (CI,
    the hook's fresh clone), else the local branches.

    Raises:
        ReleaseError: ``GUARD`` with the rule's one-line reason.

    Example:
        >>> callable(check_branch)
        True
    """
    git_dir = _git(checkout, "rev-parse", "--absolute-git-dir")
    branches = git_branches(git_dir, remote="origin")
    where = "origin/"
    if not branches:
        branches, where = git_branches(git_dir), ""
    if not branches:
        raise ReleaseError(
            "no main or release/X.Y branch in this clone to check the tag against: fetch them "
            "(git fetch origin '+refs/heads/main:refs/remotes/origin/main' "
            "'+refs/heads/release/*:refs/remotes/origin/release/*')",
            ExitCode.GUARD,
        )
    head = _git(checkout, "rev-parse", "HEAD")
    try:
        branch = check_branch_rule(parse_tag(tag), head, branches, git_is_ancestor(git_dir))
    except ReleaseRuleError as ex:
        raise ReleaseError(f"{ex} [{where or 'local '}branches]", ExitCode.GUARD) from None
    return where + branch


def _no_tag_message(checkout: Path, tags: list[str]) -> str:
    near = [t for t in tags if _VERSIONISH_RE.match(t)]
    if near:
        return (
            f"tag {near[0]!r} at HEAD is not a release tag: releases are tagged vX.Y.Z, "
            "candidates vX.Y.ZrcN (for example v1.4.0, v1.5.0rc1)"
        )
    described = _run(
        ["git", "describe", "--tags", "--match", "v[0-9]*.[0-9]*.[0-9]*", "--long"], cwd=checkout
    )
    hint = ""
    if described.returncode == 0:
        tag, ahead, _ = described.stdout.strip().rsplit("-", 2)
        hint = f" (the nearest release tag {tag} is {ahead} commit(s) behind HEAD)"
    return (
        f"HEAD is not at a release tag{hint}: tag the commit to release with "
        "`git tag vX.Y.Z` and run the release from it"
    )


def _check_pep440(version: str) -> None:
    from packaging.version import InvalidVersion, Version

    try:
        parsed = Version(version)
    except InvalidVersion:
        raise ReleaseError(f"{version!r} is not a PEP 440 version", ExitCode.GUARD) from None
    if str(parsed) != version or parsed.local is not None:
        raise ReleaseError(
            f"{version!r} is not a canonical PEP 440 version without local part "
            f"(canonical: {parsed.public})",
            ExitCode.GUARD,
        )


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
    checkout: Path, version: str, workdir: Path, *, tag: str | None = None
) -> tuple[Path, list[Path]]:
    """Build sdist and wheel from a fresh clone of HEAD; check them with twine.

    In the clone, ``tag`` (default ``v<version>``) is the only tag at HEAD, so
    setuptools-scm cannot pick a sibling (``v1.6.0rc1`` beside ``v1.6.0``).
    The build runs without any credential in its environment (it executes the
    project's build backend and ``setup.py``). Returns ``(clone, files)``.

    Raises:
        ReleaseError: ``BUILD`` on a failed build or check, ``GUARD`` when the
            built version is not the tag's.

    Example:
        >>> callable(build)
        True
    """
    head = _git(checkout, "rev-parse", "HEAD")
    clone = workdir / "src"
    _git(workdir, "clone", "--quiet", "--no-checkout", str(checkout.resolve()), str(clone))
    _git(clone, "checkout", "--quiet", "--detach", head)
    keep = tag or f"v{version}"
    for other in _git(clone, "tag", "--points-at", "HEAD").split():
        if other != keep:
            _git(clone, "tag", "-d", other)
    epoch = _git(clone, "log", "-1", "--format=%ct", "HEAD")
    dist = workdir / "dist"
    env = {**_private_env(workdir), "SOURCE_DATE_EPOCH": epoch, "PYTHONWARNINGS": "ignore"}
    done = _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(clone)],
        env=env,
    )
    if done.returncode != 0:
        raise ReleaseError(f"python -m build failed:\n{_tail(done)}", ExitCode.BUILD)
    files = sorted(dist.iterdir())
    expected = {f"{DIST_NAME}-{version}.tar.gz", f"{DIST_NAME}-{version}-py3-none-any.whl"}
    names = {f.name for f in files}
    if names != expected:
        raise ReleaseError(
            f"built {', '.join(sorted(names))}, expected version {version} from the tag "
            "(is setuptools-scm configured for vX.Y.Z tags?)",
            ExitCode.GUARD,
        )
    for f in files:
        if f.name.endswith(".tar.gz"):
            _normalize_sdist(f, int(epoch))
    check = _run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, files)],
        env=_private_env(workdir),
    )
    if check.returncode != 0:
        raise ReleaseError(f"twine check --strict failed:\n{_tail(check)}", ExitCode.BUILD)
    return clone, files


def _private_env(workdir: Path, *, pip: bool = False) -> dict[str, str]:
    """Return a scrubbed environment with a private, empty ``HOME``.

    No credential variable, no ``~/.netrc``, ``~/.pypirc`` or pip/twine config
    of the person or CI user running the release; ``pip=True`` also disables
    pip's configuration files and keyring lookups.
    """
    home = workdir / "home"
    home.mkdir(mode=0o700, exist_ok=True)
    env = scrub_env()
    if pip:
        env = clean_pip_env(env)
        env["PIP_KEYRING_PROVIDER"] = "disabled"
    env.update({"HOME": str(home), "NETRC": os.devnull, "XDG_CONFIG_HOME": str(home / ".config")})
    return env


def _upload(config: ReleaseConfig, files: list[Path], index: str, workdir: Path) -> None:
    """``twine upload`` ``files`` to ``index``: the only process given the password."""
    env = {
        **_private_env(workdir, pip=True),
        "TWINE_USERNAME": config.user,
        "TWINE_PASSWORD": config.password,
        "TWINE_NON_INTERACTIVE": "1",
    }
    done = _run(
        [
            sys.executable,
            "-m",
            "twine",
            "upload",
            "--disable-progress-bar",
            "--repository-url",
            f"{config.url}/{index}/",
            *map(str, files),
        ],
        env=env,
    )
    if done.returncode != 0:
        text = _tail(done, 6)
        code = ExitCode.TAKEN if " 409 " in text or "409 Conflict" in text else ExitCode.SERVER
        raise ReleaseError(f"twine upload to {index} failed:\n{text}", code)


def _verify_requirements(
    version: str, digests: Mapping[str, str], clone: Path, workdir: Path
) -> Path:
    """Write the verify step's hashed requirements: the built files and the tag's lock."""
    lock = clone / VERIFY_LOCK
    if not lock.is_file():
        raise ReleaseError(
            f"{VERIFY_LOCK} is missing in the tagged commit: the verify step installs "
            "only hash-pinned requirements (see docs/release.md)",
            ExitCode.VERIFY,
        )
    hashes = " ".join(f"--hash=sha256:{digest}" for _, digest in sorted(digests.items()))
    path = workdir / "verify-requirements.txt"
    path.write_text(f"{PROJECT}=={version} {hashes}\n-r {lock}\n")
    return path


def runtime_dependencies(
    path: Sequence[str], environment: Mapping[str, str], root: str = PROJECT
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
    python: Path,
    env: Mapping[str, str],
    *,
    version: str,
    commit: str,
    passed: str,
    cwd: Path,
) -> tuple[str, str]:
    """Return ``(file name, text)`` of the constraints the verify venv of ``python`` passed with.

    The header says what it is for (version, tag commit, Python, platform, what
    passed); the body is one ``name==version`` line per runtime dependency
    (``runtime_dependencies`` in that venv). The same venv gives the same bytes:
    no date or duration is written.

    Raises:
        ReleaseError: ``VERIFY`` when the venv's interpreter cannot be asked.

    Example:
        >>> callable(constraints_file)
        True
    """
    probe = _run([str(python), "-I", "-c", _ENV_PROBE], cwd=cwd, env=env, timeout=60)
    try:
        info = json.loads(probe.stdout)
        environment: dict[str, str] = dict(info["env"])
    except (ValueError, KeyError, TypeError):
        raise ReleaseError(
            f"cannot read the verify environment's markers: {_tail(probe, 3)}", ExitCode.VERIFY
        ) from None
    pins = runtime_dependencies(info["path"], environment)
    short = environment["python_version"]
    name = f"constraints-py{short}.txt"
    header = [
        f"# {PROJECT} {version}: the exact runtime dependencies its release was verified with.",
        f"# tag v{version}, commit {commit}",
        f"# Python {environment['python_full_version']} "
        f"({environment['platform_python_implementation']}), platform {info['platform']}",
        f"# verify: {passed}",
        f"# apply: pip install -c {name} ... | uv pip compile -c {name} ...",
    ]
    return name, "\n".join([*header, *(f"{n}=={v}" for n, v in pins.items())]) + "\n"


def _passed(summary: str) -> str:
    """Return pytest's counts without the duration: ``"646 passed, 3 skipped"``."""
    counts = re.findall(
        r"(\d+ (?:passed|failed|skipped|xfailed|xpassed|deselected|errors?))", summary
    )
    return ", ".join(counts) or "no test ran"


def verify(
    config: ReleaseConfig,
    version: str,
    clone: Path,
    workdir: Path,
    *,
    run_tests: bool = True,
    pytest_args: Sequence[str] = (),
    timeout: float = 900,
    digests: Mapping[str, str] | None = None,
    constraints_dir: Path | None = None,
) -> str:
    """Install the staged release into a fresh venv and run the tests against it.

    ``digests`` (``{filename: sha256}`` of the built files) pins the install to
    exactly those bytes; everything else comes from the tag's
    ``requirements/verify.lock`` with ``--require-hashes``, wheels only. Neither
    pip nor the tests see any credential. After the tests passed, the venv's
    runtime dependencies of common-utils are written to
    ``constraints_dir/constraints-pyX.Y.txt`` (``constraints_file``) when
    ``constraints_dir`` is given. Returns a short note (where it was installed,
    how the tests went).

    Raises:
        ReleaseError: ``VERIFY`` when the install or the tests fail.

    Example:
        >>> callable(verify)
        True
    """
    env_dir = workdir / "venv"
    # NOTE: pip inside the venv only when tests run (some call `python -m pip`);
    # the install itself uses this interpreter's pip with --python.
    venv.create(env_dir, with_pip=run_tests, symlinks=True)
    python = env_dir / "bin" / "python"
    index = config.simple_url(config.staging_index)
    env = {**_private_env(workdir, pip=True), "PIP_INDEX_URL": index}
    requirement = f"{PROJECT}=={version}"
    if digests is None:
        raise ReleaseError("verify needs the built files' digests", ExitCode.USAGE)
    reqs = _verify_requirements(version, digests, clone, workdir)
    # NOTE: --index-url only (never --extra-index-url): everything, dependencies
    # included, resolves through devpi, as it will for the services; every file
    # must match a hash (the built files' own for common-utils), and only wheels
    # are accepted, so no sdist's setup code runs here.
    done = _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-cache-dir",
            "--require-hashes",
            "--only-binary",
            ":all:",
            "--index-url",
            index,
            "-r",
            str(reqs),
        ],
        env=env,
    )
    if done.returncode != 0:
        raise ReleaseError(
            f"pip install {requirement} from {config.staging_index} failed:\n{_tail(done, 8)}",
            ExitCode.VERIFY,
        )
    probe = _run(
        [
            str(python),
            "-I",
            "-c",
            "import common_utils; print(common_utils.__version__); print(common_utils.__file__)",
        ],
        cwd=workdir,
        env=env,
    )
    lines = probe.stdout.split()
    if probe.returncode != 0 or len(lines) != 2 or lines[0] != version:
        raise ReleaseError(
            f"the installed package does not report {version}: {_tail(probe, 3)}", ExitCode.VERIFY
        )
    prefix = str(env_dir.resolve())
    if not str(Path(lines[1]).resolve()).startswith(prefix):
        raise ReleaseError(f"imported common_utils from {lines[1]}, not the venv", ExitCode.VERIFY)
    commit = _git(clone, "rev-parse", "HEAD")

    def write_constraints(passed: str) -> str:
        if constraints_dir is None:
            return ""
        name, text = constraints_file(
            python, env, version=version, commit=commit, passed=passed, cwd=workdir
        )
        constraints_dir.mkdir(parents=True, exist_ok=True)
        (constraints_dir / name).write_text(text)
        count = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        return f"; {name}: {count} runtime dependencies"

    selection = " ".join(pytest_args) or "tests/ without tests/e2e"
    if not run_tests:
        return f"installed {requirement} (tests skipped)" + write_constraints(
            f"installed from {config.staging_index} with --require-hashes; tests skipped"
        )
    # The plugin is a module of the verify venv's own site-packages: no search path is
    # set for the tests (they see the venv exactly as a service would).
    purelib = _run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], env=env
    )
    if purelib.returncode != 0:
        raise ReleaseError(
            f"the verify venv has no site-packages:\n{_tail(purelib)}", ExitCode.VERIFY
        )
    (Path(purelib.stdout.strip()) / "_release_verify.py").write_text(_VERIFY_PLUGIN)
    run_dir = workdir / "run"
    run_dir.mkdir()
    test_env = {
        **env,
        "_RELEASE_VERIFY_PREFIX": str(env_dir),
        "_RELEASE_VERIFY_LOG": str(workdir / "verify.log"),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # NOTE: importlib import mode and a cwd outside the clone keep the source tree's
    # common_utils/ off sys.path; the plugin proves which copy the tests imported.
    cmd = [
        str(python),
        "-m",
        "pytest",
        "-p",
        "_release_verify",
        "-p",
        "no:cacheprovider",
        "--import-mode=importlib",
        "--rootdir",
        str(clone),
        "-c",
        str(clone / "pyproject.toml"),
        "-m",
        "not e2e",
        "-q",
        *(
            [arg.replace("{clone}", str(clone)) for arg in pytest_args]
            or [str(clone / "tests"), "--ignore", str(clone / "tests" / "e2e")]
        ),
    ]
    try:
        tests = _run(cmd, cwd=run_dir, env=test_env, timeout=timeout)
    except subprocess.TimeoutExpired:
        log = workdir / "verify.log"
        started = (log.read_text().splitlines() if log.exists() else []) or ["(none)"]
        raise ReleaseError(
            f"the test suite did not finish within {timeout:.0f} s; last test started: "
            f"{started[-1]}",
            ExitCode.VERIFY,
        ) from None
    summary = (tests.stdout.strip().splitlines() or [""])[-1]
    if tests.returncode != 0:
        raise ReleaseError(
            f"the test suite failed against the staged {requirement} "
            f"(pytest exit {tests.returncode}):\n{_tail(tests, 25)}",
            ExitCode.VERIFY,
        )
    passed = (
        f"{_passed(summary)} ({selection}, -m 'not e2e') against the wheel installed "
        f"from {config.staging_index} with --require-hashes"
    )
    return f"installed {requirement}; tests: {summary.strip('= ')}" + write_constraints(passed)


def release_notes(clone: Path, version: str, workdir: Path) -> tuple[str, str]:
    """Return the notes of ``vX.Y.Z`` from the tagged clone, and a line to show, if any.

    Runs ``python scripts/release_notes.py vX.Y.Z --fallback-draft`` in ``clone``
    (scrubbed environment, private ``HOME``) with the tag's date as the date of a
    rendered heading, so a re-run renders the same text. The committed
    ``CHANGELOG.md`` section when there is one, else the pending fragments: then
    the script's one line (which recommends ``--write`` before tagging) is
    returned to be shown. A tagged commit without the script gets notes saying so.

    Raises:
        ReleaseError: ``BUILD`` when the script fails (towncrier missing or a
            broken fragment configuration).

    Example:
        >>> release_notes(Path("/nonexistent"), "1.4.0", Path("/tmp"))[1]
        'no scripts/release_notes.py in the tagged commit: the published notes say so'
    """
    tag = f"v{version}"
    script = clone / NOTES_SCRIPT
    if not script.is_file():
        return (
            f"## [{version}]\n\nThe tagged commit has no `{NOTES_SCRIPT}`: "
            "no release notes were generated for it.\n",
            f"no {NOTES_SCRIPT} in the tagged commit: the published notes say so",
        )
    date = _git(clone, "for-each-ref", "--format=%(creatordate:short)", f"refs/tags/{tag}")
    output = workdir / NOTES_FILE
    done = _run(
        [
            sys.executable,
            str(script),
            tag,
            "--fallback-draft",
            "--date",
            date or _git(clone, "log", "-1", "--format=%cs", "HEAD"),
            "--output",
            str(output),
        ],
        cwd=clone,
        env={**_private_env(workdir), "PYTHONWARNINGS": "ignore"},
        timeout=300,
    )
    if done.returncode != 0 or not output.is_file():
        raise ReleaseError(f"{NOTES_SCRIPT} {tag} failed:\n{_tail(done, 4)}", ExitCode.BUILD)
    said = [line for line in done.stderr.splitlines() if line.startswith("release_notes: ")]
    return output.read_text(encoding="utf-8"), said[0][len("release_notes: ") :] if said else ""


def _notes_html(version: str, notes: str, names: Sequence[str]) -> str:
    """Render the notes as a small HTML page listing the zip's files (raw HTML escaped)."""
    try:
        from markdown_it import MarkdownIt

        body = MarkdownIt("commonmark", {"html": False}).render(notes)
    except ImportError:  # pragma: no cover - markdown-it-py is in requirements/release.lock
        body = f"<pre>{html.escape(notes)}</pre>\n"
    title = html.escape(f"{PROJECT} {version}: release notes")
    links = "\n".join(f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in names)
    return (
        f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{title}</title>'
        f"</head>\n<body>\n<h1>{title}</h1>\n<ul>\n{links}\n</ul>\n{body}</body>\n</html>\n"
    )


def docs_zip(version: str, notes: str, constraints: Mapping[str, str], *, epoch: int) -> bytes:
    r"""Return the release's documentation zip: ``index.html``, the notes, the constraints.

    Built byte for byte the same from the same input (sorted entries, stored
    uncompressed, every timestamp the tag commit's ``epoch``, fixed modes), so
    a re-run uploads identical bytes, which a non-volatile devpi index accepts.

    Example:
        >>> one = docs_zip("1.4.0", "## [1.4.0]\n", {"constraints-py3.11.txt": "a==1\n"}, epoch=0)
        >>> one == docs_zip("1.4.0", "## [1.4.0]\n", {"constraints-py3.11.txt": "a==1\n"}, epoch=0)
        True
        >>> zipfile.ZipFile(io.BytesIO(one)).namelist()
        ['RELEASE_NOTES.md', 'constraints-py3.11.txt', 'index.html']
    """
    names = [NOTES_FILE, *sorted(constraints)]
    files = {NOTES_FILE: notes, **constraints, "index.html": _notes_html(version, notes, names)}
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip dates start in 1980
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name].encode("utf-8"))
    return buf.getvalue()


def _publish_docs(
    config: ReleaseConfig, api: DevpiAPI, version: str, docs: bytes
) -> tuple[str, str]:
    """Upload the doc zip to the release index as the release user; return (URL, note).

    Identical bytes already there are fine (devpi answers 200); other docs of the
    version already there (a non-volatile index keeps them: 409) came from an
    earlier, interrupted run of the pipeline for these very files, and are kept.
    """
    digest = hashlib.sha256(docs).hexdigest()
    try:
        status = api.upload_doczip(config.release_index, PROJECT, version, docs)
        link = api.doczip_link(config.release_index, PROJECT, version)
    except DevpiError as ex:
        raise ReleaseError(str(ex), ExitCode.SERVER) from None
    if link is None or (status == 200 and link["sha256"] != digest):
        raise ReleaseError(
            f"{config.release_index} does not hold the uploaded docs of {PROJECT} {version}",
            ExitCode.SERVER,
        )
    if status == 409:
        return link["href"], (
            f"docs: {config.release_index} already holds other docs of {version} "
            f"(sha256:{link['sha256'][:12]}, an earlier run's): kept"
        )
    return link["href"], f"docs sha256:{digest[:12]}"


def _publish(
    config: ReleaseConfig,
    api: DevpiAPI,
    version: str,
    files: list[Path],
    workdir: Path,
    docs: bytes | None = None,
) -> tuple[dict[str, str], str, str]:
    """Upload the docs and the verified files to the release index.

    Returns the release index's digests after, the docs' URL and a note on them.

    NOTE: not ``devpi push``: a push copies whatever staging holds at that moment,
    and anyone who could upload to staging could swap the file between the verify
    and the push. These are the very bytes the verify step installed (pip checked
    their sha256), uploaded by the release user. Re-uploading an identical file
    to the non-volatile index is a no-op (HTTP 200), so an interrupted run resumes.
    The docs go first: once pip can see the files, the notes and constraints are
    there too.
    """
    built = {f.name: sha256_of(f) for f in files}
    try:
        before = api.release_digests(config.release_index, PROJECT, version)
    except DevpiError as ex:
        raise ReleaseError(str(ex), ExitCode.SERVER) from None
    _check_no_conflict(config, version, before, built)
    docs_url, docs_note = (
        ("", "no docs") if docs is None else _publish_docs(config, api, version, docs)
    )
    _upload(config, files, config.release_index, workdir)
    try:
        return api.release_digests(config.release_index, PROJECT, version), docs_url, docs_note
    except DevpiError as ex:
        raise ReleaseError(str(ex), ExitCode.SERVER) from None


def _check_no_conflict(
    config: ReleaseConfig, version: str, released: Mapping[str, str], built: Mapping[str, str]
) -> None:
    """Refuse when the release index holds a file of this version that is not ours."""
    foreign = sorted(name for name, digest in released.items() if built.get(name) != digest)
    if foreign:
        raise ReleaseError(
            f"{PROJECT} {version} is already released on {config.release_index} with "
            f"different files ({', '.join(foreign)}); a released version never changes: "
            "tag a new version",
            ExitCode.TAKEN,
        )


def run_release(
    checkout: Path,
    *,
    config: ReleaseConfig | None = None,
    run_tests: bool = True,
    pytest_args: Sequence[str] = (),
    verify_timeout: float = 900,
    out: TextIO | None = None,
    tag: str | None = None,
) -> ReleaseResult:
    """Run the whole pipeline for the tag at HEAD of ``checkout``.

    Args:
        checkout: A git working tree of this project.

    Keyword Args:
        config: Server and credentials (default: ``ReleaseConfig.from_env()``).
        run_tests: Run the test suite in the verify step (``False`` only for
            benchmarks and demos: the install from staging is still checked).
        pytest_args: Replace the default test selection (the clone's ``tests/``
            without ``tests/e2e``); ``{clone}`` in an argument stands for the
            clone of the tag the package was built from.
        verify_timeout: Seconds the test suite may take.
        out: Where progress lines go (default ``sys.stdout``).
        tag: The release tag at HEAD to release (default: the one there is;
            the final when a candidate shares the commit).

    Raises:
        ReleaseError: A step failed; ``ex.code`` is the ``ExitCode``.

    Example:
        >>> run_release(Path("/"), config=ReleaseConfig(password="pw"))
        Traceback (most recent call last):
        ...
        common_utils_platform.release.ReleaseError: / is not a git working tree
    """
    config = config or ReleaseConfig.from_env()
    report = _Reporter(out or sys.stdout)
    checkout = Path(checkout)
    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        workdir = Path(tmp)
        with report.step("guards", f"checking {checkout}") as notes:
            version = check_guards(checkout, tag=tag)
            branch = check_branch(checkout, f"v{version}")
            kind = "release candidate" if parse_tag(f"v{version}").is_prerelease else "release"
            notes.append(f"HEAD is at v{version} ({kind}) on {branch}, clean, full history")
        result = ReleaseResult(version=version, timings=report.timings)
        with report.step("build", "python -m build (sdist + wheel) and twine check") as notes:
            clone, files = build(checkout, version, workdir, tag=f"v{version}")
            result.digests = {f.name: sha256_of(f) for f in files}
            notes.append(", ".join(f"{n} sha256:{d[:12]}" for n, d in result.digests.items()))
        api = DevpiAPI(config.url, user=config.user, password=config.password)
        with report.step("login", f"logging in to {config.url} as {config.user}") as notes:
            try:
                api.login()
                released = api.release_digests(config.release_index, PROJECT, version)
            except DevpiError as ex:
                raise ReleaseError(str(ex), ExitCode.SERVER) from None
            _check_no_conflict(config, version, released, result.digests)
            if released == result.digests:
                notes.append(f"{PROJECT} {version} is already released with identical files")
                try:
                    link = api.doczip_link(config.release_index, PROJECT, version)
                except DevpiError as ex:
                    raise ReleaseError(str(ex), ExitCode.SERVER) from None
                result.docs_url = link["href"] if link else ""
            elif released:
                notes.append(f"{len(released)} of {len(result.digests)} file(s) released: resuming")
        if released == result.digests:
            report.say(f"already released: {PROJECT}=={version} on {config.release_index}")
            if result.docs_url:
                report.say(f"release notes and constraints: {result.docs_url}")
            result.already_released = True
            return result
        with report.step("upload", f"twine upload to {config.staging_index}"):
            _upload(config, files, config.staging_index, workdir)
        with report.step(
            "verify", f"fresh venv, pip install {PROJECT}=={version} from {config.staging_index}"
        ) as notes:
            notes.append(
                verify(
                    config,
                    version,
                    clone,
                    workdir,
                    run_tests=run_tests,
                    pytest_args=pytest_args,
                    timeout=verify_timeout,
                    digests=result.digests,
                    constraints_dir=workdir / "constraints",
                )
            )
        with report.step(
            "notes", f"python {NOTES_SCRIPT} v{version} --fallback-draft; the docs zip"
        ) as notes:
            text, said = release_notes(clone, version, workdir)
            if said:
                report.say(f"notes: {said}")
            constraints = {
                path.name: path.read_text()
                for path in sorted((workdir / "constraints").glob("constraints-py*.txt"))
            }
            epoch = int(_git(clone, "log", "-1", "--format=%ct", "HEAD"))
            docs = docs_zip(version, text, constraints, epoch=epoch)
            result.docs_files = sorted([NOTES_FILE, "index.html", *constraints])
            notes.append(f"{PROJECT}-{version}.doc.zip: {', '.join(result.docs_files)}")
        with report.step(
            "push", f"upload the docs and the verified files to {config.release_index}"
        ) as notes:
            pushed, result.docs_url, docs_note = _publish(
                config, api, version, files, workdir, docs
            )
            if pushed != result.digests:
                raise ReleaseError(
                    f"{config.release_index} does not hold the built files after the push",
                    ExitCode.SERVER,
                )
            notes.append(f"{len(pushed)} file(s), digests match; {docs_note}")
        report.say(
            f"released {PROJECT}=={version}: pip install --index-url "
            f"{config.simple_url(config.release_index)} {PROJECT}=={version}"
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
        help="arguments replacing the default test selection of the verify step",
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as ex:
        return int(ex.code or 0) and int(ExitCode.USAGE)
    try:
        env = os.environ if environ is None else environ
        config = ReleaseConfig.from_env(env)
        run_release(
            args.checkout,
            config=config,
            run_tests=not args.skip_tests,
            pytest_args=shlex.split(args.pytest_args),
            tag=args.tag or env.get("RELEASE_TAG") or None,
        )
    except ReleaseError as ex:
        print(
            f"release failed ({ex.code.name.lower()}, exit {int(ex.code)}): {ex}", file=sys.stderr
        )
        return int(ex.code)
    except subprocess.TimeoutExpired as ex:
        print(f"release failed (timeout): {ex.cmd[0]} took too long", file=sys.stderr)
        return int(ExitCode.VERIFY)
    except KeyboardInterrupt:
        print("release interrupted", file=sys.stderr)
        return 130
    return int(ExitCode.OK)


if __name__ == "__main__":
    sys.exit(main())
