"""Print (or write) the release notes of a version: Breaking changes, Deprecations, Features, Fixes.

Usage::

    python scripts/release_notes.py v1.4.0            # the notes of a tag
    python scripts/release_notes.py v1.4.0 --fallback-draft   # what the release pipeline calls
    python scripts/release_notes.py v1.4.0 --output notes.md
    python scripts/release_notes.py 1.4.0 --draft     # preview the fragments in changes/
    python scripts/release_notes.py 1.4.0 --write     # before tagging: into CHANGELOG.md

The notes of a final release are the ``## [X.Y.Z]`` section of ``CHANGELOG.md``, committed
before the tag (``--write`` builds it from the fragments with towncrier, removes the fragments
with ``git rm``, and the maintainer commits both). So the default mode, given a tag:

- prints that section when ``CHANGELOG.md`` has it;
- for a release candidate (``vX.Y.ZrcN``) without a section, renders the pending fragments
  (a candidate never consumes them: the final release does);
- otherwise fails with exit status 1 and one line saying what to run, so that a final release
  is never published without its notes;
- unless ``--fallback-draft`` is given (the release pipeline, ``devpi/release.py``, gives it:
  "tag it, push it, it is published" holds even when ``--write`` was forgotten): then the
  pending fragments are rendered as for a candidate, and one line on stderr says so and
  recommends ``--write`` before the next tag (exit status 0).

Only ``--draft``, ``--write``, ``--fallback-draft`` and the release-candidate case need towncrier
(``requirements/release-notes.in``); printing a committed section is standard library only.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHANGELOG = "CHANGELOG.md"
START_MARKER = "<!-- towncrier release notes start -->"
# The release tag grammar of devpi/release_rules.py: vX.Y.Z or vX.Y.ZrcN, the "v" optional here.
_NUMBER = r"(?:0|[1-9]\d*)"
_VERSION = re.compile(rf"^v?(?P<version>{_NUMBER}\.{_NUMBER}\.{_NUMBER}(?P<rc>rc[1-9]\d*)?)$")


class NotesError(Exception):
    """One line for the person or pipeline that asked for the notes."""


def parse_version(text: str) -> tuple[str, bool]:
    """Return the version of a tag or version string, and whether it is a release candidate.

    Args:
        text: ``v1.4.0``, ``1.4.0``, ``v2.0.0rc1`` ...

    Returns:
        ``(version, is_candidate)``.

    Raises:
        NotesError: Not a release version.

    Example:
        >>> parse_version("v2.0.0rc1"), parse_version("1.4.0")
        (('2.0.0rc1', True), ('1.4.0', False))
    """
    match = _VERSION.match(text.strip())
    if match is None:
        raise NotesError(f"{text!r} is not a release version: use vX.Y.Z or vX.Y.ZrcN")
    return match["version"], match["rc"] is not None


def changelog_section(text: str, version: str) -> str | None:
    r"""Return the ``## [version]`` section of a Keep-a-Changelog text, without its heading.

    Args:
        text: The changelog.
        version: The version, without ``v``.

    Returns:
        The section's body (stripped), or ``None`` when there is no such section.

    Example:
        >>> log = "# Log\n\n## [1.1.0] - 2026-12-01\n\n### Fixes\n\n- x\n\n## [1.0.0]\n"
        >>> print(changelog_section(log, "1.1.0"))
        ### Fixes
        <BLANKLINE>
        - x
        >>> changelog_section(log, "1.2.0") is None
        True
    """
    heading = re.compile(rf"^## \[{re.escape(version)}\](?:[ \t].*)?$", re.MULTILINE)
    found = heading.search(text)
    if found is None:
        return None
    rest = text[found.end() :]
    following = re.search(r"^(?:## |\[[^\]]+\]:\s)", rest, re.MULTILINE)
    return rest[: following.start() if following else len(rest)].strip()


def _towncrier(root: Path, *args: str) -> str:
    command = [sys.executable, "-m", "towncrier", "build", *args]
    # NOTE: a fixed argument list without a shell; the version was validated.
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        problem = (done.stderr.strip() or done.stdout.strip()).splitlines()
        raise NotesError(
            "towncrier failed: "
            + (problem[-1] if problem else f"exit status {done.returncode}")
            + " (pip install -r requirements/release-notes.in)"
        )
    return done.stdout


def draft(version: str, date: str, root: Path = REPO_ROOT) -> str:
    """Render the pending fragments of ``changes/`` as the notes of ``version``.

    Args:
        version: The version the notes are for.
        date: The release date (``YYYY-MM-DD``).
        root: The repository (its ``pyproject.toml`` configures towncrier).

    Returns:
        Markdown: a ``## [version] - date`` heading and one section per change type.
    """
    return _towncrier(root, "--draft", "--version", version, "--date", date).strip() + "\n"


def write(version: str, date: str, root: Path = REPO_ROOT) -> None:
    """Fold the fragments into the changelog (towncrier build) and ``git rm`` them.

    Args:
        version: The version being released.
        date: The release date.
        root: The repository; its ``CHANGELOG.md`` must hold the start marker.

    Raises:
        NotesError: The marker is missing, or the version already has a section.
    """
    text = (root / CHANGELOG).read_text(encoding="utf-8")
    if START_MARKER not in text:
        raise NotesError(f"{CHANGELOG} has no {START_MARKER} line: add it below ## [Unreleased]")
    if changelog_section(text, version) is not None:
        raise NotesError(f"{CHANGELOG} already has a section for {version}")
    _towncrier(root, "--yes", "--version", version, "--date", date)


def notes(tag: str, *, date: str, root: Path = REPO_ROOT, fallback_draft: bool = False) -> str:
    """Return the notes to publish with a release tag.

    Args:
        tag: The release tag (``v1.4.0``, ``v2.0.0rc1``).
        date: The date for a rendered candidate's (or fallback draft's) heading.
        root: The repository holding ``CHANGELOG.md`` and ``changes/``.
        fallback_draft: Render the pending fragments instead of failing when a final
            release has no section (see ``notes_with_source``).

    Returns:
        Markdown, starting with a ``## [version]`` heading.

    Raises:
        NotesError: A final release whose section is not in the changelog (and no
            ``fallback_draft``).
    """
    return notes_with_source(tag, date=date, root=root, fallback_draft=fallback_draft)[0]


def notes_with_source(
    tag: str, *, date: str, root: Path = REPO_ROOT, fallback_draft: bool = False
) -> tuple[str, str]:
    """Return the notes of a release tag and where they came from.

    Args:
        tag: The release tag (``v1.4.0``, ``v2.0.0rc1``).
        date: The date for a rendered heading.
        root: The repository holding ``CHANGELOG.md`` and ``changes/``.
        fallback_draft: For a final release without its ``CHANGELOG.md`` section, render
            the pending fragments (the release pipeline's mode) instead of failing.

    Returns:
        ``(markdown, source)``; ``source`` is ``"changelog"`` (the committed section),
        ``"candidate"`` (a release candidate's rendered fragments) or ``"fallback"``
        (a final release's rendered fragments: its section was never written).

    Raises:
        NotesError: A final release without its section and no ``fallback_draft``, or
            towncrier failed.
    """
    version, candidate = parse_version(tag)
    path = root / CHANGELOG
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    section = changelog_section(text, version)
    if section is not None:
        heading = re.search(rf"^## \[{re.escape(version)}\].*$", text, re.MULTILINE)
        assert heading is not None  # noqa: S101 - changelog_section just found it
        return f"{heading.group(0)}\n\n{section}\n", "changelog"
    if candidate:
        return draft(version, date, root), "candidate"
    if fallback_draft:
        return draft(version, date, root), "fallback"
    raise NotesError(
        f"{CHANGELOG} has no section for {version}: before tagging, run "
        f"'python scripts/release_notes.py {version} --write' and commit the result"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; print one line to stderr and return 1 on a problem.

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        The exit status.
    """
    summary = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="release_notes.py", description=summary)
    parser.add_argument("version", help="release tag or version: v1.4.0, 1.4.0, v2.0.0rc1")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--draft", action="store_true", help="render the pending fragments")
    mode.add_argument("--write", action="store_true", help="fold the fragments into CHANGELOG.md")
    mode.add_argument(
        "--fallback-draft",
        action="store_true",
        help="a final release without its CHANGELOG.md section: render the pending fragments "
        "(and say so on stderr) instead of failing; the release pipeline's mode",
    )
    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    parser.add_argument("--date", default=today, help="release date (default: today, UTC)")
    parser.add_argument("--output", type=Path, help="write the notes to this file, not stdout")
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        version, _ = parse_version(args.version)
        if args.write:
            write(version, args.date, args.root)
            print(f"{CHANGELOG}: section {version} written; commit it and the removed fragments")
            return 0
        if args.draft:
            text = draft(version, args.date, args.root)
        else:
            text, source = notes_with_source(
                args.version, date=args.date, root=args.root, fallback_draft=args.fallback_draft
            )
            if source == "fallback":
                print(
                    f"release_notes: {CHANGELOG} has no section for {version}: these notes are "
                    "the pending fragments of changes/ (towncrier draft); before the next tag run "
                    f"'python scripts/release_notes.py {version} --write' and commit the result",
                    file=sys.stderr,
                )
    except NotesError as ex:
        print(f"release_notes: {ex}", file=sys.stderr)
        return 1
    if args.output is not None:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
