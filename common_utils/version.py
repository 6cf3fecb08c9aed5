"""Honest versions for the library and for the services built on it.

The rules are the library's own (see ``pyproject.toml`` and ``common_utils._scm``):
only strict ``vX.Y.Z`` tags count, ``X.Y.Z`` exactly at a clean tag, ``X.Y.(Z+1).devN+g<hash>``
past it, ``.dirty`` appended to the local part for a dirty tree, ``0+unknown`` when
git cannot tell. A service applies the same rules to its own repository with
`version_of`.

Where there is no git at run time (a Cloud Foundry droplet: ``cf push`` never
uploads ``.git``), the version is *stamped* into ``<package>/_version.py`` at push
time by `write_stamp`, from ``git describe``. A stamp goes stale the moment
the checkout moves (a submodule moved to a newer tag keeps the old, git-ignored
file), so `verify_stamp` refuses a stamp that disagrees with the checkout
whenever git metadata is present; a service calls it at start-up.

Nothing here imports falcon, jwt or cerberus.

Examples:
    >>> from pathlib import Path
    >>> from common_utils.version import version_from_describe, version_of
    >>> version_from_describe("v1.4.0-2-g1a2b3c4-dirty")
    '1.4.1.dev2+g1a2b3c4.dirty'
    >>> version_of(Path("/nonexistent"))
    '0+unknown'
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from common_utils._scm import UNKNOWN_VERSION, git_output, version_from_describe, version_from_git

__all__ = [
    "STAMP_FILE",
    "UNKNOWN_VERSION",
    "Stamp",
    "StampError",
    "has_git_metadata",
    "read_stamp",
    "verify_stamp",
    "version_from_describe",
    "version_from_git",
    "version_of",
    "write_stamp",
]

STAMP_FILE = "_version.py"
"""Name of the stamp inside a package directory (the file setuptools-scm writes, too)."""

_ASSIGNED = r"^(?:\w+\s*=\s*)*{name}\s*=\s*(['\"])(?P<value>[^'\"\n]*)\1"
_VERSION_LINE = re.compile(_ASSIGNED.format(name="version"), re.M)
_COMMIT_LINE = re.compile(_ASSIGNED.format(name="commit_id"), re.M)
_HEADER = (
    "# Stamped from `git describe` at push time (common_utils.version.write_stamp).\n"
    "# Never commit it: a droplet has no .git, a checkout computes its version from git.\n"
)


class StampError(ValueError):
    """A version stamp cannot be made, or disagrees with the git checkout it claims to describe.

    The message is one line naming the file, both versions and what to run.
    """


@dataclass(frozen=True)
class Stamp:
    """What a ``_version.py`` stamp says.

    Attributes:
        version: The stamped version.
        commit: The commit it was stamped from (setuptools-scm writes ``g<short hash>``,
            `write_stamp` the full hash), or ``None`` when the file has none.
        path: The stamp file.

    Examples:
        >>> Stamp("1.4.0", None, Path("_version.py")).version
        '1.4.0'
    """

    version: str
    commit: str | None
    path: Path


def has_git_metadata(checkout: Path) -> bool:
    """Tell whether ``checkout`` itself is a git work tree (``.git`` dir or submodule gitfile).

    Args:
        checkout: The directory to look at.

    Returns:
        ``True`` when ``checkout/.git`` exists.

    Examples:
        >>> has_git_metadata(Path("/nonexistent"))
        False
    """
    return (checkout / ".git").exists()


def read_stamp(package_dir: Path) -> Stamp | None:
    """Read the stamp of a package without importing it.

    Args:
        package_dir: The package directory holding ``_version.py``.

    Returns:
        The stamp, or ``None`` when there is no file or it assigns no ``version``.

    Examples:
        >>> read_stamp(Path("/nonexistent")) is None
        True
    """
    path = package_dir / STAMP_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return None
    version = _VERSION_LINE.search(text)
    if version is None:
        return None
    commit = _COMMIT_LINE.search(text)
    return Stamp(version["value"], commit["value"] if commit else None, path)


def version_of(checkout: Path, package_dir: Path | None = None) -> str:
    """Return the version of a checkout: from git when it is one, else from its stamp.

    Args:
        checkout: The top of the repository (a service's root, a submodule's directory).
        package_dir: Where a push-time stamp may be (``<checkout>/<package>``);
            ``None`` to use git only.

    Returns:
        The version by the library's rules; the stamp's version when ``checkout``
        has no git metadata (or git cannot tell); ``0+unknown`` when neither knows.

    Examples:
        >>> version_of(Path("/nonexistent"), Path("/nonexistent/pkg"))
        '0+unknown'
    """
    if has_git_metadata(checkout):
        from_git = version_from_git(checkout)
        if from_git != UNKNOWN_VERSION:
            return from_git
    stamp = read_stamp(package_dir) if package_dir is not None else None
    return stamp.version if stamp is not None else UNKNOWN_VERSION


def write_stamp(checkout: Path, package_dir: Path) -> Stamp:
    """Stamp ``package_dir/_version.py`` with the checkout's version from ``git describe``.

    Run it where git is (before ``cf push``), never in a droplet.

    Args:
        checkout: The git work tree whose tags give the version.
        package_dir: The package directory to write ``_version.py`` into.

    Returns:
        The stamp written.

    Raises:
        StampError: ``checkout`` is not a git work tree, or no strict ``vX.Y.Z``
            tag is reachable (a stamp of ``0+unknown`` would tell nobody anything).

    Examples:
        >>> write_stamp(Path("/nonexistent"), Path("/nonexistent/pkg"))
        Traceback (most recent call last):
        ...
        common_utils.version.StampError: /nonexistent is not a git checkout; cannot stamp ...
    """
    if not has_git_metadata(checkout):
        raise StampError(f"{checkout} is not a git checkout; cannot stamp {package_dir}")
    version = version_from_git(checkout)
    if version == UNKNOWN_VERSION:
        raise StampError(
            f"git describe finds no strict vX.Y.Z tag in {checkout} (shallow clone without tags?)"
        )
    commit = git_output(checkout, "rev-parse", "HEAD")
    path = package_dir / STAMP_FILE
    lines = [_HEADER, f"__version__ = version = {version!r}\n"]
    if commit:
        lines.append(f"__commit_id__ = commit_id = {commit!r}\n")
    path.write_text("".join(lines), encoding="utf-8")
    _drop_cached_bytecode(path)
    return Stamp(version, commit or None, path)


def _drop_cached_bytecode(source: Path) -> None:
    # A cached .pyc is trusted while the source's mtime (whole seconds) and size
    # match; a re-stamp within the same second ("1.2.3" -> "1.2.4") matches both.
    for cached in (source.parent / "__pycache__").glob(f"{source.stem}.*.pyc"):
        cached.unlink(missing_ok=True)


def verify_stamp(checkout: Path, package_dir: Path) -> Stamp | None:
    """Refuse a stamp that disagrees with the git checkout beside it.

    Without git metadata (a droplet) the stamp is the only source and is
    trusted; without a stamp there is nothing to check (the version comes from
    git). When git cannot tell (no tag reachable, git missing), nothing is
    refused either.

    Args:
        checkout: The git work tree the stamp claims to describe.
        package_dir: The package directory holding ``_version.py``.

    Returns:
        The stamp when it was checked and matches, else ``None``.

    Raises:
        StampError: The stamped version differs from the checkout's version.

    Examples:
        >>> verify_stamp(Path("/nonexistent"), Path("/nonexistent/pkg")) is None
        True
    """
    stamp = read_stamp(package_dir)
    if stamp is None or not has_git_metadata(checkout):
        return None
    actual = version_from_git(checkout)
    if actual == UNKNOWN_VERSION:
        return None
    if actual != stamp.version:
        raise StampError(
            f"stale version stamp {stamp.path}: it says {stamp.version}, "
            f"the git checkout {checkout} is {actual}; re-stamp or delete the file"
        )
    return stamp
