r"""Lock a service's dependencies from devpi with hashes: ``common-utils-lock``.

Run from the service's root whenever an input changes (``pip install uv`` and this
package first, see docs/consuming.md)::

    common-utils-lock --index-url "$DEVPI_URL/team/release/+simple/"

Each lock is what Renovate's pip-compile manager can maintain: its header is the plain
command that re-makes it, ``uv pip compile --generate-hashes --universal
--python-version=X.Y [--constraints=common-utils-constraints.txt] --output-file=LOCK
INPUT``, and that is the resolution this command runs (adding only the index, never
written into the lock, ``--no-config`` and a fresh look at common-utils). Renovate
replays the header with the index in ``UV_DEFAULT_INDEX``. The pairs, each locked when
its input exists:

- pip approach: ``requirements.in`` -> ``requirements.txt``;
- submodule approach: ``requirements-submodule.in`` -> ``requirements-submodule.txt``,
  whose ``# BEGIN common_utils dependencies`` ... ``# END`` block this command first
  fills with the pinned library's ``[project] dependencies`` (from
  ``submodules/common_utils/pyproject.toml``): a submodule has no resolver to do it.

What a header cannot say, this command adds:

- ``--common-utils X.Y.Z`` moves to a release in one step: the pin in
  ``requirements.in``, the submodule checked out at ``vX.Y.Z`` when there is one;
- ``--constraints FILE|URL`` applies the dependency set the release's own tests passed
  with: its devpi release page (``$DEVPI_URL/team/release/common-utils/X.Y.Z``; the
  documentation zip listed there, sha256-checked, member ``constraints-pyX.Y.txt`` for
  the target Python, ``URL#constraints-py3.11.txt`` for another), a plain file URL, or a
  local file. A URL passes the tools' one URL policy (``urls.check_url``: ``https://``,
  ``http://`` on loopback only, no credentials, no query), redirects stay on its host, at most 4 MiB are read and every line must be
  ``name==version``. It is saved as ``common-utils-constraints.txt`` beside the locks
  and stays applied (the header names it) until another replaces it.

The target is what Cloud Foundry runs: the Python of ``runtime.txt``, every platform.
A lock already there is kept where it still satisfies the inputs (its versions, never
its hashes: every hash is read from the index now); ``--upgrade`` and
``--upgrade-package NAME`` move things on purpose. Each run prints the change as
``-name==old`` / ``+name==new`` lines. The index is ``--index-url``, else
``UV_DEFAULT_INDEX``, else ``PIP_INDEX_URL``; no other index, uv configuration file or
``UV_*`` variable takes part. Exit status: 0 locked, 1 a step failed, 2 bad usage.

Only the standard library is used (and uv, as a program), with this package's one
URL policy (``urls.check_url``) and git helper (``devsupport.git``).

Examples:
    >>> from common_utils_platform.servicelock import replay_command
    >>> replay_command("requirements.in", "requirements.txt", "3.12", None)
    'uv pip compile --generate-hashes --universal --python-version=3.12 --output-file=requirements.txt requirements.in'
"""  # noqa: E501

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from pathlib import Path

from common_utils_platform.devsupport import GitError, git
from common_utils_platform.urls import URLPolicyError, check_url

__all__ = ["LockError", "main", "replay_command"]

