"""Build or preview the documentation site (the ``docs`` tox environment runs this).

Usage::

    python scripts/docs.py build [--site-dir DIR]   # mkdocs build --strict (default into site/)
    python scripts/docs.py serve [--addr HOST:PORT]  # mkdocs serve on 127.0.0.1:8000

``build`` is what CI runs: ``--strict`` turns every warning (a broken link or anchor, a page
missing from the nav, a docstring mkdocstrings cannot render) into a failure.

The docstrings are written in the Google style mkdocstrings reads natively (``Examples:``
sections, markdown code), so the API reference needs no rewriting extension.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG = REPO_ROOT / "mkdocs.yml"


def _mkdocs(*args: str) -> int:
    """Run mkdocs with this interpreter on the repository's config; return its exit code."""
    command = [sys.executable, "-m", "mkdocs", *args, "--config-file", str(CONFIG)]
    print("+", " ".join(command), flush=True)
    # NOTE: a fixed argument list without a shell; nothing comes from untrusted input.
    # Material 9.7+ prints a banner about MkDocs 2.0 on every build; it is noise in CI logs.
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    return subprocess.run(command, cwd=REPO_ROOT, env=env, check=False).returncode


def _flowchart() -> int:
    """Draw the coupling flowchart from its rule data; return 0, or 1 when Graphviz is missing."""
    # NOTE: scripts/ is not a package: import its sibling from this file's directory.
    scripts = str(Path(__file__).resolve().parent)
    if scripts not in sys.path:
        sys.path.insert(0, scripts)
    from coupling_flowchart import FlowchartError, render

    try:
        path = render()
    except FlowchartError as ex:
        print(f"error: cannot draw the coupling flowchart: {ex}", file=sys.stderr)
        return 1
    print(f"coupling flowchart drawn: {path.relative_to(REPO_ROOT)}", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and build or serve the site.

    Args:
        argv: Arguments without the program name; defaults to ``sys.argv[1:]``.

    Returns:
        The exit code of mkdocs.

    Example:
        >>> main(["build", "--site-dir", "/tmp/common_utils-site"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(prog="docs.py", description=(__doc__ or "").split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="mkdocs build --strict")
    build.add_argument(
        "--site-dir",
        default=str(REPO_ROOT / "site"),
        help="output directory (default: site/ in the repository, ignored by git)",
    )
    serve = commands.add_parser("serve", help="preview with live reload")
    serve.add_argument("--addr", default="127.0.0.1:8000", help="HOST:PORT (default %(default)s)")
    args = parser.parse_args(argv)

    # The coupling page shows a flowchart drawn from docs/coupling/rules.json at build time.
    if _flowchart() != 0:
        return 1
    if args.command == "build":
        code = _mkdocs("build", "--strict", "--clean", "--site-dir", args.site_dir)
        if code == 0:
            print(f"site built in {args.site_dir}: open index.html, or serve it for search")
        return code
    # NOTE: no --strict here: a preview should keep running while a page is half written.
    return _mkdocs("serve", "--dev-addr", args.addr)


if __name__ == "__main__":
    sys.exit(main())
