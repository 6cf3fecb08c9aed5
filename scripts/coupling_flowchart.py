"""Draw the coupling procedure as a flowchart: docs/coupling/rules.json to an SVG with Graphviz.

Usage::

    python scripts/coupling_flowchart.py [--output docs/coupling/flowchart.svg] [--dot]

``scripts/docs.py build`` runs it before mkdocs, so the picture on the page is made from the
same data as the page's rules and the questionnaire. It needs Graphviz's ``dot`` (Debian:
``apt-get install graphviz``); ``--dot`` prints the Graphviz source and needs nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

SCRIPTS = Path(__file__).resolve().parent
OUTPUT = SCRIPTS.parent / "docs" / "coupling" / "flowchart.svg"
INSTALL_HINT = (
    "Graphviz's `dot` is not installed: install it with `apt-get install graphviz` "
    "(or `python scripts/ensure_system_packages.py graphviz` as root)"
)
_COLOURS = {
    "no": "#f4cccc",
    "split": "#fff2cc",
    "count first": "#fff2cc",
    "not yet": "#fce5cd",
    "yes": "#d9ead3",
}


class FlowchartError(Exception):
    """The flowchart cannot be drawn (no ``dot``, or ``dot`` failed)."""


def _coupling() -> ModuleType:
    """Import scripts/coupling.py by path (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("coupling", SCRIPTS / "coupling.py")
    assert spec is not None  # noqa: S101 - a file we ship
    assert spec.loader is not None  # noqa: S101
    module = sys.modules.get("coupling") or importlib.util.module_from_spec(spec)
    if "coupling" not in sys.modules:
        sys.modules["coupling"] = module
        spec.loader.exec_module(module)
    return module


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def dot_source() -> str:
    """Return the Graphviz source of the flowchart, one node per rule and verdict."""
    procedure = _coupling().load_rules()
    lines = [
        "digraph coupling {",
        '  graph [rankdir=TB, fontname="Helvetica", nodesep=0.4, ranksep=0.3];',
        '  node [fontname="Helvetica", fontsize=11, style=filled, fillcolor=white];',
        '  edge [fontname="Helvetica", fontsize=10];',
        '  start [shape=oval, label="candidate", fillcolor="#eeeeee"];',
    ]
    previous = "start"
    for rule in procedure.rules:
        node = rule.id.lower()
        if rule.always_yes:
            lines.append(f"  {node} [shape=box, label={_quote(f'{rule.id} {rule.title}')}];")
            lines.append(f"  {previous} -> {node} [label=no];")
        else:
            label = f"{rule.id} {rule.title}\n{rule.short}"
            lines.append(f"  {node} [shape=diamond, margin=0.02, label={_quote(label)}];")
            lines.append(
                f"  {previous} -> {node}" + (" [label=no];" if previous != "start" else ";")
            )
        verdict = f"v_{node}"
        colour = _COLOURS[rule.verdict]
        lines.append(
            f'  {verdict} [shape=box, style="filled,rounded", fillcolor={_quote(colour)}, '
            f"label={_quote(rule.verdict)}];"
        )
        edge_label = "" if rule.always_yes else " [label=yes]"
        lines.append(f"  {node} -> {verdict}{edge_label};")
        lines.append(f"  {{ rank=same; {node}; {verdict}; }}")
        if rule.verdict == "yes":
            lines.append(f"  {verdict} -> {procedure.after_yes[0][0].lower()};")
        previous = node
    previous = "after_yes"
    for rule_id, title, short in procedure.after_yes:
        node = rule_id.lower()
        label = f"{rule_id} {title}\n{short}"
        lines.append(f'  {node} [shape=box, fillcolor="#d9ead3", label={_quote(label)}];')
        if previous != "after_yes":
            lines.append(f"  {previous} -> {node};")
        previous = node
    lines.append("}")
    return "\n".join(lines) + "\n"


def render(output: Path = OUTPUT) -> Path:
    """Write the flowchart as SVG to ``output`` and return the path.

    Raises:
        FlowchartError: ``dot`` is missing or failed.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise FlowchartError(INSTALL_HINT)
    # NOTE: a fixed argument list without a shell; the input is our own rule data.
    done = subprocess.run(
        [dot, "-Tsvg"], input=dot_source(), capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise FlowchartError(f"dot failed: {done.stderr.strip()}")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(done.stdout, encoding="utf-8")
    return output


def main(argv: list[str] | None = None) -> int:
    """Draw the flowchart (or print its source); return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python scripts/coupling_flowchart.py", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--output", type=Path, default=OUTPUT, help="SVG file to write")
    parser.add_argument("--dot", action="store_true", help="print the Graphviz source only")
    args = parser.parse_args(argv)
    if args.dot:
        print(dot_source(), end="")
        return 0
    try:
        path = render(args.output)
    except FlowchartError as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 1
    print(f"flowchart written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
