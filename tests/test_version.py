"""Versions come from strict git tags in every way the package is used."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import venv
import zipfile
from pathlib import Path

import pytest
from common_utils_platform.devsupport import git, make_checkout

from common_utils._scm import UNKNOWN_VERSION, version_from_describe, version_from_git

from .conftest import REPO_ROOT


def import_version(path: Path, cwd: Path) -> str:
    """Import common_utils with ``path`` first on sys.path in a clean interpreter."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import common_utils; "
        "print(common_utils.__version__); print(common_utils.__file__)"
    )
    done = subprocess.run(
        [sys.executable, "-I", "-c", code, str(path)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    )
    version, location = done.stdout.split()
    assert Path(location).is_relative_to(path), "imported another copy of common_utils"
    return version


@pytest.fixture(scope="module")
def tagged_checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_checkout(tmp_path_factory.mktemp("checkout"))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build sdist and wheel from a separate checkout tagged v9.8.7."""
    checkout = make_checkout(tmp_path_factory.mktemp("build"))
    dist = checkout / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist), str(checkout)],
        check=True,
        capture_output=True,
    )
    return dist


class TestVersionFromDescribe:
    def test_clean_tag_is_the_release_version(self) -> None:
        assert version_from_describe("v1.4.0-0-gabc1234") == "1.4.0"

    def test_commits_after_tag_give_next_patch_dev_version(self) -> None:
        assert version_from_describe("v1.4.0-3-gabc1234\n") == "1.4.1.dev3+gabc1234"

    def test_dirty_tree_marks_the_local_part(self) -> None:
        assert version_from_describe("v1.4.0-0-gabc1234-dirty") == "1.4.1.dev0+gabc1234.dirty"

    @pytest.mark.parametrize(
        "line",
        [
            "",
            "v1.4-0-gabc",
            "release-2026-0-gabc",
            "garbage",
            "v1.4.0a1-0-gabc",
            "v1.4.0rc0-0-gabc",
            "v01.4.0-0-gabc",
            "v1.4.0-rc1-0-gabc",
        ],
    )
    def test_unexpected_output_is_unknown(self, line: str) -> None:
        assert version_from_describe(line) == UNKNOWN_VERSION

    def test_release_candidate_tag_is_its_pre_release_version(self) -> None:
        assert version_from_describe("v1.6.0rc1-0-gabc1234") == "1.6.0rc1"

    def test_commits_after_a_candidate_give_the_next_candidates_dev_version(self) -> None:
        # setuptools-scm's guess-next-dev bumps the last number of 1.6.0rc1.
        assert version_from_describe("v1.6.0rc1-2-gabc1234") == "1.6.0rc2.dev2+gabc1234"
        assert version_from_describe("v1.6.0rc9-0-gabc1234-dirty") == (
            "1.6.0rc10.dev0+gabc1234.dirty"
        )


RELEASE_TAGS = ("v1.4.0", "v1.6.0rc1", "v0.0.0", "v10.20.30rc12")
NOT_RELEASE_TAGS = (
    "v9.9",
    "v9.9.0-rc1",
    "v9.9.0.1",
    "v9.9.0a1",
    "v9.9.0b1",
    "v9.9.0rc",
    "v9.9.0rc0",
    "v9.9.0rc01",
    "v9.9.0.rc1",
    "v9.9rc1.0",
    "v9.9.0c1",
    "v9.9.0r1",
    "v9.9.0cr1",
    "v9.9.0rcrc1",
    "v9.9.0rc1.dev1",
    "v09.9.0",
    "v9.09.0",
    "v9.9.00",
    "v9r.9.0",
    "v9.9.0.post1",
    "release-2026",
)


def test_pyproject_and_raw_source_select_tags_the_same_way() -> None:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    scm = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools_scm"]
    import re

    tag_regex = re.compile(scm["tag_regex"])
    for tag in RELEASE_TAGS:
        assert tag_regex.match(tag), tag
    for tag in NOT_RELEASE_TAGS:
        assert not tag_regex.match(tag), tag


@pytest.fixture(scope="module")
def released_then_one_commit(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A repository whose first commit is tagged v1.0.0; HEAD is one commit later, untagged."""
    repo = tmp_path_factory.mktemp("released-then-one-commit")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "commit", "-q", "--allow-empty", "-m", "released")
    git(repo, "tag", "v1.0.0")
    git(repo, "commit", "-q", "--allow-empty", "-m", "next")
    return repo


