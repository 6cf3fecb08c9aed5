"""The release tag rules (common_utils_platform.release_rules): the pipeline's and the hooks'."""

from __future__ import annotations

import pytest
from common_utils_platform import release_rules
from common_utils_platform.devsupport import git

rules = release_rules
V = rules.parse_tag


class TestGrammar:
    @pytest.mark.parametrize(
        ("tag", "version", "pre"),
        [
            ("v0.0.0", "0.0.0", False),
            ("v1.4.0", "1.4.0", False),
            ("v10.20.30", "10.20.30", False),
            ("v1.6.0rc1", "1.6.0rc1", True),
            ("v1.6.0rc12", "1.6.0rc12", True),
        ],
    )
    def test_release_tags_parse_to_canonical_pep440(
        self, tag: str, version: str, pre: bool
    ) -> None:
        from packaging.version import Version

        parsed = V(tag)
        assert (str(parsed), parsed.is_prerelease, parsed.tag) == (version, pre, tag)
        assert str(Version(version)) == version
        assert Version(version).is_prerelease is pre
        assert rules.is_release_tag(tag)

    @pytest.mark.parametrize(
        "tag",
        [
            "v1.4",
            "1.4.0",
            "v1.4.0-rc1",
            "v1.4.0.rc1",
            "v1.4.0rc",
            "v1.4.0rc0",
            "v1.4.0rc01",
            "v1.4.0a1",
            "v1.4.0b1",
            "v1.4.0.dev1",
            "v1.4.0+local",
            "v1.4.0.1",
            "v01.4.0",
            "v1.04.0",
            "v1.4.00",
            "V1.4.0",
            "v1.4.0 ",
            "v1.4.0\n",
            "v１.4.0",  # noqa: RUF001 - a full-width digit is not a digit here
            "release-2026",
            "",
        ],
    )
    def test_everything_else_is_refused_with_one_line(self, tag: str) -> None:
        assert not rules.is_release_tag(tag)
        with pytest.raises(rules.ReleaseRuleError) as caught:
            V(tag)
        message = str(caught.value)
        assert "\n" not in message.replace(repr(tag), "")
        assert "vX.Y.Z or vX.Y.ZrcN" in message

    def test_a_huge_tag_is_shortened_in_the_message(self) -> None:
        with pytest.raises(rules.ReleaseRuleError) as caught:
            V("v" + "1" * 5000)
        assert len(str(caught.value)) < 200

    @pytest.mark.parametrize(
        ("tag", "looks"),
        [
            ("v1.5", True),
            ("1.5.0", True),
            ("v1.5.0-rc1", True),
            ("v1", True),
            ("1_5", True),
            ("demo-start", False),
            ("release-2026", False),
            ("2026", False),
        ],
    )
    def test_versionish_tags_are_recognised(self, tag: str, looks: bool) -> None:
        assert rules.looks_like_version_tag(tag) is looks


class TestOrder:
    def test_candidates_sort_before_their_final_and_after_the_previous(self) -> None:
        tags = ["v1.6.0", "v1.5.9", "v1.6.0rc2", "v1.6.0rc10", "v1.6.1", "v1.6.0rc1", "v2.0.0rc1"]
        ordered = [v.tag for v in sorted(map(V, tags))]
        assert ordered == [
            "v1.5.9",
            "v1.6.0rc1",
            "v1.6.0rc2",
            "v1.6.0rc10",
            "v1.6.0",
            "v1.6.1",
            "v2.0.0rc1",
        ]

    def test_order_agrees_with_pep440(self) -> None:
        from packaging.version import Version

        tags = ["v1.6.0", "v1.5.9", "v1.6.0rc2", "v1.6.0rc10", "v0.9.0", "v1.10.0rc1"]
        assert [str(v) for v in sorted(map(V, tags))] == [
            str(v) for v in sorted(Version(t[1:]) for t in tags)
        ]

    def test_line_and_equality(self) -> None:
        assert V("v1.4.2").line == (1, 4)
        assert V("v1.4.2") == rules.ReleaseVersion(1, 4, 2)
        assert V("v1.4.2") != "v1.4.2"
        assert len({V("v1.4.2"), rules.ReleaseVersion(1, 4, 2)}) == 1

    def test_branch_line(self) -> None:
        assert rules.branch_line("release/1.4") == (1, 4)
        for name in ("main", "release/1.4.0", "release/1.04", "release/v1.4", "releases/1.4"):
            assert rules.branch_line(name) is None


# A small history, as ancestry pairs: main: m1 (v1.4.0) -> m2 (v1.5.0) -> m3; release/1.4
# from m1: r1; a side branch from m2: s1; release/1.7 (a line never started on main): x1.
_REACH = {
    "main": {"m1", "m2", "m3", "refs/tags/v1.4.0", "refs/tags/v1.5.0"},
    "release/1.4": {"m1", "r1", "refs/tags/v1.4.0"},
    "release/1.5": {"m1", "m2", "refs/tags/v1.5.0"},
    "release/1.7": {"m1", "x1", "refs/tags/v1.7.0"},
    "side": {"m1", "m2", "s1"},
}
BRANCHES = {name: name for name in _REACH}


