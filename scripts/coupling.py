r"""The coupling questionnaire: answer the rules of docs/coupling.md, get the verdict.

Usage::

    python scripts/coupling.py                       # asks the questions in rule order
    python scripts/coupling.py --r1 no --r2 no --r3 yes
    python scripts/coupling.py --example jwt-signing # a worked verdict, answered from its record
    python scripts/coupling.py --list                # the worked verdicts' ids
    python scripts/coupling.py --page [--write]      # the page's generated sections

It reads the rules from ``docs/coupling/rules.json`` and the worked verdicts from
``docs/coupling/verdicts.json`` (the same data the page and the flowchart are made from),
takes the rules in order, and stops at the first question answered "yes": that rule decides.
It prints the verdict, the deciding rule and where the code goes. Only the standard library is
used; it works offline. Exit status: 0 with a verdict, 2 when an answer is missing or malformed.

Examples:
    >>> rules = load_rules()
    >>> decide(rules, {"R1": False, "R2": False, "R3": True}).id
    'R3'
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = REPO_ROOT / "docs" / "coupling"
RULES_FILE = DATA / "rules.json"
VERDICTS_FILE = DATA / "verdicts.json"
PAGE = REPO_ROOT / "docs" / "coupling.md"
# The closed list of verdicts, in the order the page explains them.
VERDICTS = ("no", "split", "count first", "not yet", "yes")
ANSWERS = {"yes": True, "y": True, "no": False, "n": False}
MARKERS = {
    "rules": ("<!-- coupling:rules:start -->", "<!-- coupling:rules:end -->"),
    "verdicts": ("<!-- coupling:verdicts:start -->", "<!-- coupling:verdicts:end -->"),
}
GENERATED_NOTE = (
    "<!-- Generated from docs/coupling/*.json by `python scripts/coupling.py --page --write`; "
    "edit the data, not this section. -->"
)


class ProcedureError(Exception):
    """An answer is missing or malformed, or the data contradicts the procedure."""


@dataclass(frozen=True)
class Rule:
    """One yes/no question of the procedure; "yes" decides with `verdict`."""

    id: str
    title: str
    group: str
    short: str
    question: str
    verdict: str
    instead: str
    tests: tuple[str, ...]

    @property
    def anchor(self) -> str:
        """The rule's anchor on the page (``r3``)."""
        return self.id.lower()

    @property
    def always_yes(self) -> bool:
        """Whether this is the last rule, which decides whenever it is reached."""
        return self.id == "R11"


@dataclass(frozen=True)
class Procedure:
    """The rules in order, the closed list of verdicts, and the rules after a yes."""

    rules: tuple[Rule, ...]
    verdicts: Mapping[str, str]
    after_yes: tuple[tuple[str, str, str], ...]  # (id, title, short)

    def rule(self, rule_id: str) -> Rule:
        """Return the rule with this id."""
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise ProcedureError(f"no rule {rule_id}")


