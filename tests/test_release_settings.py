"""The release pipeline's settings: the documented table, what wins, what is refused (#28, #29)."""

from __future__ import annotations

import re
import sys

import pytest
from common_utils_platform.release_settings import ProjectSettings, ReleaseConfig
from common_utils_platform.release_steps import ExitCode, ReleaseError

from tests.conftest import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

RELEASE_DOC = REPO_ROOT / "docs" / "release.md"


def documented_table() -> str:
    blocks = re.findall(r"```toml\n(.*?)```", RELEASE_DOC.read_text(), re.S)
    found = [b for b in blocks if "[tool.common-utils-release]" in b]
    assert len(found) == 1
    return found[0]


def test_the_documented_table_is_every_key_with_its_default() -> None:
    """docs/release.md's table parses, and each value it shows is the default."""
    table = tomllib.loads(documented_table())
    given = ProjectSettings.from_pyproject({"project": {"name": "common-utils"}, **table})
    defaults = ProjectSettings(name="common-utils")
    assert given.staging_index == "team/staging"
    assert given.release_index == "team/release"
    assert given.release_user == "ci-release"
    unset = {"staging_index": None, "release_index": None, "release_user": None}
    assert ProjectSettings(**{**given.__dict__, **unset}) == defaults


def test_this_repository_releases_common_utils_with_the_default_settings() -> None:
    assert ProjectSettings.load(REPO_ROOT) == ProjectSettings(name="common-utils")


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"tests": "tests"}, "tests"),
        ({"tests": ["/etc"]}, "tests"),
        ({"exclude-tests": ["../x"]}, "exclude-tests"),
        ({"release-index": "release"}, "release-index"),
        ({"import-name": "team-flags"}, "import-name"),
        ({"test-selection": ["x"]}, "test-selection"),
    ],
)
def test_a_malformed_table_stops_the_guards_naming_the_key(
    table: dict[str, object], key: str
) -> None:
    with pytest.raises(ReleaseError) as caught:
        ProjectSettings.from_pyproject(
            {"project": {"name": "flags"}, "tool": {"common-utils-release": table}}
        )
    assert caught.value.code == ExitCode.GUARD
    assert key in str(caught.value)


def test_a_project_without_a_name_is_refused() -> None:
    with pytest.raises(ReleaseError, match=r"\[project\] name"):
        ProjectSettings.from_pyproject({"project": {"dynamic": ["name"]}})


def test_the_environment_wins_over_the_table_which_wins_over_the_defaults() -> None:
    project = ProjectSettings(
        name="flags", staging_index="flags/staging", release_index="flags/release",
        release_user="flags-bot",
    )  # fmt: skip
    env = {"DEVPI_PASSWORD": "pw", "DEVPI_RELEASE_INDEX": "ops/release"}
    config = ReleaseConfig.from_env(env).for_project(project)
    assert (config.user, config.staging_index, config.release_index) == (
        "flags-bot", "flags/staging", "ops/release",
    )  # fmt: skip
    plain = ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw"}).for_project(ProjectSettings(name="x"))
    assert (plain.user, plain.staging_index, plain.release_index) == (
        "ci-release", "team/staging", "team/release",
    )  # fmt: skip


def test_one_index_for_staging_and_release_is_refused_wherever_it_comes_from() -> None:
    project = ProjectSettings(name="flags", release_index="team/staging")
    with pytest.raises(ReleaseError, match="must differ") as caught:
        ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw"}).for_project(project)
    assert caught.value.code == ExitCode.USAGE