LIBRARY = "common-utils"
SUBMODULE = Path("submodules") / "common_utils"
# (input, lock) of each approach; a service keeps the pair(s) it uses.
PAIRS = (
    ("requirements.in", "requirements.txt"),
    ("requirements-submodule.in", "requirements-submodule.txt"),
)
BEGIN = "# BEGIN common_utils dependencies"
END = "# END common_utils dependencies"
CONSTRAINTS_FILE = "common-utils-constraints.txt"
MAX_FETCH = 4 * 1024 * 1024  # bytes read from any constraints URL (page, zip or file)
MAX_CONSTRAINTS = 256 * 1024  # bytes of the constraints text itself
_PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)==(\S+)", re.M)
_LIBRARY_PIN = re.compile(r"^common-utils==\S+$", re.M)
_CONSTRAINT_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+(?:\s*;\s*[^#]+)?$")
_CONSTRAINTS_MEMBER = re.compile(r"^constraints-py\d+\.\d+\.txt$")
_PROG = "common-utils-lock"


class LockError(Exception):
    """A step of locking failed; the message is one line."""


def replay_command(source: str, output: str, python_version: str, constraints: str | None) -> str:
    """Return a lock's header command: what Renovate re-runs, and what this command runs.

    Only options Renovate's pip-compile manager accepts; the index comes from its
    environment (``UV_DEFAULT_INDEX``), never from the lock.
    """
    parts = ["uv pip compile --generate-hashes --universal", f"--python-version={python_version}"]
    if constraints:
        parts.append(f"--constraints={constraints}")
    parts.append(f"--output-file={output} {source}")
    return " ".join(parts)


def find_uv() -> list[str]:
    """Return the argv prefix that runs uv: beside this Python, on ``PATH``, or ``-m uv``."""
    beside = Path(sys.executable).parent / "uv"
    if beside.is_file():
        return [str(beside)]
    found = shutil.which("uv")
    if found:
        return [found]
    probe = subprocess.run(
        [sys.executable, "-m", "uv", "--version"], capture_output=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "uv"]
    raise LockError("uv is not installed: pip install uv")


def runtime_python(root: Path) -> str:
    """Return ``3.12`` for a ``runtime.txt`` of ``python-3.12.x`` (default ``3.12``)."""
    runtime = root / "runtime.txt"
    text = runtime.read_text().strip() if runtime.is_file() else ""
    match = re.fullmatch(r"python-(\d+\.\d+)(?:\.(?:\d+|x))?", text)
    return match[1] if match else "3.12"


def library_pyproject(root: Path) -> Path | None:
    """Return the pinned library's ``pyproject.toml``: the submodule's, else a parent's.

    The parent is the library's own checkout when the service is its sample.
    """
    for candidate in (root / SUBMODULE / "pyproject.toml", root.parent / "pyproject.toml"):
        if candidate.is_file() and 'name = "common-utils"' in candidate.read_text():
            return candidate
    return None


def library_dependencies(pyproject: Path) -> list[str]:
    """Return the ``[project] dependencies`` of a pyproject (a regex: runs on Python 3.10)."""
    match = re.search(r"^dependencies = \[(.*?)^\]", pyproject.read_text(), re.M | re.S)
    if match is None:
        raise LockError(f"no [project] dependencies in {pyproject}")
    return re.findall(r'"([^"]+)"', match[1])


def sync_submodule_input(path: Path, dependencies: Sequence[str]) -> bool:
    """Rewrite the library block of ``requirements-submodule.in``; return whether it changed."""
    text = path.read_text()
    block = re.compile(rf"^{re.escape(BEGIN)}[^\n]*\n.*?^{re.escape(END)}[^\n]*$", re.M | re.S)
    match = block.search(text)
    if match is None:
        raise LockError(f"{path.name} has no '{BEGIN}' ... '{END}' block")
    first_line = match[0].splitlines()[0]
    updated = text[: match.start()] + "\n".join([first_line, *dependencies, END])
    updated += text[match.end() :]
    if updated != text:
        path.write_text(updated)
    return updated != text


def pins(path: Path) -> list[str]:
    """Return the ``name==version`` lines of a lock (hashes and comments left out)."""
    if not path.is_file():
        return []
    return [f"{m[1].lower()}=={m[2]}" for m in _PIN_LINE.finditer(path.read_text())]


def _uv_env() -> dict[str, str]:
    """Return uv's environment: no ``UV_*`` setting may add an index or a find-links."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k == "UV_CACHE_DIR"}
    env["UV_NO_PROGRESS"] = "1"
    return env


def compile_lock(
    uv: Sequence[str],
    root: Path,
    pair: tuple[str, str],
    *,
    index_url: str,
    python_version: str,
    constraints: str | None,
    upgrade: Sequence[str],
) -> None:
    """Run the header's ``uv pip compile`` for one ``(input, lock)`` pair against the index.

    The existing lock's versions are kept as preferences, never its hashes: uv compiles
    into a scratch file seeded with the bare ``name==version`` lines, so a lock made
    against another index is re-hashed from this one. ``upgrade`` is ``["--upgrade"]``
    or ``--upgrade-package NAME`` arguments.
    """
    source, output = pair
    header = replay_command(source, output, python_version, constraints)
    scratch = root / f".{output}.locking"
    argv = [
        *uv,
        *header.split()[1:-2],  # the header's options, without its output file and input
        f"--output-file={scratch.name}",
        source,
        f"--index-url={index_url}",
        "--no-config",
        # A release made since the last lock must be seen; other pages follow HTTP caching.
        f"--refresh-package={LIBRARY}",
        f"--custom-compile-command={header}",
        "--quiet",
        *upgrade,
    ]
    scratch.write_text("".join(f"{pin}\n" for pin in pins(root / output)))
    try:
        done = subprocess.run(
            argv, cwd=root, env=_uv_env(), capture_output=True, text=True, check=False, timeout=600
        )
        if done.returncode != 0:
            # uv's own error, with the index URL's credentials (if any) masked.
            detail = re.sub(r"//[^/@\s]+@", "//***@", (done.stderr or done.stdout).strip())
            raise LockError(f"uv pip compile {source} failed: {detail}")
        scratch.replace(root / output)
    finally:
        scratch.unlink(missing_ok=True)


# -- the release's constraints ---------------------------------------------------------


def check_constraints(text: str, source: str) -> int:
    """Refuse anything but comments and ``name==version`` lines; return the pin count.

    A constraints file could otherwise carry pip options (``--index-url``, ``-e``) or be
    an error page.
    """
    count = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if not _CONSTRAINT_LINE.match(line.split(" #", 1)[0].strip()):
            shown = line[:60].encode("ascii", "replace").decode()
            raise LockError(f"{source} line {number} is not a name==version pin: {shown!r}")
        count += 1
    if not count:
        raise LockError(f"{source} holds no name==version pin")
    return count


def check_constraints_url(url: str) -> None:
    """Apply the one URL policy (`urls.check_url`) to a constraints URL, its ``#member`` aside.

    Example:
        >>> check_constraints_url("http://devpi.example.internal/x")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        common_utils_platform.servicelock.LockError: --constraints must use https:// (plain ...
    """
    try:
        check_url(url.partition("#")[0], name="--constraints")
    except URLPolicyError as ex:
        raise LockError(str(ex)) from None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urllib.parse.urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


class _SameOrigin(urllib.request.HTTPRedirectHandler):
    """Follow a redirect only to the same scheme, host and port."""

    def redirect_request(  # type: ignore[no-untyped-def]
        self, req, fp, code, msg, headers, newurl
    ):
        if _origin(newurl) != _origin(req.full_url):
            raise LockError(f"{req.full_url} redirects to another host: {newurl[:80]}")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _fetch(url: str, accept: str) -> tuple[bytes, str]:
    """GET ``url`` (at most ``MAX_FETCH`` bytes); return the body and its content type."""
    opener = urllib.request.build_opener(_SameOrigin())
    # NOTE: every URL passed check_constraints_url (http/https) or has its origin.
    request = urllib.request.Request(  # noqa: S310
        url, headers={"Accept": accept, "User-Agent": _PROG}
    )
    try:
        with opener.open(request, timeout=30) as response:
            data = response.read(MAX_FETCH + 1)
            content_type = response.headers.get_content_type()
    except urllib.error.HTTPError as ex:
        raise LockError(f"{url}: HTTP {ex.code}") from None
    except (urllib.error.URLError, OSError) as ex:
        raise LockError(f"{url}: {getattr(ex, 'reason', ex)}") from None
    if len(data) > MAX_FETCH:
        raise LockError(f"{url}: more than {MAX_FETCH} bytes, not a constraints file")
    return data, content_type


def _from_doczip(data: bytes, member: str, source: str) -> str:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise LockError(f"{source} is not a zip file") from None
    with archive:
        names = archive.namelist()
        if member not in names:
            offered = ", ".join(n for n in names if _CONSTRAINTS_MEMBER.match(n)) or "none"
            raise LockError(
                f"{source} has no {member} (constraints files there: {offered}); lock for "
                f"that Python (--python-version) or name one: URL#{member}"
            )
        if archive.getinfo(member).file_size > MAX_CONSTRAINTS:
            raise LockError(f"{source}: {member} is larger than {MAX_CONSTRAINTS} bytes")
        return archive.read(member).decode("utf-8")


def _doczip_of_release_page(data: bytes, base: str) -> tuple[str, str]:
    """Return the documentation zip's URL and sha256 from a devpi release page (JSON)."""
    try:
        links = json.loads(data)["result"]["+links"]
        doc = next(link for link in links if link.get("rel") == "doczip")
        href, digest = str(doc["href"]), str(doc.get("hashes", {}).get("sha256", ""))
    except (ValueError, KeyError, TypeError, StopIteration, AttributeError):
        raise LockError(f"{base} is not a devpi release page with docs") from None
    if _origin(href) != _origin(base):
        raise LockError(f"{base} points its docs to another host: {href[:80]}")
    return href, digest


def fetch_constraints(url: str, python_version: str) -> str:
    """Return the constraints text behind ``url`` (see the module docstring)."""
    check_constraints_url(url)
    base, _, fragment = url.partition("#")
    member = fragment or f"constraints-py{python_version}.txt"
    if not _CONSTRAINTS_MEMBER.match(member):
        raise LockError(f"#{fragment}: name a constraints-pyX.Y.txt file")
    data, content_type = _fetch(base, "application/json, text/plain;q=0.9, */*;q=0.1")
    if content_type == "application/json":
        href, digest = _doczip_of_release_page(data, base)
        data, _ = _fetch(href, "application/zip, */*;q=0.1")
        if not digest or hashlib.sha256(data).hexdigest() != digest:
            raise LockError(f"{href}: the sha256 does not match the release page's")
        return _from_doczip(data, member, href)
    if content_type in ("application/zip", "application/x-zip-compressed") or base.endswith(".zip"):
        return _from_doczip(data, member, base)
    if len(data) > MAX_CONSTRAINTS:
        raise LockError(f"{base}: larger than {MAX_CONSTRAINTS} bytes")
    return data.decode("utf-8", errors="replace")


def prepare_constraints(
    root: Path, source: str, python_version: str, library_version: str | None
) -> str:
    """Read ``source`` (file or URL), check it, save it as ``CONSTRAINTS_FILE``; return its name."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", source):
        text = fetch_constraints(source, python_version)
    else:
        path = Path(source) if Path(source).is_absolute() else Path.cwd() / source
        if not path.is_file():
            raise LockError(f"--constraints {source}: no such file")
        if path.stat().st_size > MAX_CONSTRAINTS:
            raise LockError(f"--constraints {source}: larger than {MAX_CONSTRAINTS} bytes")
        text = path.read_text(encoding="utf-8")
    shown = source.split("#", 1)[0]
    count = check_constraints(text, shown)
    tested = re.search(r"^# common-utils (\S+?):", text, re.M)
    if tested and library_version and tested[1] != library_version:
        raise LockError(
            f"{shown} holds the constraints of common-utils {tested[1]}, the service pins "
            f"{library_version}: use that release's constraints"
        )
    python = re.search(r"^# Python (\d+\.\d+)", text, re.M)
    (root / CONSTRAINTS_FILE).write_text(text, encoding="utf-8")
    note = ""
    if python and python[1] != python_version:
        note = f"; note: tested on Python {python[1]}, this lock targets {python_version}"
    print(f"constraints: {count} pins from {shown} -> {CONSTRAINTS_FILE}{note}")
    return CONSTRAINTS_FILE


# -- the library's version ---------------------------------------------------------------


def library_pin(root: Path) -> str | None:
    """Return the ``common-utils==X.Y.Z`` version of ``requirements.in``, if any."""
    source = root / PAIRS[0][0]
    match = _LIBRARY_PIN.search(source.read_text()) if source.is_file() else None
    return match[0].split("==", 1)[1] if match else None


def set_library_pin(root: Path, version: str) -> list[str]:
    """Pin ``version`` in ``requirements.in`` and move the submodule to its tag, if any."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise LockError(f"--common-utils wants a release like 1.4.0, got {version!r}")
    done: list[str] = []
    source = root / PAIRS[0][0]
    if source.is_file():
        text = source.read_text()
        if not _LIBRARY_PIN.search(text):
            raise LockError(f"{source.name} has no common-utils==X.Y.Z line")
        source.write_text(_LIBRARY_PIN.sub(f"{LIBRARY}=={version}", text))
        done.append(f"{source.name}: {LIBRARY}=={version}")
    submodule = root / SUBMODULE
    if (submodule / ".git").exists():
        try:
            git(submodule, "checkout", "-q", f"v{version}", env=os.environ)
        except GitError as ex:
            raise LockError(
                f"git checkout v{version} in {SUBMODULE} failed "
                f"(git -C {SUBMODULE} fetch --tags first?): {ex.stderr.strip()}"
            ) from None
        done.append(f"{SUBMODULE}: v{version} (commit it: git add {SUBMODULE})")
    return done


# -- the command -------------------------------------------------------------------------


def _lock_pair(
    uv: Sequence[str],
    root: Path,
    pair: tuple[str, str],
    args: argparse.Namespace,
    *,
    index_url: str,
    python_version: str,
    constraints: str | None,
) -> None:
    """Lock one pair and print what changed."""
    source, output = pair
    if source == PAIRS[1][0]:
        pyproject = library_pyproject(root)
        if pyproject is not None and sync_submodule_input(
            root / source, library_dependencies(pyproject)
        ):
            print(f"{source}: library dependencies copied from {pyproject}")
    before = pins(root / output)
    started = time.perf_counter()
    upgrade = ["--upgrade"] if args.upgrade else []
    upgrade += [f"--upgrade-package={name}" for name in args.upgrade_package]
    compile_lock(
        uv,
        root,
        pair,
        index_url=index_url,
        python_version=python_version,
        constraints=constraints,
        upgrade=upgrade,
    )
    seconds = time.perf_counter() - started
    after = pins(root / output)
    print(
        f"locked {output} from {source}: {len(after)} packages, hashed, "
        f"for Python >={python_version} on every platform in {seconds:.1f} s"
    )
    diff = difflib.unified_diff(before, after, output, output, n=0, lineterm="")
    body = [line for line in diff if not line.startswith(("---", "+++", "@@"))]
    print("\n".join(body) if body else f"{output}: no change")


def lock(args: argparse.Namespace, root: Path) -> int:
    """Lock every approach the service in ``root`` has; print what changed."""
    env = os.environ
    index_url = args.index_url or env.get("UV_DEFAULT_INDEX") or env.get("PIP_INDEX_URL", "")
    if not index_url.startswith(("http://", "https://")):
        print(
            f"{_PROG}: no index: pass --index-url (or set UV_DEFAULT_INDEX or PIP_INDEX_URL) "
            "to the devpi release index (.../team/release/+simple/)",
            file=sys.stderr,
        )
        return 2
    pairs = [pair for pair in PAIRS if (root / pair[0]).is_file()]
    if not pairs:
        print(f"{_PROG}: none of {', '.join(p[0] for p in PAIRS)} in {root}", file=sys.stderr)
        return 2
    for line in set_library_pin(root, args.common_utils) if args.common_utils else []:
        print(f"pinned {line}")
    uv = find_uv()
    python_version = args.python_version or runtime_python(root)
    # A committed constraints file stays applied (its lock header names it) until
    # another one replaces it.
    source = args.constraints or (
        str(root / CONSTRAINTS_FILE) if (root / CONSTRAINTS_FILE).is_file() else None
    )
    constraints = None
    if source:
        library_version = args.common_utils or library_pin(root)
        constraints = prepare_constraints(root, source, python_version, library_version)
    for pair in pairs:
        _lock_pair(
            uv,
            root,
            pair,
            args,
            index_url=index_url,
            python_version=python_version,
            constraints=constraints,
        )
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Lock the service in the current directory from devpi: "
        "requirements*.in -> hashed requirements*.txt (uv pip compile).",
    )
    parser.add_argument(
        "--index-url", help="devpi release index (default: $UV_DEFAULT_INDEX, $PIP_INDEX_URL)"
    )
    parser.add_argument("--common-utils", metavar="X.Y.Z", help="move to this library release")
    parser.add_argument(
        "--constraints",
        metavar="FILE|URL",
        help="the dependency set the library release was tested with (uv -c): a file, or "
        "its devpi release page $DEVPI_URL/team/release/common-utils/X.Y.Z",
    )
    parser.add_argument("--upgrade", action="store_true", help="newest of everything")
    parser.add_argument(
        "--upgrade-package", action="append", default=[], metavar="NAME", help="newest of NAME"
    )
    parser.add_argument("--python-version", help="target Python (default: from runtime.txt)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``common-utils-lock``; one line on stderr and status 1 when a step fails."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return lock(args, Path.cwd())
    except LockError as ex:
        print(f"{_PROG}: {ex}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