@pytest.mark.parametrize("tag", [*RELEASE_TAGS, *NOT_RELEASE_TAGS])
def test_raw_source_describes_with_the_pyproject_describe_command(
    released_then_one_commit: Path, tag: str
) -> None:
    """Tagging HEAD ``tag`` moves the raw source's version as setuptools-scm's describe_command.

    A release tag is HEAD's version; any other tag is passed over for the v1.0.0 before it.
    """
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    repo = released_then_one_commit
    scm = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools_scm"]
    for old in git(repo, "tag", "--points-at", "HEAD").split():
        git(repo, "tag", "-d", old)
    git(repo, "tag", tag)
    described = subprocess.run(
        scm["scm"]["git"]["describe_command"], cwd=repo, capture_output=True, text=True, check=True
    )
    expected = version_from_describe(described.stdout)
    assert version_from_git(repo) == expected
    if tag in RELEASE_TAGS:
        assert expected == tag[1:]
    else:
        assert expected.startswith("1.0.1.dev1+g")


class TestBuiltArtifacts:
    @pytest.mark.slow
    def test_tag_v9_8_7_builds_sdist_and_wheel_named_9_8_7(self, built: Path) -> None:
        names = sorted(p.name for p in built.iterdir())
        assert names == ["common_utils-9.8.7-py3-none-any.whl", "common_utils-9.8.7.tar.gz"]

    @pytest.mark.slow
    def test_wheel_ships_py_typed_and_reports_its_version(
        self, built: Path, tmp_path: Path
    ) -> None:
        wheel = built / "common_utils-9.8.7-py3-none-any.whl"
        with zipfile.ZipFile(wheel) as zf:
            names = set(zf.namelist())
            zf.extractall(tmp_path / "site")  # noqa: S202 - our own freshly built wheel
        assert "common_utils/py.typed" in names
        assert "common_utils/_version.py" in names
        assert import_version(tmp_path / "site", cwd=tmp_path) == "9.8.7"

    @pytest.mark.slow
    def test_sdist_carries_version_metadata_and_no_stray_files(self, built: Path) -> None:
        with tarfile.open(built / "common_utils-9.8.7.tar.gz") as tf:
            names = tf.getnames()
            pkg_info = tf.extractfile("common_utils-9.8.7/PKG-INFO")
            assert pkg_info is not None
            metadata = pkg_info.read().decode()
        assert "Version: 9.8.7" in metadata
        assert "Name: common-utils" in metadata
        assert not [n for n in names if "/.tox/" in n or "/.venv" in n]


