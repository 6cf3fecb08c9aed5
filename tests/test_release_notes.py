"""Release notes from changes/ fragments: scripts/release_notes.py, scripts/check_fragments.py."""

from __future__ import annotations

import datetime
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from common_utils_platform.devsupport import git

from .conftest import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


def _load(name: str) -> ModuleType:
    # NOTE: scripts/ is not a package; load the files by path.
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


notes = _load("release_notes")
fragments = _load("check_fragments")

CHANGELOG = """# Changelog

## [Unreleased]

<!-- towncrier release notes start -->

## [1.0.0] - 2026-11-30

### Features

- The first release.
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with the project's towncrier configuration, on main, one commit."""
    root = tmp_path / "repo"
    (root / "changes").mkdir(parents=True)
    (root / "common_utils").mkdir()
    shutil.copy(REPO_ROOT / "pyproject.toml", root / "pyproject.toml")
    shutil.copy(REPO_ROOT / "changes" / "README.md", root / "changes" / "README.md")
    (root / "CHANGELOG.md").write_text(CHANGELOG, encoding="utf-8")
    (root / "common_utils" / "core.py").write_text("X = 1\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "initial")
    return root


def _fragment(root: Path, name: str, text: str) -> None:
    (root / "changes" / name).write_text(text + "\n", encoding="utf-8")


class TestReleaseNotes:
    @pytest.fixture(autouse=True)
    def _towncrier(self) -> None:
        pytest.importorskip("towncrier")  # requirements/release-notes.in

    def test_draft_renders_the_four_sections_in_order(self, repo: Path) -> None:
        """Breaking changes, Deprecations, Features, Fixes; issue numbers become links."""
        _fragment(repo, "7.fix.md", "Fixed the thing.")
        _fragment(repo, "+newthing.feature.md", "Added the thing.")
        _fragment(repo, "3.deprecation.md", "`old()` is deprecated; use `new()`.")
        _fragment(repo, "9.breaking.md", "`gone()` was removed.")
        text = notes.draft("2.0.0", "2026-12-24", repo)
        assert text.startswith("## [2.0.0] - 2026-12-24\n")
        headings = [line for line in text.splitlines() if line.startswith("### ")]
        assert headings == [
            "### Breaking changes",
            "### Deprecations",
            "### Features",
            "### Fixes",
        ]
        assert "- Fixed the thing. (#7)" in text
        assert "- Added the thing.\n" in text

    def test_a_final_tag_publishes_its_changelog_section(self, repo: Path) -> None:
        """The pipeline's mode prints the committed section, heading included."""
        text = notes.notes("v1.0.0", date="2027-01-01", root=repo)
        assert text == "## [1.0.0] - 2026-11-30\n\n### Features\n\n- The first release.\n"

    def test_a_final_tag_without_its_section_fails_with_what_to_run(self, repo: Path) -> None:
        """A final release is never published without notes."""
        with pytest.raises(notes.NotesError, match=r"release_notes.py 1\.1\.0 --write"):
            notes.notes("v1.1.0", date="2027-01-01", root=repo)

    def test_fallback_draft_publishes_the_fragments_of_a_final_without_its_section(
        self, repo: Path
    ) -> None:
        """The pipeline's mode: "tag it, push it, it is published" even without --write."""
        _fragment(repo, "5.feature.md", "Added five.")
        text, source = notes.notes_with_source(
            "v1.1.0", date="2027-01-03", root=repo, fallback_draft=True
        )
        assert source == "fallback"
        assert text.startswith("## [1.1.0] - 2027-01-03\n")
        assert "### Features" in text
        assert "- Added five. (#5)" in text
        assert (repo / "changes" / "5.feature.md").exists()  # a draft never consumes them
        assert notes.notes("v1.1.0", date="2027-01-03", root=repo, fallback_draft=True) == text

    def test_fallback_draft_prefers_the_committed_section(self, repo: Path) -> None:
        """With the section committed, the fragments (here: a stray one) are not used."""
        _fragment(repo, "5.feature.md", "Added five.")
        text, source = notes.notes_with_source(
            "v1.0.0", date="2027-01-03", root=repo, fallback_draft=True
        )
        assert source == "changelog"
        assert text == "## [1.0.0] - 2026-11-30\n\n### Features\n\n- The first release.\n"
        candidate = notes.notes_with_source("v1.1.0rc1", date="x", root=repo, fallback_draft=True)
        assert candidate[1] == "candidate"

    def test_fallback_draft_command_line_says_so_in_one_line(
        self, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Exit 0, the notes in --output, one stderr line recommending --write before tagging."""
        _fragment(repo, "7.fix.md", "Fixed seven.")
        out = tmp_path / "notes.md"
        argv = ["v1.1.0", "--fallback-draft", "--date", "2027-01-04", "--root", str(repo)]
        assert notes.main([*argv, "--output", str(out)]) == 0
        assert out.read_text(encoding="utf-8").startswith("## [1.1.0] - 2027-01-04\n")
        assert "Fixed seven." in out.read_text(encoding="utf-8")
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert err.startswith("release_notes: CHANGELOG.md has no section for 1.1.0: ")
        assert "'python scripts/release_notes.py 1.1.0 --write'" in err
        assert notes.main(["v1.0.0", "--fallback-draft", "--root", str(repo)]) == 0
        assert capsys.readouterr().err == ""  # the committed section: nothing to say
        with pytest.raises(SystemExit):
            notes.main(["v1.1.0", "--fallback-draft", "--draft", "--root", str(repo)])

    def test_a_release_candidate_renders_the_pending_fragments(self, repo: Path) -> None:
        """vX.Y.ZrcN: the fragments stay for the final release."""
        _fragment(repo, "5.feature.md", "Added five.")
        text = notes.notes("v1.1.0rc1", date="2027-01-01", root=repo)
        assert text.startswith("## [1.1.0rc1] - 2027-01-01\n")
        assert "Added five." in text
        assert (repo / "changes" / "5.feature.md").exists()

    def test_write_folds_the_fragments_into_the_changelog(self, repo: Path) -> None:
        """Below the marker, above the previous release; the fragments are git rm'ed."""
        _fragment(repo, "5.feature.md", "Added five.")
        git(repo, "add", "changes/5.feature.md")
        assert notes.main(["1.1.0", "--write", "--date", "2027-01-02", "--root", str(repo)]) == 0
        text = (repo / "CHANGELOG.md").read_text(encoding="utf-8")
        assert text.index("<!-- towncrier") < text.index("## [1.1.0]") < text.index("## [1.0.0]")
        assert not (repo / "changes" / "5.feature.md").exists()
        assert (repo / "changes" / "README.md").exists()
        assert "Added five." in notes.notes("v1.1.0", date="x", root=repo)
        with pytest.raises(notes.NotesError, match=r"already has a section for 1\.1\.0"):
            notes.write("1.1.0", "2027-01-02", repo)

    def test_write_needs_the_marker(self, repo: Path) -> None:
        """Without it towncrier would put the notes above the title."""
        (repo / "CHANGELOG.md").write_text("# Changelog\n", encoding="utf-8")
        with pytest.raises(notes.NotesError, match="has no <!-- towncrier release notes start"):
            notes.write("1.1.0", "2027-01-02", repo)

    def test_towncrier_failure_is_one_line(self, repo: Path) -> None:
        """A broken configuration is reported, not a traceback."""
        (repo / "pyproject.toml").write_text("[tool.towncrier]\ndirectory = 3\n", encoding="utf-8")
        with pytest.raises(notes.NotesError, match="towncrier failed"):
            notes.draft("1.1.0", "2027-01-02", repo)

    @pytest.mark.parametrize("tag", ["v1.4", "1.4.0-rc1", "v1.4.0a1", "v01.4.0", "v1.4.0rc0"])
    def test_only_release_versions_are_accepted(self, tag: str) -> None:
        """The tag grammar of the release pipeline."""
        with pytest.raises(notes.NotesError, match="is not a release version"):
            notes.parse_version(tag)

    def test_command_line_prints_or_writes_the_notes(
        self, repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """stdout by default, --output to a file, exit 1 and one stderr line on a problem."""
        assert notes.main(["v1.0.0", "--root", str(repo)]) == 0
        assert capsys.readouterr().out.startswith("## [1.0.0]")
        out = tmp_path / "notes.md"
        assert notes.main(["v1.0.0", "--root", str(repo), "--output", str(out)]) == 0
        assert out.read_text(encoding="utf-8").startswith("## [1.0.0]")
        _fragment(repo, "1.fix.md", "Fixed one.")
        assert notes.main(["1.0.1", "--draft", "--root", str(repo)]) == 0
        assert "Fixed one." in capsys.readouterr().out
        assert notes.main(["v9.9.9", "--root", str(repo)]) == 1
        assert capsys.readouterr().err.startswith("release_notes: CHANGELOG.md has no section")


class TestFragmentCheck:
    def test_a_clean_clone_of_main_passes(self, repo: Path) -> None:
        """No tag, no diff: nothing to compare."""
        ok, message = fragments.check(repo)
        assert ok
        assert "no change in common_utils/ since HEAD" in message

    def test_a_library_change_without_a_fragment_fails(self, repo: Path) -> None:
        """Uncommitted, committed on a branch: the same answer."""
        (repo / "common_utils" / "core.py").write_text("X = 2\n", encoding="utf-8")
        ok, message = fragments.check(repo)
        assert not ok
        assert "common_utils/core.py changed since HEAD" in message
        git(repo, "switch", "-q", "-c", "topic")
        git(repo, "commit", "-q", "-am", "change")
        ok, message = fragments.check(repo)
        assert not ok
        assert "since the merge base with main" in message

    def test_a_fragment_in_the_same_range_passes(self, repo: Path) -> None:
        """Added on the branch (or still untracked) next to the library change."""
        git(repo, "switch", "-q", "-c", "topic")
        (repo / "common_utils" / "new.py").write_text("Y = 1\n", encoding="utf-8")
        _fragment(repo, "+new.feature.md", "Added `new`.")
        assert fragments.check(repo)[0]
        git(repo, "add", ".")
        git(repo, "commit", "-q", "-m", "new")
        ok, message = fragments.check(repo)
        assert ok
        assert "notes: changes/+new.feature.md" in message

    def test_changelog_none_in_a_commit_message_passes(self, repo: Path) -> None:
        """A refactoring says so in its commit."""
        git(repo, "switch", "-q", "-c", "topic")
        (repo / "common_utils" / "core.py").write_text("X = 1  # why\n", encoding="utf-8")
        git(repo, "commit", "-q", "-am", "Comment\n\nChangelog: none")
        ok, message = fragments.check(repo)
        assert ok
        assert "Changelog: none" in message

    def test_on_main_the_previous_release_tag_is_the_base(self, repo: Path) -> None:
        """Library commits on main since the last tag need their notes before the next tag."""
        git(repo, "tag", "-a", "v1.0.0", "-m", "1.0.0")
        (repo / "common_utils" / "core.py").write_text("X = 3\n", encoding="utf-8")
        git(repo, "commit", "-q", "-am", "three")
        ok, message = fragments.check(repo)
        assert not ok
        assert "since the previous release tag v1.0.0" in message

    def test_docs_and_tests_need_no_fragment(self, repo: Path) -> None:
        """Only common_utils/ is the library."""
        (repo / "README.md").write_text("x\n", encoding="utf-8")
        assert fragments.check(repo)[0]

    def test_a_misnamed_fragment_fails(self, repo: Path) -> None:
        """``.feat.md`` would silently be left out of the notes."""
        _fragment(repo, "12.feat.md", "Typo in the type.")
        ok, message = fragments.check(repo)
        assert not ok
        assert message.startswith("changes/12.feat.md: not a fragment name")

    def test_an_explicit_base_wins_and_is_validated(self, repo: Path) -> None:
        """--base / CHANGES_BASE for CI systems that check out a detached merge commit."""
        first = git(repo, "rev-parse", "HEAD")
        (repo / "common_utils" / "core.py").write_text("X = 4\n", encoding="utf-8")
        git(repo, "commit", "-q", "-am", "four")
        ok, message = fragments.check(repo, first)
        assert not ok
        assert f"since {first}" in message
        ok, message = fragments.check(repo, "no-such-ref")
        assert not ok
        assert "'no-such-ref' is not a commit here" in message

    def test_unrelated_history_is_reported(self, repo: Path) -> None:
        """A branch that shares nothing with main (a too-shallow clone) cannot be judged."""
        git(repo, "switch", "-q", "--orphan", "lonely")
        (repo / "x").write_text("x\n", encoding="utf-8")
        git(repo, "add", "x")
        git(repo, "commit", "-q", "-m", "lonely")
        ok, message = fragments.check(repo)
        assert not ok
        assert "shares no history with main" in message

    def test_outside_git_the_check_is_skipped(self, tmp_path: Path) -> None:
        """An unpacked sdist has no history to compare."""
        ok, message = fragments.check(tmp_path)
        assert ok
        assert "skipped" in message

    def test_command_line(
        self, repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Exit 0 with a line on stdout, exit 1 with a line on stderr; CHANGES_BASE is read."""
        assert fragments.main(["--root", str(repo)]) == 0
        assert capsys.readouterr().out.startswith("check_fragments: ok:")
        monkeypatch.setenv("CHANGES_BASE", "nope")
        assert fragments.main(["--root", str(repo)]) == 1
        assert "'nope' is not a commit" in capsys.readouterr().err

    def test_many_changed_files_are_summarised(self, repo: Path) -> None:
        """The failure line stays one line."""
        for n in range(7):
            (repo / "common_utils" / f"m{n}.py").write_text("", encoding="utf-8")
        ok, message = fragments.check(repo)
        assert not ok
        assert "and 2 more changed" in message


FIRST = "1.0.0"


def _committed_changelog() -> str:
    return (REPO_ROOT / "CHANGELOG.md").read_text(encoding="utf-8")


def _heading(text: str, version: str) -> str:
    found = re.search(rf"^## \[{re.escape(version)}\].*$", text, re.MULTILINE)
    assert found is not None, f"CHANGELOG.md has no ## [{version}] section"
    return found.group(0)


class TestTheFirstRelease:
    """CHANGELOG.md's committed 1.0.0 section is what the release of v1.0.0 publishes."""

    def test_its_heading_is_the_one_write_gives_a_release(self) -> None:
        """``## [1.0.0] - YYYY-MM-DD``: towncrier's ``title_format`` with a real date."""
        heading = _heading(_committed_changelog(), FIRST)
        date = heading.rsplit(" - ", 1)[-1]
        datetime.date.fromisoformat(date)
        config = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        title = config["tool"]["towncrier"]["title_format"]
        assert heading == title.format(name="common-utils", version=FIRST, project_date=date)

    def test_unreleased_and_the_marker_stay_above_it(self) -> None:
        """The next ``--write`` folds its fragments in between, above 1.0.0."""
        text = _committed_changelog()
        marker = text.index(notes.START_MARKER)
        assert text.index("## [Unreleased]") < marker < text.index(_heading(text, FIRST))

    def test_the_pipelines_command_publishes_the_committed_section(self, tmp_path: Path) -> None:
        """``release_notes.py v1.0.0 --fallback-draft`` as the release runs it: the section."""
        out = tmp_path / "RELEASE_NOTES.md"
        script = REPO_ROOT / "scripts" / "release_notes.py"
        command = [sys.executable, str(script), f"v{FIRST}", "--fallback-draft",
                   "--date", "2099-01-01", "--output", str(out)]  # fmt: skip
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONWARNINGS": "ignore"}
        done = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True,
                              text=True, timeout=120, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""  # no "has no section" line: the committed notes, not a draft
        text = _committed_changelog()
        section = notes.changelog_section(text, FIRST)
        assert section
        assert out.read_text(encoding="utf-8") == f"{_heading(text, FIRST)}\n\n{section}\n"

    def test_a_first_release_breaks_and_deprecates_nothing(self) -> None:
        """Nothing was released before it: its notes say what it gives, not what changed."""
        section = notes.changelog_section(_committed_changelog(), FIRST) or ""
        headings = re.findall(r"^### (.+)$", section, re.MULTILINE)
        assert headings == ["Added", "Security", "Notes"]


def _public_modules() -> list[str]:
    root = REPO_ROOT / "common_utils"
    names = [p.stem for p in root.glob("*.py")]
    names += [p.parent.name for p in root.glob("*/__init__.py")]
    return sorted(n for n in names if not n.startswith("_"))


@pytest.mark.parametrize("module", _public_modules())
def test_every_public_module_is_in_the_notes(module: str) -> None:
    """A module a service can import is announced: in a released section or a pending fragment."""
    texts = [_committed_changelog()]
    texts += [p.read_text(encoding="utf-8") for p in (REPO_ROOT / "changes").glob("*.*.md")]
    assert any(re.search(rf"`common_utils\.{module}\b", text) for text in texts), module
