"""The coupling procedure: rules, worked verdicts, questionnaire, page and flowchart agree.

The rules (docs/coupling/rules.json) and the worked verdicts (docs/coupling/verdicts.json) are
the one source; scripts/coupling.py (questionnaire, page sections) and
scripts/coupling_flowchart.py (the picture) are made from them.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import REPO_ROOT

SCRIPTS = REPO_ROOT / "scripts"


def _load(name: str) -> ModuleType:
    # NOTE: scripts/ is not a package; load the files by path.
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


coupling = _load("coupling")
flowchart = _load("coupling_flowchart")
PROCEDURE = coupling.load_rules()
RECORDS: list[dict[str, Any]] = coupling.load_verdicts()


def _flatten(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for record in records:
        flat.append(record)
        flat.extend(_flatten(record.get("parts", [])))
    return flat


ALL_RECORDS = _flatten(RECORDS)
RECORD_IDS = [record["id"] for record in ALL_RECORDS]
# Public modules and packages of common_utils, read from the source tree.
MODULES = sorted(
    path.stem if path.is_file() else path.name
    for path in (REPO_ROOT / "common_utils").iterdir()
    if not path.name.startswith(("_", "."))
    and ((path.is_file() and path.suffix == ".py") or (path / "__init__.py").is_file())
)


class TestRules:
    def test_every_rule_is_a_question_with_a_verdict_from_the_closed_list_and_tests(self) -> None:
        """Each rule asks one question, gives a listed verdict, says where code goes, has tests."""
        for rule in PROCEDURE.rules:
            assert rule.question.endswith("?") or rule.always_yes, rule.id
            assert rule.verdict in coupling.VERDICTS
            assert rule.instead.strip()
            assert rule.tests, f"{rule.id} has no boundary tests"

    def test_every_verdict_of_the_closed_list_is_given_by_some_rule(self) -> None:
        """No verdict in the list is unreachable."""
        assert {rule.verdict for rule in PROCEDURE.rules} == set(coupling.VERDICTS)

    def test_decide_takes_the_first_yes_and_names_the_first_unanswered_rule(self) -> None:
        """The first "yes" decides; later answers are never read; a gap is an error."""
        assert coupling.decide(PROCEDURE, {"R1": False, "R2": True, "R3": True}).id == "R2"
        with pytest.raises(coupling.ProcedureError, match="R3 is unanswered"):
            coupling.decide(PROCEDURE, {"R1": False, "R2": False})
        all_no = {rule.id: False for rule in PROCEDURE.rules}
        assert coupling.decide(PROCEDURE, all_no).id == "R11"

    @pytest.mark.parametrize(
        ("case", "rule_id"),
        [
            ("what counts as configuration", "R3"),
            ("company infrastructure service", "R2"),
            ("company security code", "R4"),
            ("mixed candidate", "R5"),
            ("unknown copy count", "R8"),
        ],
    )
    def test_each_boundary_case_of_issue_29_has_a_rule_and_worked_verdicts(
        self, case: str, rule_id: str
    ) -> None:
        """Every boundary case named in the issue is decided by a rule some verdict exercises."""
        assert PROCEDURE.rule(rule_id).tests, case
        assert any(record["rule"] == rule_id for record in ALL_RECORDS), case


class TestWorkedVerdicts:
    def test_there_are_at_least_30_worked_verdicts(self) -> None:
        """The issue asks for thirty or more, across every class."""
        assert len(RECORDS) >= 30
        assert len(set(RECORD_IDS)) == len(RECORD_IDS), "ids must be unique"

    @pytest.mark.parametrize("record", ALL_RECORDS, ids=RECORD_IDS)
    def test_verdict_follows_from_its_answers_in_rule_order(self, record: dict[str, Any]) -> None:
        """Answers run R1, R2, ... all "no" up to one "yes"; that rule gives the verdict."""
        assert coupling.check_record(PROCEDURE, record) == []

    @pytest.mark.parametrize(
        ("change", "problem"),
        [
            ({"rule": "R3"}, "recorded rule R3"),
            ({"verdict": "yes"}, "recorded verdict 'yes'"),
            ({"answers": {"R1": "no", "R3": "yes"}}, "rule order"),
            ({"answers": {"R1": "no", "R2": "yes", "R3": "no"}}, "past the deciding rule"),
            ({"answers": {"R1": "maybe"}}, "yes or no"),
        ],
    )
    def test_a_verdict_that_contradicts_its_answers_is_caught(
        self, change: Mapping[str, Any], problem: str
    ) -> None:
        """The check is not vacuous: each kind of contradiction is reported."""
        record = {**next(r for r in RECORDS if r["id"] == "billing-client"), **change}
        assert any(problem in message for message in coupling.check_record(PROCEDURE, record))

    def test_a_split_needs_parts_decided_by_different_rules(self) -> None:
        """A mixed candidate whose parts agree was not mixed."""
        record = next(r for r in RECORDS if r["id"] == "pagination-mixed")
        same = [record["parts"][0], {**record["parts"][0], "id": "copy"}]
        problems = coupling.check_record(PROCEDURE, {**record, "parts": same})
        assert any("different rules" in message for message in problems)

    def test_every_module_of_common_utils_passes_its_own_guide(self) -> None:
        """Each module has a worked verdict, and it is yes (or a split whose parts are all yes)."""
        by_module = {record["module"]: record for record in RECORDS if "module" in record}
        assert sorted(by_module) == MODULES
        for name, record in by_module.items():
            verdicts = [part["verdict"] for part in record.get("parts", [])] or [record["verdict"]]
            assert set(verdicts) == {"yes"}, name

    def test_the_page_lists_every_module(self) -> None:
        """'What is in common_utils today' names every module."""
        section = _page().split("## What is in common_utils today", 1)[1].split("\n## ", 1)[0]
        for name in MODULES:
            assert re.search(rf"\b{name}\b", section), name


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPTS / "coupling.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )


class TestQuestionnaire:
    @pytest.mark.parametrize("record", ALL_RECORDS, ids=RECORD_IDS)
    def test_answers_as_flags_give_the_worked_verdict(self, record: dict[str, Any]) -> None:
        """The questionnaire, given a record's answers, prints its verdict and rule."""
        done = _run(*coupling.flags_for(record))
        assert done.returncode == 0, done.stderr
        rule = PROCEDURE.rule(record["rule"])
        assert f"verdict: {record['verdict']}\n" in done.stdout
        assert f"decided by: {rule.id} ({rule.title})" in done.stdout

    def test_json_output_and_example_option(self) -> None:
        """--example answers from the record; --json prints the verdict for machines."""
        done = _run("--example", "jwt-signing", "--json")
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["rule"] == "R9"

    def test_a_missing_answer_without_a_terminal_names_the_rule_and_exits_2(self) -> None:
        """Offline and non-interactive, it never guesses an answer."""
        done = _run("--r1", "no", "--r2", "no")
        assert done.returncode == 2
        assert "R3 is unanswered: pass --r3 yes|no" in done.stderr

    def test_asks_the_questions_in_rule_order_on_a_terminal(
        self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """Interactive: '?' shows the boundary tests, then answers are read in order."""
        replies = iter(["no", "?", "no", "yes"])
        asked: list[str] = []

        def fake_input(prompt: str) -> str:
            asked.append(prompt.split(".", 1)[0])
            return next(replies)

        monkeypatch.setattr("builtins.input", fake_input)
        rule = coupling.run(PROCEDURE, {}, interactive=True)
        assert (rule.id, asked) == ("R3", ["R1", "R2", "R2", "R3"])
        assert PROCEDURE.rule("R2").tests[0] in capsys.readouterr().out


def _page() -> str:
    return (REPO_ROOT / "docs" / "coupling.md").read_text(encoding="utf-8")


class TestPage:
    def test_the_page_shows_exactly_the_rules_and_verdicts_of_the_data(self) -> None:
        """The generated sections equal what the data renders (regenerate with --page --write)."""
        assert coupling.page_sections(_page()) == coupling.rendered_sections(PROCEDURE, RECORDS)

    def test_every_worked_verdict_is_a_row_of_the_page(self) -> None:
        """Each record's candidate and verdict appear in the worked verdicts table."""
        table = coupling.page_sections(_page())["verdicts"]
        for record in ALL_RECORDS:
            row = next(line for line in table.splitlines() if record["candidate"] in line)
            assert f"**{record['verdict']}**, [{record['rule']}]" in row


class TestOwnership:
    def test_codeowners_paths_exist_and_the_tie_breaker_is_listed(self) -> None:
        """Every CODEOWNERS path exists; the lead owns docs/coupling.md, first."""
        lines = [
            line.split()
            for line in (REPO_ROOT / "CODEOWNERS").read_text(encoding="utf-8").splitlines()
            if line.strip() and not line.startswith("#")
        ]
        for pattern, *owners in lines:
            assert owners, pattern
            assert all(re.fullmatch(r"@common-utils/[a-z-]+", o) for o in owners)
            if pattern != "*":
                assert (REPO_ROOT / pattern.strip("/")).exists(), pattern
        owners_of = {pattern: owners for pattern, *owners in lines}
        assert owners_of["/docs/coupling.md"][0] == "@common-utils/lead"

    def test_the_teams_named_on_the_page_are_the_codeowners_teams(self) -> None:
        """No page names a team CODEOWNERS does not have."""
        codeowners = set(
            re.findall(r"@common-utils/[a-z-]+", (REPO_ROOT / "CODEOWNERS").read_text())
        )
        assert set(re.findall(r"@common-utils/[a-z-]+", _page())) <= codeowners
        assert "@org/" not in _page()

    def test_the_fast_extra_has_an_adr(self) -> None:
        """Every extra in pyproject.toml has a decision record (R13)."""
        text = (REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8")
        extras = re.findall(
            r"^(\w+) = \[", text.split("[project.optional-dependencies]")[1].split("\n[")[0], re.M
        )
        adrs = " ".join(p.read_text() for p in (REPO_ROOT / "docs" / "adr").glob("0*.md"))
        for extra in extras:
            assert f"`{extra}` extra" in adrs or f"extra `{extra}`" in adrs, extra


class TestFlowchart:
    def test_the_graphviz_source_names_every_rule(self) -> None:
        """The picture is drawn from the same rules (no Graphviz needed)."""
        source = flowchart.dot_source()
        for rule in PROCEDURE.rules:
            assert f'"{rule.id} {rule.title}' in source
        for rule_id, title, _ in PROCEDURE.after_yes:
            assert f'"{rule_id} {title}' in source

    def test_the_rendered_svg_is_well_formed_and_names_every_rule(self, tmp_path: Path) -> None:
        """dot renders an SVG that parses as XML and has every rule's id in its text."""
        if shutil.which("dot") is None:
            pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
        svg = flowchart.render(tmp_path / "flowchart.svg")
        root = ET.parse(svg).getroot()  # noqa: S314 - our own output
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        texts = " ".join(el.text or "" for el in root.iter("{http://www.w3.org/2000/svg}text"))
        for rule_id in [rule.id for rule in PROCEDURE.rules] + [a[0] for a in PROCEDURE.after_yes]:
            assert re.search(rf"\b{rule_id}\b", texts), rule_id
        for verdict in coupling.VERDICTS:
            assert verdict in texts

    def test_without_dot_the_build_says_how_to_install_it(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """A missing Graphviz is one clear line naming the Debian package."""
        monkeypatch.setattr(flowchart.shutil, "which", lambda name: None)
        with pytest.raises(flowchart.FlowchartError, match="apt-get install graphviz"):
            flowchart.render(tmp_path / "flowchart.svg")
