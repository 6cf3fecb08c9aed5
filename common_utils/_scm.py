"""Version of a raw source checkout, computed from its git tags.

Used when the package is imported straight from a git checkout (the git
submodule approach), where neither installed metadata nor the generated
``_version.py`` exist. The rules match the setuptools-scm configuration in
``pyproject.toml``: only release tags ``vX.Y.Z`` and ``vX.Y.ZrcN`` count, a commit past the tag or
a dirty tree gives a ``.devN`` version with a local part, anything unexpected
gives ``0+unknown``. It never raises.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

UNKNOWN_VERSION = "0+unknown"

# Same selection as [tool.setuptools_scm.scm.git] describe_command: release tags
# vX.Y.Z and vX.Y.ZrcN only (the rules live in devpi/release_rules.py).
_DESCRIBE = (
    "git",
    "describe",
    "--dirty",
    "--tags",
    "--long",
    "--match",
    "v[0-9]*.[0-9]*.[0-9]*",
    "--exclude",
    "v*[!0-9.rc]*",
    "--exclude",
    "v*.*.*.*",
    "--exclude",
    "v*[!0-9]",
    "--exclude",
    "v*r*r*",
    "--exclude",
    "v*c*c*",
    "--exclude",
    "v*c*r*",
    "--exclude",
    "v*r[!c]*",
    "--exclude",
    "v*[!r]c*",
    "--exclude",
    "v*rc*.*",
    "--exclude",
    "v*rc0*",
    "--exclude",
    "v0[0-9]*",
    "--exclude",
    "v*.0[0-9]*",
)
_NUM = r"(?:0|[1-9][0-9]*)"
_DESCRIBE_OUTPUT = re.compile(
    rf"^v(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})(?:rc(?P<rc>[1-9][0-9]*))?"
    r"-(?P<distance>[0-9]+)-g(?P<node>[0-9a-f]+)(?P<dirty>-dirty)?$"
)


def version_from_describe(described: str) -> str:
    """Turn ``git describe --long --dirty`` output into a PEP 440 version.

    Args:
        described: One line such as ``v1.4.0-0-g1a2b3c4``.

    Returns:
        ``1.4.0`` exactly at a clean tag; ``1.4.1.dev3+g1a2b3c4`` past it
        (``.dirty`` appended to the local part for a dirty tree); for a release
        candidate ``1.6.0rc1`` at the tag and ``1.6.0rc2.dev3+g1a2b3c4`` past it
        (setuptools-scm's guess-next-dev bumps the last number); ``0+unknown``
        when the line is not in that form.

    Examples:
        >>> version_from_describe("v1.4.0-0-g1a2b3c4")
        '1.4.0'
        >>> version_from_describe("v1.4.0-3-g1a2b3c4")
        '1.4.1.dev3+g1a2b3c4'
        >>> version_from_describe("v1.6.0rc1-0-g1a2b3c4")
        '1.6.0rc1'
    """
    match = _DESCRIBE_OUTPUT.match(described.strip())
    if match is None:
        return UNKNOWN_VERSION
    major, minor, patch = (int(match[part]) for part in ("major", "minor", "patch"))
    distance = int(match["distance"])
    dirty = match["dirty"] is not None
    rc = None if match["rc"] is None else int(match["rc"])
    if distance == 0 and not dirty:
        return f"{major}.{minor}.{patch}" + ("" if rc is None else f"rc{rc}")
    local = f"g{match['node']}" + (".dirty" if dirty else "")
    following = (
        f"{major}.{minor}.{patch + 1}" if rc is None else f"{major}.{minor}.{patch}rc{rc + 1}"
    )
    return f"{following}.dev{distance}+{local}"


def git_output(root: Path, *args: str) -> str | None:
    """Run ``git ARGS`` in the checkout ``root`` itself and return its stripped stdout.

    Git's search for a ``.git`` stops at ``root``: a copy of the sources inside
    another repository must not borrow that repository's tags or commits.

    Args:
        root: The checkout's top directory.
        *args: The git subcommand and its arguments (a fixed argv, no shell).

    Returns:
        The output, or ``None`` when git is missing, times out or fails.

    Examples:
        >>> git_output(Path("/nonexistent"), "rev-parse", "HEAD") is None
        True
    """
    env = dict(os.environ)
    env["GIT_CEILING_DIRECTORIES"] = str(root.parent)
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            ("git", *args),  # noqa: S607 - git from PATH, as the developer runs it
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip()


def version_from_git(root: Path | None = None) -> str:
    """Compute the version of the checkout that holds this package.

    Args:
        root: The checkout's top directory; defaults to the parent of the
            ``common_utils`` package directory.

    Returns:
        The version, or ``0+unknown`` when ``root`` is not itself a git
        checkout, git is missing, or no strict ``vX.Y.Z`` tag is reachable.

    Examples:
        >>> version_from_git(Path("/nonexistent"))
        '0+unknown'
    """
    top = root if root is not None else Path(__file__).resolve().parent.parent
    described = git_output(top, *_DESCRIBE[1:])
    if described is None:
        return UNKNOWN_VERSION
    return version_from_describe(described)