def reach(commit: str, ref: str) -> bool:
    return commit in _REACH.get(ref, set())


class TestBranchRule:
    def test_a_commit_of_main_is_allowed(self) -> None:
        assert rules.check_branch_rule(V("v1.6.0"), "m3", BRANCHES, reach) == "main"

    def test_a_hotfix_on_its_own_release_branch_is_allowed(self) -> None:
        assert rules.check_branch_rule(V("v1.4.1"), "r1", BRANCHES, reach) == "release/1.4"

    def test_a_tag_for_another_line_on_a_release_branch_is_refused(self) -> None:
        with pytest.raises(rules.ReleaseRuleError) as caught:
            rules.check_branch_rule(V("v1.5.1"), "r1", BRANCHES, reach)
        assert str(caught.value) == (
            "v1.5.1 is on no allowed branch: tag a commit of main or of release/1.5 "
            "(commit r1 is on release/1.4 only, which carries 1.4.* tags)"
        )

    @pytest.mark.parametrize("tag", ["v1.7.0", "v1.7.1", "v1.7.0rc1"])
    def test_a_tag_on_a_release_branch_of_a_line_not_started_on_main_is_refused(
        self, tag: str
    ) -> None:
        """release/1.7 carries patches only once v1.7.0 is on main (here it is not)."""
        with pytest.raises(rules.ReleaseRuleError) as caught:
            rules.check_branch_rule(V(tag), "x1", BRANCHES, reach)
        assert str(caught.value) == (
            f"{tag} is on release/1.7, whose line has not started: v1.7.0 is not on main "
            "(a line starts with its vX.Y.0 tagged on main; release/1.7 carries only its patches)"
        )

    def test_a_release_branch_without_main_is_refused(self) -> None:
        with pytest.raises(rules.ReleaseRuleError, match="whose line has not started"):
            rules.check_branch_rule(V("v1.4.1"), "r1", {"release/1.4": "release/1.4"}, reach)

    def test_a_commit_on_a_side_branch_only_is_refused(self) -> None:
        with pytest.raises(rules.ReleaseRuleError, match="commit s1 is on none of them"):
            rules.check_branch_rule(V("v1.6.0"), "s1", BRANCHES, reach)

    def test_without_any_allowed_branch_everything_is_refused(self) -> None:
        with pytest.raises(rules.ReleaseRuleError):
            rules.check_branch_rule(V("v1.6.0"), "m3", {}, reach)

    def test_main_name_is_configurable(self) -> None:
        branches = {"trunk": "main"}
        assert rules.check_branch_rule(V("v1.0.0"), "m1", branches, reach, main="trunk") == "trunk"


class TestNewer:
    EXISTING = ("v1.4.0", "v1.5.0", "v1.6.0rc1", "not-a-release", "v1.6", "v1.4.1rc1")

    @pytest.mark.parametrize("tag", ["v1.6.0rc2", "v1.6.0", "v1.6.1", "v2.0.0", "v1.7.0rc1"])
    def test_main_accepts_versions_above_every_release(self, tag: str) -> None:
        rules.check_newer(V(tag), self.EXISTING, "main")

    @pytest.mark.parametrize(
        ("tag", "newest"),
        [("v1.6.0rc1", "v1.6.0"), ("v1.5.1", "v1.6.0rc1"), ("v1.4.2", "v1.6.0rc1")],
    )
    def test_main_refuses_versions_not_above_every_release(self, tag: str, newest: str) -> None:
        with pytest.raises(rules.ReleaseRuleError) as caught:
            rules.check_newer(V(tag), [t for t in self.EXISTING if t != tag] + [newest], "main")
        assert f"not newer than {newest}, the newest release on main" in str(caught.value)

    def test_the_tag_itself_is_not_a_conflict(self) -> None:
        rules.check_newer(V("v1.6.0rc1"), self.EXISTING, "main")

    def test_release_line_counts_only_its_own_versions(self) -> None:
        rules.check_newer(V("v1.4.1"), self.EXISTING, "release/1.4")
        with pytest.raises(rules.ReleaseRuleError, match=r"newest release on release/1\.4"):
            rules.check_newer(V("v1.4.1rc1"), ["v1.4.1"], "release/1.4")

    def test_an_older_line_on_main_hints_at_the_maintenance_branch(self) -> None:
        with pytest.raises(rules.ReleaseRuleError, match=r"goes on release/1\.4\)$"):
            rules.check_newer(V("v1.4.2"), ["v1.6.0"], "main")

    def test_final_after_its_candidates_and_no_candidate_after_the_final(self) -> None:
        rules.check_newer(V("v1.6.0"), ["v1.6.0rc1", "v1.6.0rc2"], "main")
        with pytest.raises(rules.ReleaseRuleError):
            rules.check_newer(V("v1.6.0rc3"), ["v1.6.0"], "main")

    def test_first_release_is_newer_than_nothing(self) -> None:
        rules.check_newer(V("v0.1.0"), [], "main")

    def test_unknown_branch_is_refused(self) -> None:
        with pytest.raises(rules.ReleaseRuleError, match=r"is not main or a release/X\.Y branch"):
            rules.check_newer(V("v1.0.0"), [], "side")


