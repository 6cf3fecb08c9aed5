"""Fail when common_utils/ changed without a release-note fragment in changes/ (run by tox -e lint).

Usage::

    python scripts/check_fragments.py                      # locally and in CI
    python scripts/check_fragments.py --base origin/main   # or CHANGES_BASE=origin/main

What is compared (the first that applies):

1. ``--base REF`` or ``$CHANGES_BASE``: the change is everything since that commit;
2. on a branch: the merge base with ``origin/main`` (or ``main``), so a pull request is judged
   by its own commits;
3. on ``main`` itself: the previous release tag (``vX.Y.Z`` or ``vX.Y.ZrcN``), so a release is
   never cut with library changes and no notes; without any tag, ``HEAD``.

Uncommitted and untracked files count too, so the check gives the same answer before and after
``git commit``. A clean clone of ``main`` right after a release has nothing to compare and passes.

A library change passes when a fragment (``changes/<issue>.<type>.md`` or
``changes/+<slug>.<type>.md``, type one of breaking, deprecation, feature, fix) was added or
changed in the same range, or when a commit of the range says ``Changelog: none`` on a line of
its own (a refactoring or a docstring typo: nothing a service would notice). A file in
``changes/`` whose name towncrier would not read fails, whatever changed.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
LIBRARY = "common_utils/"
FRAGMENTS = "changes/"
TYPES = ("breaking", "deprecation", "feature", "fix")
NOT_FRAGMENTS = frozenset({"README.md", ".gitignore", ".gitkeep"})
_FRAGMENT = re.compile(rf"^(?:\d+|\+[\w.-]+?)\.(?:{'|'.join(TYPES)})(?:\.\d+)?\.md$")
_NO_NOTE = re.compile(r"^Changelog:\s*none\s*$", re.IGNORECASE | re.MULTILINE)
_TAGS = ["--match", "v[0-9]*.[0-9]*.[0-9]*"]
_MAIN = ("origin/main", "main")


class CheckError(Exception):
    """The check cannot run (history missing); one line saying what to do."""


def _git(root: Path, *args: str) -> str | None:
    """Run git in ``root``; return its stripped stdout, or ``None`` when it fails."""
    # NOTE: fixed argument lists without a shell; refs come from the command line or git.
    done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=False)
    return done.stdout.strip() if done.returncode == 0 else None


def find_base(root: Path, explicit: str | None = None) -> tuple[str, str]:
    """Return the commit to compare with, and a description of why that one.

    Args:
        root: The repository.
        explicit: A ref given with ``--base`` or ``$CHANGES_BASE``.

    Returns:
        ``(commit, description)``.

    Raises:
        CheckError: ``explicit`` does not name a commit, or the branch shares no
            history with main (a shallow clone).
    """
    head = _git(root, "rev-parse", "HEAD")
    if explicit:
        commit = _git(root, "rev-parse", "--verify", "--quiet", f"{explicit}^{{commit}}")
        if commit is None:
            raise CheckError(f"{explicit!r} is not a commit here (fetch it, or fix CHANGES_BASE)")
        return commit, explicit
    for main in _MAIN:
        if _git(root, "rev-parse", "--verify", "--quiet", f"{main}^{{commit}}") is None:
            continue
        merge_base = _git(root, "merge-base", "HEAD", main)
        if merge_base is None:
            raise CheckError(
                f"HEAD shares no history with {main} (a shallow clone?): "
                "fetch with fetch-depth 0, or set CHANGES_BASE"
            )
        if merge_base != head:
            return merge_base, f"the merge base with {main}"
        break
    tag = _git(root, "describe", "--tags", "--abbrev=0", *_TAGS, "HEAD")
    if tag is not None:
        return tag, f"the previous release tag {tag}"
    return "HEAD", "HEAD (no release tag yet)"


def changed_paths(root: Path, base: str) -> tuple[list[str], list[str]]:
    """Return the library files changed since ``base`` and the fragments added or changed.

    Args:
        root: The repository.
        base: The commit to compare the working tree with.

    Returns:
        ``(library_files, fragments)``, each sorted.
    """
    diff = _git(root, "diff", "--name-only", "--no-renames", base) or ""
    untracked = _git(root, "ls-files", "--others", "--exclude-standard") or ""
    paths = {line for line in (diff + "\n" + untracked).splitlines() if line}
    library = sorted(p for p in paths if p.startswith(LIBRARY))
    fragments = sorted(
        p
        for p in paths
        if p.startswith(FRAGMENTS) and _FRAGMENT.match(p[len(FRAGMENTS) :]) and (root / p).is_file()
    )
    return library, fragments


def misnamed_fragments(root: Path) -> list[str]:
    """Return the files of ``changes/`` that towncrier would not read as fragments.

    Example:
        >>> misnamed_fragments(Path("/nonexistent"))
        []
    """
    directory = root / FRAGMENTS
    if not directory.is_dir():
        return []
    return sorted(
        f"{FRAGMENTS}{p.name}"
        for p in directory.iterdir()
        if p.name not in NOT_FRAGMENTS and not _FRAGMENT.match(p.name)
    )


def check(root: Path, explicit_base: str | None = None) -> tuple[bool, str]:
    """Decide whether the change has the release-note fragment it needs.

    Args:
        root: The repository.
        explicit_base: The ref to compare with, if given.

    Returns:
        ``(ok, message)``: one line for the person or the CI log.
    """
    if _git(root, "rev-parse", "--is-inside-work-tree") != "true":
        return True, "not a git checkout: nothing to compare, fragment check skipped"
    misnamed = misnamed_fragments(root)
    if misnamed:
        kinds = ", ".join(TYPES)
        return False, (
            f"{', '.join(misnamed)}: not a fragment name; use <issue>.<type>.md or "
            f"+<slug>.<type>.md with type one of {kinds} (see changes/README.md)"
        )
    try:
        base, why = find_base(root, explicit_base)
    except CheckError as ex:
        return False, str(ex)
    library, fragments = changed_paths(root, base)
    if not library:
        return True, f"no change in {LIBRARY} since {why}"
    if fragments:
        return True, f"{len(library)} library file(s) changed since {why}; notes: " + ", ".join(
            fragments
        )
    log = _git(root, "log", "--format=%B", f"{base}..HEAD") or ""
    if _NO_NOTE.search(log):
        return True, f"library changed since {why}; a commit says 'Changelog: none'"
    shown = ", ".join(library[:5]) + (f" and {len(library) - 5} more" if len(library) > 5 else "")
    return False, (
        f"{shown} changed since {why} but no fragment was added to {FRAGMENTS}: "
        "add changes/<issue>.<feature|fix|deprecation|breaking>.md (see changes/README.md), "
        "or say 'Changelog: none' in the commit message if no service would notice"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the check; print one line; return 0 (pass) or 1 (fail).

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    parser = argparse.ArgumentParser(
        prog="check_fragments.py", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument(
        "--base",
        default=os.environ.get("CHANGES_BASE") or None,
        help="compare with this ref (default: $CHANGES_BASE, else the merge base with main)",
    )
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    ok, message = check(args.root, args.base)
    print(
        f"check_fragments: {'ok' if ok else 'FAIL'}: {message}",
        file=sys.stdout if ok else sys.stderr,
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