def _read_json(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


def load_rules(path: Path = RULES_FILE) -> Procedure:
    """Load the procedure from its JSON file and check that it is well formed."""
    data = _read_json(path)
    rules = tuple(
        Rule(
            id=item["id"],
            title=item["title"],
            group=item["group"],
            short=item["short"],
            question=item["question"],
            verdict=item["verdict"],
            instead=item["instead"],
            tests=tuple(item["tests"]),
        )
        for item in data["rules"]
    )
    expected = [f"R{number}" for number in range(1, len(rules) + 1)]
    if [rule.id for rule in rules] != expected:
        raise ProcedureError(f"rules must be numbered {expected[0]} to {expected[-1]} in order")
    if set(data["verdicts"]) != set(VERDICTS):
        raise ProcedureError(f"the verdicts must be exactly {', '.join(VERDICTS)}")
    for rule in rules:
        if rule.verdict not in VERDICTS:
            raise ProcedureError(f"{rule.id}: verdict {rule.verdict!r} is not in the closed list")
    if not rules[-1].always_yes:
        raise ProcedureError("the last rule must decide whatever is left (R11)")
    after = tuple((item["id"], item["title"], item["short"]) for item in data["after_yes"])
    return Procedure(rules=rules, verdicts=data["verdicts"], after_yes=after)


def load_verdicts(path: Path = VERDICTS_FILE) -> list[dict[str, Any]]:
    """Load the worked verdicts (a list of records; a split record has ``parts``)."""
    verdicts: list[dict[str, Any]] = _read_json(path)["verdicts"]
    return verdicts


def decide(procedure: Procedure, answers: Mapping[str, bool]) -> Rule:
    """Return the first rule answered "yes"; the last rule decides whatever is left.

    Raises:
        ProcedureError: A rule reached before the deciding one has no answer.
    """
    for rule in procedure.rules:
        if rule.always_yes:
            return rule
        if rule.id not in answers:
            raise ProcedureError(f"{rule.id} is unanswered: pass --{rule.anchor} yes|no")
        if answers[rule.id]:
            return rule
    raise AssertionError("unreachable: the last rule always decides")  # pragma: no cover


def record_answers(record: Mapping[str, Any]) -> dict[str, bool]:
    """Return a worked verdict's recorded answers as booleans."""
    answers: dict[str, bool] = {}
    for rule_id, text in record["answers"].items():
        if text not in ("yes", "no"):
            raise ProcedureError(f"{record['id']}: {rule_id} must be answered yes or no")
        answers[rule_id] = text == "yes"
    return answers


def check_record(procedure: Procedure, record: Mapping[str, Any]) -> list[str]:
    """Return what is wrong with one worked verdict (empty when it follows from its answers).

    Its answers must run in rule order from R1, all "no" up to one "yes", with nothing after;
    its verdict and rule must be the ones that answer gives; a split has parts that different
    rules decide, each one a valid record itself.
    """
    name = record.get("id", "?")
    problems: list[str] = []
    try:
        answers = record_answers(record)
    except ProcedureError as ex:
        return [str(ex)]
    order = [rule.id for rule in procedure.rules]
    if list(answers) != order[: len(answers)]:
        problems.append(f"{name}: answers must run in rule order from R1, got {list(answers)}")
    try:
        rule = decide(procedure, answers)
    except ProcedureError as ex:
        return [*problems, f"{name}: {ex}"]
    answered_up_to = order.index(rule.id) + 1
    if len(answers) != answered_up_to:
        problems.append(f"{name}: answers run past the deciding rule {rule.id}")
    if record.get("rule") != rule.id:
        problems.append(f"{name}: recorded rule {record.get('rule')}, its answers give {rule.id}")
    if record.get("verdict") != rule.verdict:
        problems.append(
            f"{name}: recorded verdict {record.get('verdict')!r}, {rule.id} gives {rule.verdict!r}"
        )
    for field in ("candidate", "class", "why", "instead"):
        if not str(record.get(field, "")).strip():
            problems.append(f"{name}: {field} is empty")
    parts = record.get("parts", [])
    if rule.verdict == "split":
        if len(parts) < 2:
            problems.append(f"{name}: a split names at least two parts")
        if len({part.get("rule") for part in parts}) < 2:
            problems.append(f"{name}: a split's parts must be decided by different rules")
        for part in parts:
            problems.extend(check_record(procedure, part))
    elif parts:
        problems.append(f"{name}: only a split has parts")
    return problems


def flags_for(record: Mapping[str, Any]) -> list[str]:
    """Return the command-line flags that answer a worked verdict's questions."""
    # NOTE: R11 is never asked: it decides whatever reaches it.
    return [
        f"--{rule_id.lower()}={text}"
        for rule_id, text in record["answers"].items()
        if rule_id != "R11"
    ]


# --- the page -------------------------------------------------------------------------------


def _cell(text: str) -> str:
    if "|" in text:
        raise ProcedureError(f"a table cell cannot hold '|': {text!r}")
    return text.replace("\n", " ")


def answers_summary(procedure: Procedure, record: Mapping[str, Any]) -> str:
    """Return a record's answers in short form: ``R1 to R8 no, R9 yes``."""
    rule_ids = list(record["answers"])
    last = rule_ids[-1]
    if len(rule_ids) == 1:
        return f"{last} yes"
    noes = rule_ids[0] if len(rule_ids) == 2 else f"{rule_ids[0]} to {rule_ids[-2]}"
    return f"{noes} no, {last} yes"


def render_rules(procedure: Procedure) -> str:
    """Return the markdown of the rules section."""
    lines = [GENERATED_NOTE, ""]
    group = ""
    for rule in procedure.rules:
        if rule.group != group:
            group = rule.group
            lines += [f"### {group}", ""]
        lines += [
            f"#### {rule.id}. {rule.title} {{#{rule.anchor}}}",
            "",
            f"**Question.** {rule.question}",
            "",
            f"**Yes: {rule.verdict}.** {rule.instead}",
            "",
            "Boundary tests:",
            "",
            *[f"- {test}" for test in rule.tests],
            "",
        ]
    lines += ["### The verdicts", "", "Every verdict is one of these five:", ""]
    for verdict in VERDICTS:
        deciders = ", ".join(
            f"[{rule.id}](#{rule.anchor})" for rule in procedure.rules if rule.verdict == verdict
        )
        lines.append(f"- **{verdict}** ({deciders}): {procedure.verdicts[verdict]}")
    return "\n".join(lines).rstrip() + "\n"


def _verdict_rows(procedure: Procedure, record: Mapping[str, Any], prefix: str) -> list[str]:
    rule = procedure.rule(record["rule"])
    row = [
        prefix + _cell(record["candidate"]),
        _cell(record["class"]),
        answers_summary(procedure, record),
        f"**{record['verdict']}**, [{rule.id}](#{rule.anchor})",
        _cell(record["why"]),
        _cell(record["instead"]),
    ]
    rows = ["| " + " | ".join(row) + " |"]
    for part in record.get("parts", []):
        rows += _verdict_rows(procedure, part, "part: ")
    return rows


def render_verdicts(procedure: Procedure, records: Sequence[Mapping[str, Any]]) -> str:
    """Return the markdown of the worked verdicts table."""
    lines = [
        GENERATED_NOTE,
        "",
        "| candidate | class | answers | verdict | why | where it goes |",
        "|---|---|---|---|---|---|",
    ]
    for record in records:
        lines += _verdict_rows(procedure, record, "")
    return "\n".join(lines) + "\n"


def rendered_sections(procedure: Procedure, records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """Return the page's generated sections by name."""
    return {"rules": render_rules(procedure), "verdicts": render_verdicts(procedure, records)}


def page_sections(text: str) -> dict[str, str]:
    """Return the page's generated sections, as they stand between their markers."""
    sections: dict[str, str] = {}
    for name, (start, end) in MARKERS.items():
        if text.count(start) != 1 or text.count(end) != 1:
            raise ProcedureError(f"the page needs exactly one {start} and one {end}")
        sections[name] = text.split(start, 1)[1].split(end, 1)[0].strip("\n") + "\n"
    return sections


def write_page(text: str, sections: Mapping[str, str]) -> str:
    """Return the page text with its generated sections replaced."""
    for name, (start, end) in MARKERS.items():
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{sections[name]}{end}{tail}"
    return text


# --- the questionnaire ----------------------------------------------------------------------


def _parse_answer(rule: Rule, text: str) -> bool:
    try:
        return ANSWERS[text.strip().lower()]
    except KeyError:
        raise ProcedureError(f"{rule.id}: answer yes or no, not {text!r}") from None


def _ask(rule: Rule) -> bool:
    """Ask one question on the terminal; '?' shows the rule's boundary tests."""
    while True:
        reply = input(f"{rule.id}. {rule.title}: {rule.question} [yes/no/?] ")
        if reply.strip() == "?":
            for test in rule.tests:
                print(f"  - {test}")
            continue
        try:
            return _parse_answer(rule, reply)
        except ProcedureError as ex:
            print(ex)


def run(procedure: Procedure, given: Mapping[str, bool], interactive: bool) -> Rule:
    """Take the rules in order, using the given answers and asking for missing ones."""
    answers = dict(given)
    for rule in procedure.rules:
        if rule.always_yes:
            break
        if rule.id not in answers:
            if not interactive:
                break  # decide() names the first unanswered rule
            answers[rule.id] = _ask(rule)
        if answers[rule.id]:
            break
    return decide(procedure, answers)


def _report(procedure: Procedure, rule: Rule, as_json: bool) -> str:
    if as_json:
        return json.dumps(
            {
                "verdict": rule.verdict,
                "rule": rule.id,
                "title": rule.title,
                "instead": rule.instead,
            }
        )
    return "\n".join(
        [
            f"verdict: {rule.verdict}",
            f"decided by: {rule.id} ({rule.title})",
            f"why: {rule.question} yes",
            f"where it goes: {rule.instead}",
            f"meaning: {procedure.verdicts[rule.verdict]}",
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the questionnaire; return the exit status."""
    procedure = load_rules()
    parser = argparse.ArgumentParser(
        prog="python scripts/coupling.py", description=(__doc__ or "").split("\n")[0]
    )
    for rule in procedure.rules:
        if not rule.always_yes:
            parser.add_argument(f"--{rule.anchor}", metavar="yes|no", help=rule.question)
    parser.add_argument("--example", metavar="ID", help="answer as a worked verdict records")
    parser.add_argument("--list", action="store_true", help="list the worked verdicts")
    parser.add_argument("--json", action="store_true", help="print the verdict as JSON")
    parser.add_argument("--page", action="store_true", help="print the page's generated sections")
    parser.add_argument("--write", action="store_true", help="with --page: update docs/coupling.md")
    args = parser.parse_args(argv)
    records = load_verdicts()

    if args.list:
        for record in records:
            print(f"{record['id']}: {record['verdict']} ({record['rule']}): {record['candidate']}")
        return 0
    if args.page:
        sections = rendered_sections(procedure, records)
        if args.write:
            PAGE.write_text(write_page(PAGE.read_text(encoding="utf-8"), sections), "utf-8")
            print(f"updated {PAGE.relative_to(REPO_ROOT)}")
        else:
            print("\n".join(sections.values()), end="")
        return 0

    try:
        given: dict[str, bool] = {}
        if args.example:
            matches = [r for r in _flatten(records) if r["id"] == args.example]
            if not matches:
                raise ProcedureError(f"no worked verdict {args.example!r}: see --list")
            given.update(record_answers(matches[0]))
        for rule in procedure.rules:
            value = None if rule.always_yes else getattr(args, rule.anchor)
            if value is not None:
                given[rule.id] = _parse_answer(rule, value)
        rule = run(procedure, given, interactive=sys.stdin.isatty() and not args.json)
    except ProcedureError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2
    print(_report(procedure, rule, args.json))
    return 0


def _flatten(records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Return the records and, after each split, its parts."""
    flat: list[Mapping[str, Any]] = []
    for record in records:
        flat.append(record)
        flat.extend(_flatten(record.get("parts", [])))
    return flat


if __name__ == "__main__":
    sys.exit(main())