class TestNewTag:
    def test_all_rules_together(self) -> None:
        version = rules.check_new_tag(
            "v1.4.1", "r1", branches=BRANCHES, existing_tags=["v1.4.0", "v1.6.0"], is_ancestor=reach
        )
        assert version == V("v1.4.1")

    def test_grammar_first(self) -> None:
        with pytest.raises(rules.ReleaseRuleError, match="is not a release tag"):
            rules.check_new_tag(
                "v1.4", "m3", branches=BRANCHES, existing_tags=[], is_ancestor=reach
            )

    def test_a_commit_on_main_and_its_release_branch_may_take_either_line(self) -> None:
        # release/1.5 was cut from m2 (on main) and has no commit of its own yet.
        version = rules.check_new_tag(
            "v1.5.1", "m2", branches=BRANCHES, existing_tags=["v1.5.0", "v1.6.0"], is_ancestor=reach
        )
        assert version == V("v1.5.1")

    def test_the_main_refusal_is_reported_when_no_branch_accepts(self) -> None:
        with pytest.raises(rules.ReleaseRuleError, match="newest release on main"):
            rules.check_new_tag(
                "v1.5.0", "m3", branches=BRANCHES, existing_tags=["v1.6.0"], is_ancestor=reach
            )


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("rules-repo")
    git(root, "init", "-q", "-b", "main")

    def commit(message: str) -> str:
        git(root, "commit", "-q", "--allow-empty", "-m", message)
        return git(root, "rev-parse", "HEAD")

    shas = {"m1": commit("one")}
    git(root, "tag", "v1.4.0")
    git(root, "branch", "release/1.4")
    shas["m2"] = commit("two")
    git(root, "tag", "v1.5.0")
    git(root, "tag", "v1.5")  # not a release tag: ignored
    git(root, "checkout", "-q", "release/1.4")
    shas["r1"] = commit("fix")
    git(root, "checkout", "-q", "-b", "side", "main")
    shas["s1"] = commit("side")
    git(root, "checkout", "-q", "main")
    clone = tmp_path_factory.mktemp("rules-clone") / "c"
    git(root.parent, "clone", "-q", str(root), str(clone))
    return {**shas, "git_dir": str(root / ".git"), "clone_git_dir": str(clone / ".git")}


class TestWithGit:
    """The git helpers against a real repository (as a hook or CI sees it)."""

    def test_local_branches_tags_and_ancestry(self, repo: dict[str, str]) -> None:
        git_dir = repo["git_dir"]
        branches = rules.git_branches(git_dir)
        assert branches == {"main": "refs/heads/main", "release/1.4": "refs/heads/release/1.4"}
        assert sorted(rules.git_release_tags(git_dir)) == ["v1.4.0", "v1.5.0"]
        is_ancestor = rules.git_is_ancestor(git_dir)
        assert is_ancestor(repo["m1"], "refs/heads/main")
        assert not is_ancestor(repo["r1"], "refs/heads/main")
        assert not is_ancestor("0" * 40, "refs/heads/main")
        assert not is_ancestor(repo["m1"], "refs/heads/nonexistent")
        tags = rules.git_release_tags(git_dir)
        check = rules.check_new_tag
        assert check(
            "v1.4.1", repo["r1"], branches=branches, existing_tags=tags, is_ancestor=is_ancestor
        ) == V("v1.4.1")
        assert check(
            "v1.6.0rc1", repo["m2"], branches=branches, existing_tags=tags, is_ancestor=is_ancestor
        ).is_prerelease
        with pytest.raises(rules.ReleaseRuleError, match="on none of them"):
            check(
                "v1.6.0", repo["s1"], branches=branches, existing_tags=tags, is_ancestor=is_ancestor
            )

    def test_remote_branches_of_a_ci_clone(self, repo: dict[str, str]) -> None:
        git_dir = repo["clone_git_dir"]
        branches = rules.git_branches(git_dir, remote="origin")
        assert branches == {
            "main": "refs/remotes/origin/main",
            "release/1.4": "refs/remotes/origin/release/1.4",
        }
        assert "release/1.4" not in rules.git_branches(git_dir)  # not checked out locally
        is_ancestor = rules.git_is_ancestor(git_dir)
        assert rules.check_branch_rule(V("v1.4.1"), repo["r1"], branches, is_ancestor) == (
            "release/1.4"
        )
