"""Version of a raw source checkout, computed from its git tags.

Used when the package is imported straight from a git checkout (the git
submodule approach), where neither installed metadata nor the generated
``_version.py`` exist. The rules match the setuptools-scm configuration in
``pyproject.toml``: only strict ``vX.Y.Z`` tags count, a commit past the tag or
a dirty tree gives a ``.devN`` version with a local part, anything unexpected
gives ``0+unknown``. It never raises.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

UNKNOWN_VERSION = "0+unknown"

# Same selection as [tool.setuptools_scm.scm.git] describe_command.
_DESCRIBE = (
    "git",
    "describe",
    "--dirty",
    "--tags",
    "--long",
    "--match",
    "v[0-9]*.[0-9]*.[0-9]*",
    "--exclude",
    "v*[!0-9.]*",
    "--exclude",
    "v*.*.*.*",
)
_DESCRIBE_OUTPUT = re.compile(
    r"^v(?P<major>\d+)\.(?P<minor>\d+)\.(?P<patch>\d+)"
    r"-(?P<distance>\d+)-g(?P<node>[0-9a-f]+)(?P<dirty>-dirty)?$"
)


def version_from_describe(described: str) -> str:
    """Turn ``git describe --long --dirty`` output into a PEP 440 version.

    Args:
        described: One line such as ``v1.4.0-0-g1a2b3c4``.

    Returns:
        ``1.4.0`` exactly at a clean tag; ``1.4.1.dev3+g1a2b3c4`` past it
        (``.dirty`` appended to the local part for a dirty tree); ``0+unknown``
        when the line is not in that form.

    Example:
        >>> version_from_describe("v1.4.0-0-g1a2b3c4")
        '1.4.0'
        >>> version_from_describe("v1.4.0-3-g1a2b3c4")
        '1.4.1.dev3+g1a2b3c4'
    """
    match = _DESCRIBE_OUTPUT.match(described.strip())
    if match is None:
        return UNKNOWN_VERSION
    major, minor, patch = (int(match[part]) for part in ("major", "minor", "patch"))
    distance = int(match["distance"])
    dirty = match["dirty"] is not None
    if distance == 0 and not dirty:
        return f"{major}.{minor}.{patch}"
    local = f"g{match['node']}" + (".dirty" if dirty else "")
    return f"{major}.{minor}.{patch + 1}.dev{distance}+{local}"


def version_from_git(root: Path | None = None) -> str:
    """Compute the version of the checkout that holds this package.

    Args:
        root: The checkout's top directory; defaults to the parent of the
            ``common_utils`` package directory.

    Returns:
        The version, or ``0+unknown`` when ``root`` is not itself a git
        checkout, git is missing, or no strict ``vX.Y.Z`` tag is reachable.

    Example:
        >>> version_from_git(Path("/nonexistent"))
        '0+unknown'
    """
    top = root if root is not None else Path(__file__).resolve().parent.parent
    env = dict(os.environ)
    # A copy of the sources inside another repository must not borrow that
    # repository's tags: stop git's search for a .git at the checkout itself.
    env["GIT_CEILING_DIRECTORIES"] = str(top.parent)
    try:
        completed = subprocess.run(  # noqa: S603 - fixed argv, no shell
            _DESCRIBE,
            cwd=top,
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return UNKNOWN_VERSION
    if completed.returncode != 0:
        return UNKNOWN_VERSION
    return version_from_describe(completed.stdout)