class TestRawSourceVersion:
    """The git submodule approach: the checkout itself on sys.path."""

    def test_tagged_checkout_reports_the_tag(self, tagged_checkout: Path, tmp_path: Path) -> None:
        assert not (tagged_checkout / "common_utils" / "_version.py").exists()
        assert import_version(tagged_checkout, cwd=tmp_path) == "9.8.7"

    def test_commit_after_tag_and_non_strict_tags_give_dev_version(self, tmp_path: Path) -> None:
        checkout = make_checkout(tmp_path / "repo")
        (checkout / "CHANGELOG.md").write_text("changed\n")
        git(checkout, "commit", "-q", "-am", "next")
        for not_a_release in ("v9.9", "release-2026", "v9.9.0-rc1", "v9.9.0.1"):
            git(checkout, "tag", not_a_release)
        node = git(checkout, "rev-parse", "--short", "HEAD")
        assert import_version(checkout, cwd=tmp_path) == f"9.8.8.dev1+g{node}"

    def test_no_malformed_tag_is_ever_described(self, tmp_path: Path) -> None:
        """Tags outside the grammar on a newer commit never win over a release tag."""
        checkout = make_checkout(tmp_path / "repo")
        (checkout / "CHANGELOG.md").write_text("changed\n")
        git(checkout, "commit", "-q", "-am", "next")
        for not_a_release in NOT_RELEASE_TAGS:
            git(checkout, "tag", not_a_release)
        node = git(checkout, "rev-parse", "--short", "HEAD")
        assert import_version(checkout, cwd=tmp_path) == f"9.8.8.dev1+g{node}"

    def test_candidate_tag_versions_raw_source_and_setuptools_scm_alike(
        self, tmp_path: Path
    ) -> None:
        checkout = make_checkout(tmp_path / "repo", tag="v9.9.0rc1")
        scm = [sys.executable, "-m", "setuptools_scm"]

        def both() -> tuple[str, str]:
            done = subprocess.run(scm, cwd=checkout, capture_output=True, text=True, check=True)
            return import_version(checkout, cwd=tmp_path), done.stdout.strip()

        assert both() == ("9.9.0rc1", "9.9.0rc1")
        (checkout / "CHANGELOG.md").write_text("changed\n")
        git(checkout, "commit", "-q", "-am", "next")
        node = git(checkout, "rev-parse", "--short", "HEAD")
        assert both() == (f"9.9.0rc2.dev1+g{node}",) * 2
        git(checkout, "tag", "v9.9.0")
        assert both() == ("9.9.0", "9.9.0")

    def test_raw_source_matches_setuptools_scm(self, tmp_path: Path) -> None:
        checkout = make_checkout(tmp_path / "repo")
        (checkout / "CHANGELOG.md").write_text("changed\n")
        git(checkout, "commit", "-q", "-am", "next")
        git(checkout, "tag", "v10.0")  # not strict: ignored by both
        scm = subprocess.run(
            [sys.executable, "-m", "setuptools_scm"],
            cwd=checkout,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert import_version(checkout, cwd=tmp_path) == scm

    def test_dirty_tree_is_marked(self, tagged_checkout: Path, tmp_path: Path) -> None:
        checkout = make_checkout(tmp_path / "repo")
        (checkout / "CHANGELOG.md").write_text("edited\n")
        assert import_version(checkout, cwd=tmp_path).endswith(".dirty")

    def test_untagged_checkout_is_unknown(self, tmp_path: Path) -> None:
        checkout = make_checkout(tmp_path / "repo", tag=None)
        assert import_version(checkout, cwd=tmp_path) == UNKNOWN_VERSION

    def test_copy_inside_another_repository_does_not_borrow_its_tags(
        self, tagged_checkout: Path, tmp_path: Path
    ) -> None:
        host = tmp_path / "host"
        host.mkdir()
        git(host, "init", "-q")
        git(host, "commit", "-q", "--allow-empty", "-m", "host")
        git(host, "tag", "v5.5.5")
        vendored = host / "vendor" / "common_utils_copy"
        shutil.copytree(tagged_checkout / "common_utils", vendored / "common_utils")
        assert import_version(vendored, cwd=tmp_path) == UNKNOWN_VERSION

    def test_missing_git_is_unknown_not_a_crash(self, tagged_checkout: Path) -> None:
        saved = os.environ.get("PATH", "")
        os.environ["PATH"] = ""
        try:
            assert version_from_git(tagged_checkout) == UNKNOWN_VERSION
        finally:
            os.environ["PATH"] = saved


@pytest.mark.slow
def test_editable_install_reports_the_tag(tmp_path: Path) -> None:
    checkout = make_checkout(tmp_path / "repo", tag="v3.2.1")
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "-e", str(checkout)],
        check=True,
        capture_output=True,
    )
    done = subprocess.run(
        [str(python), "-I", "-c", "import common_utils; print(common_utils.__version__)"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "3.2.1"


def test_import_is_light() -> None:
    code = (
        "import sys, common_utils; "
        "heavy = [m for m in ('falcon', 'jwt', 'cerberus', 'pythonjsonlogger') "
        "if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT.parent,
    )
    assert done.stdout.strip() == ""


def test_version_from_git_reads_the_checkout_in_process(tagged_checkout: Path) -> None:
    assert version_from_git(tagged_checkout) == "9.8.7"


@pytest.mark.parametrize("generated", [True, False], ids=["generated-file", "raw-source"])
def test_dunder_version_prefers_the_generated_file(
    generated: bool, tagged_checkout: Path, tmp_path: Path
) -> None:
    """A ``_version.py`` (what a build writes) wins over the tags of the checkout around it."""
    checkout = tmp_path / "checkout"
    shutil.copytree(tagged_checkout, checkout, symlinks=True)
    if generated:
        (checkout / "common_utils" / "_version.py").write_text('version = "7.7.7"\n')
    assert import_version(checkout, cwd=tmp_path) == ("7.7.7" if generated else "9.8.7")


def test_version_from_git_outside_any_checkout_is_unknown(tmp_path: Path) -> None:
    assert version_from_git(tmp_path) == UNKNOWN_VERSION
