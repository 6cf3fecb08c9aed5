"""The consumer pages describe one path without contradictions (issue 27).

Each test catches a kind of contradiction found between docs/consuming.md, the sample's
README and manifest, docs/release.md, docs/support.md and the code they describe.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "submodule_example"
CONSUMER_PAGES = (
    REPO_ROOT / "docs" / "consuming.md",
    SAMPLE / "README.md",
)
PAGES = (
    *CONSUMER_PAGES,
    REPO_ROOT / "docs" / "release.md",
    REPO_ROOT / "docs" / "support.md",
    REPO_ROOT / "docs" / "operations.md",
    REPO_ROOT / "README.md",
    SAMPLE / "manifest.yml",
)
FENCE = re.compile(r"^( *)```[^\n]*\n(.*?)^\1```", re.M | re.S)


def blocks(path: Path) -> list[tuple[int, str]]:
    """The fenced code blocks of a page: (offset, text)."""
    return [(m.start(), m[2]) for m in FENCE.finditer(path.read_text())]


def shown(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


@pytest.mark.parametrize("kind", ["devpi", "git"])
def test_one_host_name_for_each_server_across_the_pages(kind: str) -> None:
    hosts = {
        host: shown(page)
        for page in PAGES
        for host in re.findall(rf"\b{kind}\.example\.[a-z]+\b", page.read_text())
    }
    assert len(set(hosts)) <= 1, hosts


@pytest.mark.parametrize("page", CONSUMER_PAGES, ids=shown)
def test_plain_pins_are_shown_as_the_input_never_as_the_hashed_lock(page: Path) -> None:
    text = page.read_text()
    for offset, block in blocks(page):
        lines = [line for line in block.splitlines() if line.strip()]
        if not lines or not all(re.fullmatch(r"[A-Za-z0-9._-]+==\S+", line) for line in lines):
            continue
        before = text[:offset].rstrip().rsplit("\n\n", 1)[-1]
        assert "requirements.in" in before, before
        assert "`requirements.txt` pins" not in before, before


def test_every_consumer_index_setting_comes_with_the_team_ca() -> None:
    manifest = (SAMPLE / "manifest.yml").read_text()
    assert re.search(r"^\s+PIP_INDEX_URL: ", manifest, re.M)
    assert re.search(r"^\s+PIP_CERT: /\S+", manifest, re.M)
    for page in CONSUMER_PAGES:
        if "PIP_INDEX_URL" in page.read_text() or "--index-url" in page.read_text():
            assert "PIP_CERT" in page.read_text(), shown(page)
    consuming = (REPO_ROOT / "docs" / "consuming.md").read_text()
    for offset, block in blocks(REPO_ROOT / "docs" / "consuming.md"):
        if "PIP_INDEX_URL: ((devpi_url))" in block:
            assert "PIP_CERT:" in block, consuming[offset : offset + 400]


@pytest.mark.parametrize("page", CONSUMER_PAGES, ids=shown)
def test_every_cf_push_is_stamped_first(page: Path) -> None:
    stamped = False
    for _, block in blocks(page):
        for line in block.splitlines():
            if "python -m example_app.stamp" in line.split("#", 1)[0]:
                stamped = True
            if re.search(r"\bcf push\b", line.split("#", 1)[0]):
                assert stamped, f"{shown(page)}: {line.strip()} without a stamp before it"
                stamped = "python -m example_app.stamp" in line


@pytest.mark.parametrize("page", CONSUMER_PAGES, ids=shown)
def test_the_stamp_goes_into_a_push_copy_never_the_checkout(page: Path) -> None:
    """A stamp left in the checkout goes stale at the next re-lock; the tests refuse it."""
    stamps = 0
    for _, block in blocks(page):
        for line in block.splitlines():
            command = line.split("#", 1)[0]
            if re.search(r"(^|[;&|(]) *python -m example_app\.stamp\b", command):
                stamps += 1
                assert re.search(r"\(cd \.\./\S+ && python -m example_app\.stamp\b", command), line
    assert stamps, f"{shown(page)}: no stamp before a push"


@pytest.mark.parametrize("page", [*CONSUMER_PAGES, SAMPLE / "manifest.yml"], ids=shown)
def test_no_step_overwrites_a_lock_or_commits_blindly(page: Path) -> None:
    for _, block in blocks(page) or [(0, page.read_text())]:
        for line in block.splitlines():
            command = line.split("#", 1)[0]
            assert not re.search(r"\bcp \S+ requirements\.txt\b", command), line
            assert not re.search(r"\bgit commit (-\w*a|--all)\b", command), line
    text = page.read_text()
    assert "cp requirements-submodule.txt requirements.txt" not in text


@pytest.mark.parametrize("page", CONSUMER_PAGES, ids=shown)
def test_what_the_lock_command_writes_is_what_gets_added(page: Path) -> None:
    for _, block in blocks(page):
        adds = [line for line in block.splitlines() if line.lstrip().startswith("git add")]
        if "common-utils-lock" not in block or not adds:
            continue
        added = " ".join(adds)
        if "--constraints" in block:
            assert "common-utils-constraints.txt" in added, block
        if "git submodule" in block:
            for name in (".gitmodules", "submodules/common_utils", "requirements-submodule.txt"):
                assert name in added, (name, block)
        else:
            assert "requirements.txt" in added, block


@pytest.mark.parametrize("page", CONSUMER_PAGES, ids=shown)
def test_a_submodule_is_added_with_its_tag_lock_and_commit(page: Path) -> None:
    for _, block in blocks(page):
        if "git submodule add" not in block:
            continue
        for step in ("checkout v", "set-branch --branch v", "common-utils-lock", "git add",
                     "git commit"):  # fmt: skip
            assert step in block, (step, block)


def test_the_readme_one_liners_are_the_whole_consumer_path() -> None:
    readme = (REPO_ROOT / "README.md").read_text()
    (submodule,) = [line for line in readme.splitlines() if line.startswith("| reuse the source")]
    for step in ("checkout v", "set-branch --branch v", "common-utils-lock", "git add",
                 "git commit"):  # fmt: skip
        assert step in submodule, (step, submodule)
    (pip,) = [line for line in readme.splitlines() if line.startswith("| install it from")]
    for step in ("requirements.in", "common-utils-lock", "PIP_CERT", "renovate"):
        assert step in pip, (step, pip)


def test_notes_decision_is_the_same_in_code_and_pages() -> None:
    """A pushed final tag without a CHANGELOG section is published with the draft notes."""
    release_py = (REPO_ROOT / "devpi" / "src" / "common_utils_platform" / "release.py").read_text()
    assert "--fallback-draft" in release_py
    for name in ("support.md", "release.md"):
        text = (REPO_ROOT / "docs" / name).read_text()
        assert "--fallback-draft" in text, name
        assert "fails if the section is missing" not in text, name
        assert "no release goes out without notes" not in text, name


def test_a_final_is_tagged_after_its_notes_commit() -> None:
    for name in ("release.md", "support.md"):
        for _, block in blocks(REPO_ROOT / "docs" / name):
            if "release_notes.py" not in block or "git tag" not in block:
                continue
            for tag in re.finditer(r"git tag -a v(\d+\.\d+\.\d+) ", block):
                before = block[: tag.start()]
                assert f"release_notes.py {tag[1]} --write" in before, block
                assert "git commit" in before.split(f"release_notes.py {tag[1]} --write")[1]
    release = (REPO_ROOT / "docs" / "release.md").read_text()
    assert "may tag the same commit as the last candidate" not in release


def test_the_hotfix_section_has_commands_for_a_new_and_an_existing_branch() -> None:
    release = (REPO_ROOT / "docs" / "release.md").read_text()
    section = release.split("## Hotfix", 1)[1].split("\n## ", 1)[0]
    assert "git switch -c release/" in section
    assert re.search(r"git switch release/\S+ && git pull --ff-only", section)
    assert "release_notes.py" in section


def test_the_account_variables_name_one_account_each() -> None:
    server = (REPO_ROOT / "devpi" / "src" / "common_utils_platform" / "server.py").read_text()
    release = (REPO_ROOT / "docs" / "release.md").read_text()
    assert 'env.get("DEVPI_TEAM_PASSWORD"' in server
    assert 'env.get("DEVPI_PASSWORD"' not in server
    team_row = next(line for line in release.splitlines() if line.startswith("| `team` |"))
    assert "DEVPI_TEAM_PASSWORD" in team_row
    assert "DEVPI_PASSWORD" not in team_row.replace("DEVPI_TEAM_PASSWORD", "")


def test_withdrawn_releases_come_from_the_file_only() -> None:
    """devpi-server 6 serves no PEP 592 marks: nothing may promise a yank-based flag."""
    fleet = (REPO_ROOT / "devpi" / "src" / "common_utils_platform" / "fleet.py").read_text()
    assert "yanked on the index" not in fleet
    for page in (REPO_ROOT / "docs" / "consuming.md", REPO_ROOT / "docs" / "release.md"):
        assert "or yanked on devpi" not in page.read_text(), shown(page)


def test_the_sample_extends_the_preset_the_docs_name() -> None:
    config = json.loads((SAMPLE / "renovate.json").read_text())
    (preset,) = [e for e in config["extends"] if e.endswith("renovate/default")]
    assert (REPO_ROOT / "renovate" / "default.json").is_file()
    assert preset in (REPO_ROOT / "docs" / "consuming.md").read_text()


def test_a_service_keeps_no_locking_script_and_every_page_names_the_installed_command() -> None:
    """The lock command is installed from the platform tools, never copied (issue 27)."""
    assert not (SAMPLE / "lock.py").exists()
    scripts = (REPO_ROOT / "devpi" / "pyproject.toml").read_text()
    assert 'common-utils-lock = "common_utils_platform.servicelock:main"' in scripts
    for page in (*PAGES, REPO_ROOT / "docs" / "coupling.md", SAMPLE / "tox.ini"):
        for _, block in blocks(page) or [(0, page.read_text())]:
            assert not re.search(r"\bpython3? lock\.py\b", block), shown(page)
    preset = json.loads((REPO_ROOT / "renovate" / "default.json").read_text())
    commands = [c for r in preset["packageRules"] for c in r.get("postUpgradeTasks", {}).get(
        "commands", [])]  # fmt: skip
    assert commands
    assert all(c.startswith("common-utils-lock --common-utils ") for c in commands), commands
    consuming = (REPO_ROOT / "docs" / "consuming.md").read_text()
    assert '`allowedCommands: ["^common-utils-lock --common-utils "]`' in consuming


def test_the_page_says_what_a_service_keeps_and_the_sample_keeps_that() -> None:
    consuming = (REPO_ROOT / "docs" / "consuming.md").read_text()
    section = consuming.split("### What the service keeps in its repository", 1)[1]
    table = section.split("\n\n")[2]
    kept = re.findall(r"^\| `([^`]+)` \|", table, re.M)
    assert kept == ["requirements.in", "requirements.txt", "renovate.json"]
    for name in kept:
        assert (SAMPLE / name).is_file(), name


def _commands(block: str) -> list[str]:
    """The command lines of a shell block, without comments and blank lines."""
    lines = (re.sub(r"\s+#\s.*$", "", line).strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_every_command_of_the_samples_readme_is_one_the_consuming_page_runs() -> None:
    """The README's shell lines are the page's, which tests/e2e/test_consuming_page.py runs."""
    page = (REPO_ROOT / "docs" / "consuming.md").read_text()
    marked = re.findall(r"^<!-- consumer: \w+ [\w-]+ -->\n```bash\n(.*?)^```", page, re.M | re.S)
    assert len(marked) == page.count("```bash\n"), "docs/consuming.md: a bash block unmarked"
    run = {line for block in marked for line in _commands(block)}
    readme = SAMPLE / "README.md"
    shell = re.findall(r"^( *)```bash\n(.*?)^\1```", readme.read_text(), re.M | re.S)
    assert shell
    for _, block in shell:
        for line in _commands(block):
            assert line in run, f"{shown(readme)}: {line!r} is not a command of docs/consuming.md"


def _commands(block: str) -> list[str]:
    """A shell block's lines without comments (`` # ...``) and indentation."""
    return [c for line in block.splitlines() if (c := re.sub(r"(^|\s+)#\s.*$", "", line).strip())]


def test_every_command_of_the_samples_readme_is_one_the_page_test_runs() -> None:
    """The README repeats consuming.md's commands; each must be a line of a marked block,
    which tests/e2e/test_consuming_page.py runs, so the README cannot drift into an untested one."""
    consuming = (REPO_ROOT / "docs" / "consuming.md").read_text()
    marker = r"^<!-- consumer: \w+ [\w-]+ -->\n```bash\n(.*?)^```"
    marked = re.finditer(marker, consuming, re.M | re.S)
    run = {line for m in marked for line in _commands(m[1])}
    readme = (SAMPLE / "README.md").read_text()
    shell = re.findall(r"^( *)```bash\n(.*?)^\1```", readme, re.M | re.S)
    assert shell
    for _, block in shell:
        for line in _commands(block):
            assert line in run, f"{shown(SAMPLE / 'README.md')}: {line!r} is run by no docs test"
