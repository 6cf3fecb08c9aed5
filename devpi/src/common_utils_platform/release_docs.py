"""The release's documentation: its notes (from the tagged commit) and the doc zip.

The notes come from the tagged checkout's notes script (``scripts/release_notes.py``
unless the repository's ``[tool.common-utils-release] notes-script`` says
otherwise), run through `release_steps.run_untrusted_step`; the doc zip
(``RELEASE_NOTES.md``, ``index.html`` and the constraints) is built byte for byte
the same from the same input, so a re-run uploads identical bytes.
"""

from __future__ import annotations

import html
import io
import subprocess
import sys
import time
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from common_utils_platform.release_settings import ProjectSettings
from common_utils_platform.release_steps import (
    Step,
    private_env,
    run_untrusted_step,
    take_back,
    untrusted_workspace,
)

__all__ = ["NOTES_FILE", "docs_zip", "release_notes"]

NOTES_FILE = "RELEASE_NOTES.md"


def release_notes(
    step: Step, project: ProjectSettings, clone: Path, version: str, workdir: Path, *, date: str
) -> tuple[str, str]:
    """Return the notes of ``vX.Y.Z`` from the tagged clone, and a line to show, if any.

    Runs ``python NOTES_SCRIPT vX.Y.Z --fallback-draft --date DATE`` in ``clone``
    (scrubbed environment, private ``HOME``), ``date`` being the tag's, so a re-run
    renders the same text. The committed ``CHANGELOG.md`` section when there is
    one, else the pending fragments: then the script's one line (which recommends
    ``--write`` before tagging) is returned to be shown. A tagged commit without
    the script gets notes saying so.

    Raises:
        ReleaseError: ``BUILD`` when the script fails (towncrier missing or a
            broken fragment configuration) or does not finish in 300 s.

    Example:
        >>> step = Step("notes", Path("/tmp/notes.log"), 4)
        >>> release_notes(step, ProjectSettings(name="x"), Path("/nonexistent"), "1.4.0",
        ...               Path("/tmp"), date="2026-01-01")[1]
        'no scripts/release_notes.py in the tagged commit: the published notes say so'
    """
    tag = f"v{version}"
    script = clone / project.notes_script
    if not script.is_file():
        return (
            f"## [{version}]\n\nThe tagged commit has no `{project.notes_script}`: "
            "no release notes were generated for it.\n",
            f"no {project.notes_script} in the tagged commit: the published notes say so",
        )
    source, outdir = untrusted_workspace(step, clone, workdir / "notes", "notes")
    output = outdir / NOTES_FILE
    cmd = [sys.executable, str(source / project.notes_script), tag, "--fallback-draft",
           "--date", date, "--output", str(output)]  # fmt: skip
    env = {**private_env(workdir), "PYTHONWARNINGS": "ignore"}
    try:
        done = run_untrusted_step(step, cmd, cwd=source, env=env, timeout=300)
    except subprocess.TimeoutExpired:
        raise step.fail(f"{project.notes_script} {tag} did not finish within 300 s") from None
    if done.returncode != 0 or not output.is_file():
        raise step.fail(f"{project.notes_script} {tag} failed:\n{step.tail(done, 4)}")
    (taken,) = take_back(step, output, workdir / NOTES_FILE)
    said = [line for line in done.stderr.splitlines() if line.startswith("release_notes: ")]
    return taken.read_text(encoding="utf-8"), said[0][len("release_notes: ") :] if said else ""


def _notes_html(title: str, notes: str, names: Sequence[str]) -> str:
    """Render the notes as a small HTML page listing the zip's files (raw HTML escaped)."""
    try:
        from markdown_it import MarkdownIt

        body = MarkdownIt("commonmark", {"html": False}).render(notes)
    except ImportError:  # pragma: no cover - markdown-it-py is in requirements/release.lock
        body = f"<pre>{html.escape(notes)}</pre>\n"
    title = html.escape(title)
    links = "\n".join(f'<li><a href="{html.escape(n)}">{html.escape(n)}</a></li>' for n in names)
    return (
        f'<!doctype html>\n<html lang="en">\n<head><meta charset="utf-8"><title>{title}</title>'
        f"</head>\n<body>\n<h1>{title}</h1>\n<ul>\n{links}\n</ul>\n{body}</body>\n</html>\n"
    )


def docs_zip(
    version: str,
    notes: str,
    constraints: Mapping[str, str],
    *,
    epoch: int,
    project: str = "common-utils",
) -> bytes:
    r"""Return the release's documentation zip: ``index.html``, the notes, the constraints.

    Built byte for byte the same from the same input (sorted entries, stored
    uncompressed, every timestamp the tag commit's ``epoch``, fixed modes), so
    a re-run uploads identical bytes, which a non-volatile devpi index accepts.

    Example:
        >>> one = docs_zip("1.4.0", "## [1.4.0]\n", {"constraints-py3.11.txt": "a==1\n"}, epoch=0)
        >>> one == docs_zip("1.4.0", "## [1.4.0]\n", {"constraints-py3.11.txt": "a==1\n"}, epoch=0)
        True
        >>> zipfile.ZipFile(io.BytesIO(one)).namelist()
        ['RELEASE_NOTES.md', 'constraints-py3.11.txt', 'index.html']
    """
    names = [NOTES_FILE, *sorted(constraints)]
    page = _notes_html(f"{project} {version}: release notes", notes, names)
    files = {NOTES_FILE: notes, **constraints, "index.html": page}
    stamp = time.gmtime(max(epoch, 315532800))[:6]  # zip dates start in 1980
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=stamp)
            info.create_system = 3
            info.external_attr = 0o644 << 16
            archive.writestr(info, files[name].encode("utf-8"))
    return buf.getvalue()
