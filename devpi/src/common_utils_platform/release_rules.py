"""Release tag rules shared by the release pipeline and the git server hooks.

Pure Python, standard library only; of the rest of ``common_utils_platform`` it imports
only ``devsupport.git``, the one git helper (the pre-receive hook and the pipeline both
import it). Every refusal is a
``ReleaseRuleError`` whose message is one human line saying what is wrong and what is
allowed.

The rules:

- **Grammar.** A release tag is ``vX.Y.Z`` (a final release) or ``vX.Y.ZrcN`` (a
  release candidate); X, Y, Z are decimal numbers without leading zeros, N is
  1 or more without leading zeros. Nothing else is a release tag: no ``v1.4``,
  ``1.4.0``, ``v1.4.0-rc1``, ``v1.4.0.rc1``, ``v1.4.0a1``/``b1`` (alphas and betas
  are not published to the release index: build them on a dev index), no local
  part. The version is the tag without ``v``, already canonical PEP 440
  (``v1.6.0rc1`` -> ``1.6.0rc1``).
- **Order.** ``1.6.0rc1 < 1.6.0rc2 < 1.6.0 < 1.6.1``, as PEP 440 orders them.
- **Branch.** The tagged commit must be reachable from ``main`` or from a
  maintenance branch ``release/X.Y`` whose X.Y equals the tag's (``v1.4.1`` may
  sit on ``release/1.4``, never on ``release/1.5``; a commit only on
  ``release/1.4`` may carry only ``v1.4.*`` tags).
- **Started line.** A tag on ``release/X.Y`` (and not on ``main``) is accepted
  only when the line's ``vX.Y.0`` already exists and is reachable from
  ``main``: a line starts on ``main``, reviewed; its maintenance branch carries
  patches only. (The git host's pre-receive hook adds: the branch existed
  before the push; see ``release_hooks.check_updates``.)
- **Newer.** On ``main`` the version must be greater than every existing release
  tag (finals and candidates of every line). On ``release/X.Y`` it must be
  greater than every existing release tag of the line X.Y. When the commit is on
  both, the tag is accepted if either branch accepts it (a maintenance branch cut
  from a tagged commit of ``main`` starts there).

Public API:

- ``RELEASE_TAG_RE``, ``RELEASE_BRANCH_RE``, ``MAIN_BRANCH``.
- ``ReleaseRuleError(ValueError)``: one-line reason, never a secret.
- ``ReleaseVersion``: frozen, ordered; ``major``, ``minor``, ``patch``, ``rc``
  (``None`` for a final), ``is_prerelease``, ``line`` (``(X, Y)``), ``tag``,
  ``str()`` = PEP 440 version.
- ``parse_tag(tag) -> ReleaseVersion`` (raises), ``is_release_tag(tag) -> bool``,
  ``looks_like_version_tag(tag) -> bool`` (``v1.5``, ``1.5.0``, ``v1.5.0-rc1``:
  meant as a release, so a hook refuses it rather than letting it pass as an
  ordinary tag).
- ``branch_line(branch) -> (X, Y) | None`` for ``release/X.Y``.
- ``check_branch_rule(version, commit, branches, is_ancestor) -> str``: the name
  of a branch that allows the tag (``main`` preferred), or raises.
  ``branches`` maps branch names (``main``, ``release/1.4``) to anything the
  ``is_ancestor(commit, ref)`` callable understands (a sha, a ref name);
  ``is_ancestor`` is also asked ``("refs/tags/vX.Y.0", branches["main"])`` for
  the started-line rule.
- ``line_start_tag(line) -> str``: ``refs/tags/vX.Y.0``, the ref that starts a line.
- ``check_newer(version, existing_tags, branch) -> None`` (raises).
- ``check_new_tag(tag, commit, *, branches, existing_tags, is_ancestor) -> ReleaseVersion``:
  grammar, branch and order together: what a pre-receive hook checks for a new tag.
- ``git_is_ancestor(git_dir) -> is_ancestor`` callable running
  ``git merge-base --is-ancestor``; ``git_branches(git_dir, remote=None)``: the
  ``main`` and ``release/*`` refs of a repository (local branches, or
  ``refs/remotes/<remote>/...`` in a CI clone); ``git_release_tags(git_dir)``;
  ``git_commit(git_dir, rev) -> sha | None``. All run ``devsupport.git``.

Example:
    >>> v = parse_tag("v1.6.0rc1")
    >>> str(v), v.is_prerelease, v.line, v < parse_tag("v1.6.0")
    ('1.6.0rc1', True, (1, 6), True)
    >>> parse_tag("v1.6")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    common_utils_platform.release_rules.ReleaseRuleError: 'v1.6' is not a release tag: use ...
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from common_utils_platform.devsupport import git

__all__ = [
    "MAIN_BRANCH",
    "RELEASE_BRANCH_RE",
    "RELEASE_TAG_RE",
    "IsAncestor",
    "ReleaseRuleError",
    "ReleaseVersion",
    "branch_line",
    "check_branch_rule",
    "check_new_tag",
    "check_newer",
    "git_branches",
    "git_commit",
    "git_is_ancestor",
    "git_release_tags",
    "is_release_tag",
    "line_start_tag",
    "looks_like_version_tag",
    "parse_tag",
]

MAIN_BRANCH = "main"
_NUM = r"(?:0|[1-9][0-9]*)"
RELEASE_TAG_RE = re.compile(
    rf"^v(?P<major>{_NUM})\.(?P<minor>{_NUM})\.(?P<patch>{_NUM})(?:rc(?P<rc>[1-9][0-9]*))?$"
)
RELEASE_BRANCH_RE = re.compile(rf"^release/(?P<major>{_NUM})\.(?P<minor>{_NUM})$")
_VERSIONISH_RE = re.compile(r"^(?:[vV][0-9]|[vV]?[0-9]+[.\-_][0-9])")
_FORMS = "use vX.Y.Z or vX.Y.ZrcN (e.g. v1.6.0, v1.6.0rc1)"

#: ``is_ancestor(commit, ref) -> bool``: is ``commit`` reachable from ``ref``?
IsAncestor = Callable[[str, str], bool]


class ReleaseRuleError(ValueError):
    """A tag breaks a release rule; ``str(ex)`` is one line saying which and why.

    Example:
        >>> str(ReleaseRuleError("tag v1.4.0 is not newer than v1.5.0 on main"))
        'tag v1.4.0 is not newer than v1.5.0 on main'
    """


@functools.total_ordering
@dataclasses.dataclass(frozen=True, eq=True)
class ReleaseVersion:
    """A release version parsed from a tag; ordered like PEP 440 versions.

    Example:
        >>> sorted([parse_tag("v1.6.0"), parse_tag("v1.6.0rc2"), parse_tag("v1.5.9")])
        [ReleaseVersion('v1.5.9'), ReleaseVersion('v1.6.0rc2'), ReleaseVersion('v1.6.0')]
    """

    major: int
    minor: int
    patch: int
    rc: int | None = None

    def __str__(self) -> str:
        rc = "" if self.rc is None else f"rc{self.rc}"
        return f"{self.major}.{self.minor}.{self.patch}{rc}"

    def __repr__(self) -> str:
        return f"ReleaseVersion({self.tag!r})"

    @property
    def tag(self) -> str:
        """The git tag of this version (``v`` + the version).

        Example:
            >>> ReleaseVersion(1, 6, 0, rc=1).tag
            'v1.6.0rc1'
        """
        return f"v{self}"

    @property
    def is_prerelease(self) -> bool:
        """``True`` for a release candidate (pip installs it only with ``--pre`` or a pin).

        Example:
            >>> ReleaseVersion(1, 6, 0).is_prerelease
            False
        """
        return self.rc is not None

    @property
    def line(self) -> tuple[int, int]:
        """The ``(X, Y)`` release line; its maintenance branch is ``release/X.Y``.

        Example:
            >>> ReleaseVersion(1, 4, 2).line
            (1, 4)
        """
        return (self.major, self.minor)

    @property
    def sort_key(self) -> tuple[int, int, int, int, int]:
        """Key ordering candidates before their final release.

        Example:
            >>> ReleaseVersion(1, 6, 0, 1).sort_key < ReleaseVersion(1, 6, 0).sort_key
            True
        """
        final = 1 if self.rc is None else 0
        return (self.major, self.minor, self.patch, final, self.rc or 0)

    def __lt__(self, other: object) -> bool:
        if not isinstance(other, ReleaseVersion):
            return NotImplemented
        return self.sort_key < other.sort_key


def parse_tag(tag: str) -> ReleaseVersion:
    """Parse a release tag; refuse anything outside the grammar.

    Raises:
        ReleaseRuleError: ``tag`` is not ``vX.Y.Z`` or ``vX.Y.ZrcN``.

    Example:
        >>> parse_tag("v1.4.0")
        ReleaseVersion('v1.4.0')
        >>> parse_tag("v01.4.0")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        common_utils_platform.release_rules.ReleaseRuleError: 'v01.4.0' is not a release tag: ...
    """
    match = RELEASE_TAG_RE.fullmatch(tag)
    if match is None:
        shown = tag if len(tag) <= 60 else tag[:57] + "..."
        raise ReleaseRuleError(f"{shown!r} is not a release tag: {_FORMS}")
    rc = match["rc"]
    return ReleaseVersion(
        int(match["major"]),
        int(match["minor"]),
        int(match["patch"]),
        None if rc is None else int(rc),
    )


def is_release_tag(tag: str) -> bool:
    """Return whether ``tag`` is a release tag (``vX.Y.Z`` or ``vX.Y.ZrcN``).

    Example:
        >>> is_release_tag("v1.6.0rc1"), is_release_tag("v1.6.0-rc1"), is_release_tag("v1.6")
        (True, False, False)
    """
    return RELEASE_TAG_RE.fullmatch(tag) is not None


def looks_like_version_tag(tag: str) -> bool:
    """Return whether ``tag`` looks like a version (so was meant as a release tag).

    A hook refuses such a tag when it is not a release tag, instead of letting
    ``v1.5`` or ``1.5.0`` pass as an ordinary tag that publishes nothing.

    Example:
        >>> [looks_like_version_tag(t) for t in ("v1.5", "1.5.0", "v1.5.0-rc1", "demo-start")]
        [True, True, True, False]
    """
    return _VERSIONISH_RE.match(tag) is not None


def branch_line(branch: str) -> tuple[int, int] | None:
    """Return ``(X, Y)`` for a maintenance branch ``release/X.Y``, else ``None``.

    Example:
        >>> branch_line("release/1.4"), branch_line("main"), branch_line("release/1.04")
        ((1, 4), None, None)
    """
    match = RELEASE_BRANCH_RE.fullmatch(branch)
    if match is None:
        return None
    return (int(match["major"]), int(match["minor"]))


def _line_name(line: tuple[int, int]) -> str:
    return f"{line[0]}.{line[1]}"


def line_start_tag(line: tuple[int, int]) -> str:
    """Return the ref of the tag that starts the release line ``(X, Y)``: ``vX.Y.0``.

    Example:
        >>> line_start_tag((1, 4))
        'refs/tags/v1.4.0'
    """
    return f"refs/tags/v{line[0]}.{line[1]}.0"


def check_branch_rule(
    version: ReleaseVersion,
    commit: str,
    branches: Mapping[str, str],
    is_ancestor: IsAncestor,
    *,
    main: str = MAIN_BRANCH,
) -> str:
    """Return the branch that allows tagging ``commit`` with ``version``.

    Args:
        version: The tag's version.
        commit: The tagged commit (a sha or anything ``is_ancestor`` accepts).
        branches: Branch name (``main``, ``release/1.4``; other names are
            ignored) -> the ref or sha ``is_ancestor`` compares against.
        is_ancestor: ``is_ancestor(commit, ref)``: is ``commit`` reachable from ``ref``?
        main: The name of the main branch.

    Returns:
        ``main`` when the commit is reachable from it, else ``release/X.Y``.

    Raises:
        ReleaseRuleError: The commit is on neither ``main`` nor ``release/X.Y``,
            or only on ``release/X.Y`` while the line's ``vX.Y.0`` is not on
            ``main`` (a line starts on ``main``).

    Example:
        >>> on = {"main": "m", "release/1.4": "r14"}
        >>> pairs = {("c1", "m"), ("c2", "r14"), ("refs/tags/v1.4.0", "m")}
        >>> reach = lambda commit, ref: (commit, ref) in pairs
        >>> check_branch_rule(parse_tag("v1.4.1"), "c2", on, reach)
        'release/1.4'
        >>> check_branch_rule(parse_tag("v1.5.1"), "c2", on, reach)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        common_utils_platform.release_rules.ReleaseRuleError: v1.5.1 is on no allowed branch: ...
    """
    own = f"release/{_line_name(version.line)}"
    if main in branches and is_ancestor(commit, branches[main]):
        return main
    if own in branches and is_ancestor(commit, branches[own]):
        start = line_start_tag(version.line)
        if main in branches and is_ancestor(start, branches[main]):
            return own
        raise ReleaseRuleError(
            f"{version.tag} is on {own}, whose line has not started: "
            f"{start[len('refs/tags/') :]} is not on {main} (a line starts with its vX.Y.0 "
            f"tagged on {main}; {own} carries only its patches)"
        )
    others = sorted(
        name
        for name, ref in branches.items()
        if name not in (main, own) and branch_line(name) and is_ancestor(commit, ref)
    )
    if others:
        lines = ", ".join(f"{_line_name(branch_line(b) or (0, 0))}.*" for b in others)
        where = (
            f" (commit {commit[:12]} is on {', '.join(others)} only, which carries {lines} tags)"
        )
    else:
        where = f" (commit {commit[:12]} is on none of them)"
    raise ReleaseRuleError(
        f"{version.tag} is on no allowed branch: tag a commit of {main} or of {own}{where}"
    )


def check_newer(
    version: ReleaseVersion, existing_tags: Iterable[str], branch: str, *, main: str = MAIN_BRANCH
) -> None:
    """Refuse ``version`` unless it is newer than every release on ``branch``'s line.

    On ``main`` every existing release tag counts; on ``release/X.Y`` those of
    the line X.Y. Tags outside the grammar are ignored, and so is ``version``'s
    own tag (re-checking an existing tag is not a conflict with itself).

    Raises:
        ReleaseRuleError: An existing release tag is equal or newer.

    Example:
        >>> check_newer(parse_tag("v1.4.1"), ["v1.4.0", "v1.6.0"], "release/1.4")
        >>> check_newer(parse_tag("v1.4.1"), ["v1.4.0", "v1.6.0"], "main")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        common_utils_platform.release_rules.ReleaseRuleError: v1.4.1 is not newer than v1.6.0, ...
    """
    line = branch_line(branch)
    if branch != main and line is None:
        raise ReleaseRuleError(f"{branch!r} is not {main} or a release/X.Y branch")
    newest: ReleaseVersion | None = None
    for tag in existing_tags:
        if tag == version.tag or not is_release_tag(tag):
            continue
        other = parse_tag(tag)
        if line is not None and other.line != line:
            continue
        if newest is None or other > newest:
            newest = other
    if newest is None or version > newest:
        return
    hint = (
        f" (a fix for an older line goes on release/{_line_name(version.line)})"
        if line is None and version.line != newest.line
        else ""
    )
    where = main if line is None else f"release/{_line_name(line)}"
    raise ReleaseRuleError(
        f"{version.tag} is not newer than {newest.tag}, the newest release on {where}: "
        f"tag a greater version{hint}"
    )


def check_new_tag(
    tag: str,
    commit: str,
    *,
    branches: Mapping[str, str],
    existing_tags: Iterable[str],
    is_ancestor: IsAncestor,
    main: str = MAIN_BRANCH,
) -> ReleaseVersion:
    """Check a new release tag: grammar, branch and order (the pre-receive rules).

    ``check_newer`` runs for every allowed branch the commit is on (``main``
    and ``release/X.Y``); the tag passes if one of them accepts it.

    Returns:
        The parsed version.

    Raises:
        ReleaseRuleError: The first rule the tag breaks, in one line.

    Example:
        >>> reach = lambda commit, ref: True
        >>> check_new_tag("v1.5.0", "abc", branches={"main": "m"},
        ...               existing_tags=["v1.4.0"], is_ancestor=reach)
        ReleaseVersion('v1.5.0')
    """
    version = parse_tag(tag)
    first = check_branch_rule(version, commit, branches, is_ancestor, main=main)
    tags = list(existing_tags)
    candidates = [first]
    own = f"release/{_line_name(version.line)}"
    if first == main and own in branches and is_ancestor(commit, branches[own]):
        candidates.append(own)
    error: ReleaseRuleError | None = None
    for branch in candidates:
        try:
            check_newer(version, tags, branch, main=main)
        except ReleaseRuleError as ex:
            error = error or ex
        else:
            return version
    raise error or ReleaseRuleError(f"{version.tag}: no branch to check")


def git_is_ancestor(git_dir: str | Path, *, timeout: float = 30) -> IsAncestor:
    """Return ``is_ancestor(commit, ref)`` running ``git merge-base --is-ancestor``.

    Works on a bare repository (a hook's ``$GIT_DIR``) or a work tree's
    ``.git``. A ref that does not exist counts as "not reachable".

    Example:
        >>> git_is_ancestor("/nonexistent")("HEAD", "main")
        False
    """

    def is_ancestor(commit: str, ref: str) -> bool:
        asked = ("merge-base", "--is-ancestor", commit, ref)
        return _git_lines(git_dir, *asked, timeout=timeout) is not None

    return is_ancestor


def git_commit(git_dir: str | Path, rev: str) -> str | None:
    """Return the commit ``rev`` names (a tag is peeled), or ``None`` when it names none.

    Example:
        >>> git_commit("/nonexistent", "HEAD") is None
        True
    """
    found = _git_lines(git_dir, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    return found[0] if found else None


def _git_lines(git_dir: str | Path, *args: str, timeout: float = 30) -> list[str] | None:
    """The non-empty lines git prints, or ``None`` when it fails (``devsupport.git``).

    The caller's environment is kept (a hook's quarantine variables, the git user's
    configuration); ``devsupport.git`` adds its fixed identity.
    """
    where = Path(git_dir).resolve()
    try:
        out = git(where, "--git-dir", str(where), *args, env=os.environ, timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    return [line.strip() for line in out.splitlines() if line.strip()]


def git_branches(
    git_dir: str | Path, *, remote: str | None = None, main: str = MAIN_BRANCH
) -> dict[str, str]:
    """Return ``{branch name: full ref}`` of ``main`` and ``release/X.Y`` branches.

    Args:
        git_dir: The repository's git directory.
        remote: ``None`` for local branches (``refs/heads/...``, a hook on the
            server); a remote name such as ``origin`` for the fetched branches
            of a CI clone (``refs/remotes/origin/...``).
        main: The name of the main branch.

    Example:
        >>> git_branches("/nonexistent")
        {}
    """
    prefix = "refs/heads/" if remote is None else f"refs/remotes/{remote}/"
    found: dict[str, str] = {}
    for ref in _git_lines(git_dir, "for-each-ref", "--format=%(refname)", prefix) or ():
        name = ref[len(prefix) :]
        if name == main or branch_line(name) is not None:
            found[name] = ref
    return found


def git_release_tags(git_dir: str | Path) -> list[str]:
    """Return the release tags (grammar only) of a repository.

    Example:
        >>> git_release_tags("/nonexistent")
        []
    """
    names = _git_lines(git_dir, "for-each-ref", "--format=%(refname:strip=2)", "refs/tags/")
    return [name for name in names or () if is_release_tag(name)]
