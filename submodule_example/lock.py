#!/usr/bin/env python3
"""Lock the service's dependencies from devpi: exact versions and hashes, transitively.

One command, run from the service root whenever an input changes::

    python lock.py --index-url "$DEVPI_URL/team/release/+simple/"

It locks each approach whose input file exists, with ``uv pip compile
--generate-hashes`` against that one index (no other index, no uv or pip
configuration file, no ``UV_*`` variable):

- pip approach: ``requirements.in`` (``common-utils==X.Y.Z`` and the server) ->
  ``requirements.txt``, what Cloud Foundry's buildpack installs;
- submodule approach: ``requirements-submodule.in`` (the pinned library's own
  ``[project.dependencies]``, copied here from its ``pyproject.toml``, and the server)
  -> ``requirements-submodule.txt``.

A lock already there is kept where it still satisfies the inputs (only what
must move moves); ``--upgrade`` takes the newest of everything,
``--upgrade-package NAME`` of one. ``--common-utils 1.1.0`` is the library
upgrade in one step: it rewrites the pin in ``requirements.in``, checks the
submodule out at ``v1.1.0`` when there is one, and re-locks. Every run prints
what changed in the locks as a diff of ``name==version`` lines.

The lock targets what Cloud Foundry runs: the Python of ``runtime.txt``, resolved
for every platform (``--universal``), whatever machine runs this. Each lock's header
is the plain ``uv pip compile --generate-hashes --universal --python-version=X.Y
[--constraints=common-utils-constraints.txt] --output-file=LOCK INPUT`` command that
Renovate's pip-compile manager re-runs as written (with the index in
``UV_DEFAULT_INDEX``); this script runs the same resolution, adding only the index,
``--no-config`` and a fresh look at common-utils. The index URL may come from
``PIP_INDEX_URL`` instead of ``--index-url``; it is never written into a file.

``--constraints FILE|URL`` applies the exact dependency set the library's own
release tests passed with (uv's ``-c``), published with every release on devpi:
the URL of the release's page, ``$DEVPI_URL/team/release/common-utils/X.Y.Z``
(lock.py reads the release's documentation zip from it, checks its sha256 and
takes ``constraints-pyX.Y.txt`` for the target Python; ``URL#constraints-py3.11.txt``
names another), or the plain file (devpi-web's ``.../X.Y.Z/+doc/constraints-py3.12.txt``,
or a local file). A URL must be ``https://`` (plain ``http://`` on loopback only)
without credentials; redirects stay on the same host, at most 4 MiB are read, and
every line must be ``name==version``. The file is kept as
``common-utils-constraints.txt`` beside the locks (commit it: a later run can pass it).

uv comes from ``pip install uv`` (next to this Python, on ``PATH``, or ``python
-m uv``). Exit status: 0 locked, 1 a lock or a git step failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import difflib
import hashlib
import io
import ipaddress
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

SERVICE_ROOT = Path(__file__).resolve().parent
LIBRARY = "common-utils"
SUBMODULE = Path("submodules") / "common_utils"
# (input, lock) of each approach; a service keeps the pair(s) it uses.
PAIRS = (
    ("requirements.in", "requirements.txt"),
    ("requirements-submodule.in", "requirements-submodule.txt"),
)
BEGIN = "# BEGIN common_utils dependencies"
END = "# END common_utils dependencies"
PIN_LINE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?)==(\S+)", re.M)
LIBRARY_PIN = re.compile(r"^common-utils==\S+$", re.M)
# The header of every lock: the uv command Renovate's pip-compile manager replays as
# written (only options it accepts: no --python-platform, --no-config, --index-url=...).
# The index comes from the environment there (UV_DEFAULT_INDEX), from --index-url here.
REPLAY_COMMAND = "uv pip compile --generate-hashes --universal --python-version={python}"
CONSTRAINTS_FILE = "common-utils-constraints.txt"
MAX_FETCH = 4 * 1024 * 1024  # bytes read from any constraints URL (page, zip or file)
MAX_CONSTRAINTS = 256 * 1024  # bytes of the constraints text itself
CONSTRAINT_LINE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+(?:\s*;\s*[^#]+)?$")
CONSTRAINTS_MEMBER = re.compile(r"^constraints-py\d+\.\d+\.txt$")


class LockError(Exception):
    """A step of locking failed; the message is one line."""


def find_uv() -> list[str]:
    """Return the argv prefix that runs uv."""
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
    """The pinned library's ``pyproject.toml``: the submodule's, else a parent checkout's."""
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
    new_block = "\n".join([first_line, *dependencies, END])
    updated = text[: match.start()] + new_block + text[match.end() :]
    if updated != text:
        path.write_text(updated)
    return updated != text


def pins(path: Path) -> list[str]:
    """The ``name==version`` lines of a lock (hashes and comments left out)."""
    if not path.is_file():
        return []
    return [f"{m[1].lower()}=={m[2]}" for m in PIN_LINE.finditer(path.read_text())]


def uv_env() -> dict[str, str]:
    """The environment of uv: no ``UV_*`` setting may add an index or a find-links."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("UV_") or k == "UV_CACHE_DIR"}
    env["UV_NO_PROGRESS"] = "1"
    return env


def compile_lock(
    uv: list[str],
    root: Path,
    source: str,
    output: str,
    *,
    index_url: str,
    python_version: str,
    upgrade: bool,
    upgrade_packages: Sequence[str],
    constraints: str | None = None,
) -> None:
    """Run ``uv pip compile`` for one pair (with ``-c constraints`` when given).

    The existing lock's versions are kept as preferences (only what must move moves),
    but never its hashes: uv would carry a pinned version's old hashes over, and a
    lock made against another index (or before a file was replaced) would keep hashes
    this index does not serve. So uv compiles into a scratch file seeded with the
    bare ``name==version`` lines, and every hash comes from the index, now.
    """
    scratch = root / f".{output}.locking"
    cmd = [
        *uv,
        "pip",
        "compile",
        source,
        "--output-file",
        scratch.name,
        "--generate-hashes",
        "--index-url",
        index_url,
        "--no-config",
        # A release made since the last lock must be seen; other pages follow HTTP caching.
        "--refresh-package",
        LIBRARY,
        "--universal",
        "--python-version",
        python_version,
        "--custom-compile-command",
        replay_command(source, output, python_version, constraints),
        "--quiet",
        *(["--constraints", constraints] if constraints else []),
        *(["--upgrade"] if upgrade else []),
        *(arg for name in upgrade_packages for arg in ("--upgrade-package", name)),
    ]
    scratch.write_text("".join(f"{pin}\n" for pin in pins(root / output)))
    try:
        done = subprocess.run(  # noqa: S603 - our argv, no shell
            cmd, cwd=root, env=uv_env(), capture_output=True, text=True, check=False, timeout=600
        )
        if done.returncode != 0:
            # uv's own error, with the index URL's credentials (if any) masked.
            detail = re.sub(r"//[^/@\s]+@", "//***@", (done.stderr or done.stdout).strip())
            raise LockError(f"uv pip compile {source} failed: {detail}")
        scratch.replace(root / output)
    finally:
        scratch.unlink(missing_ok=True)


def replay_command(source: str, output: str, python_version: str, constraints: str | None) -> str:
    """The lock's header command: what Renovate re-runs, and what this run did.

    ``uv pip compile`` with the same resolution options as lock.py's own run; the index
    comes from ``UV_DEFAULT_INDEX`` there (the Renovate host's setting), never from the lock.
    """
    parts = [REPLAY_COMMAND.format(python=python_version)]
    if constraints:
        parts.append(f"--constraints={constraints}")
    parts.append(f"--output-file={output} {source}")
    return " ".join(parts)


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
        if not CONSTRAINT_LINE.match(line.split(" #", 1)[0].strip()):
            shown = line[:60].encode("ascii", "replace").decode()
            raise LockError(f"{source} line {number} is not a name==version pin: {shown!r}")
        count += 1
    if not count:
        raise LockError(f"{source} holds no name==version pin")
    return count


def check_constraints_url(url: str) -> None:
    """Accept ``https://`` URLs, and plain ``http://`` only on loopback; no credentials."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise LockError(f"--constraints wants a file or an https:// URL, got {url[:80]!r}")
    if parts.username is not None or parts.password is not None:
        raise LockError("--constraints URL must not carry credentials: download it, pass the file")
    if parts.scheme == "http":
        host = parts.hostname
        try:
            loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise LockError(f"--constraints URL must use https:// (http only on loopback): {url}")


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
        url, headers={"Accept": accept, "User-Agent": "lock.py"}
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
            offered = ", ".join(n for n in names if CONSTRAINTS_MEMBER.match(n)) or "none"
            raise LockError(
                f"{source} has no {member} (constraints files there: {offered}); lock for "
                f"that Python (--python-version) or name one: URL#{member}"
            )
        if archive.getinfo(member).file_size > MAX_CONSTRAINTS:
            raise LockError(f"{source}: {member} is larger than {MAX_CONSTRAINTS} bytes")
        return archive.read(member).decode("utf-8")


def fetch_constraints(url: str, python_version: str) -> str:
    """Return the constraints text behind ``url`` (see the module docstring)."""
    check_constraints_url(url)
    base, _, fragment = url.partition("#")
    member = fragment or f"constraints-py{python_version}.txt"
    if not CONSTRAINTS_MEMBER.match(member):
        raise LockError(f"#{fragment}: name a constraints-pyX.Y.txt file")
    data, content_type = _fetch(base, "application/json, text/plain;q=0.9, */*;q=0.1")
    if content_type == "application/json":
        # A devpi release page: its documentation zip is the +links entry rel=doczip.
        try:
            links = json.loads(data)["result"]["+links"]
            doc = next(link for link in links if link.get("rel") == "doczip")
            href, digest = str(doc["href"]), str(doc.get("hashes", {}).get("sha256", ""))
        except (ValueError, KeyError, TypeError, StopIteration):
            raise LockError(f"{base} is not a devpi release page with docs") from None
        if _origin(href) != _origin(base):
            raise LockError(f"{base} points its docs to another host: {href[:80]}")
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


def library_pin(root: Path) -> str | None:
    """Return the ``common-utils==X.Y.Z`` version of ``requirements.in``, if any."""
    source = root / PAIRS[0][0]
    match = LIBRARY_PIN.search(source.read_text()) if source.is_file() else None
    return match[0].split("==", 1)[1] if match else None


def set_library_pin(root: Path, version: str) -> list[str]:
    """Pin ``version`` in ``requirements.in`` and move the submodule to its tag, if any."""
    if not re.fullmatch(r"\d+\.\d+\.\d+", version):
        raise LockError(f"--common-utils wants a release like 1.4.0, got {version!r}")
    done: list[str] = []
    source = root / PAIRS[0][0]
    if source.is_file():
        text = source.read_text()
        if not LIBRARY_PIN.search(text):
            raise LockError(f"{source.name} has no common-utils==X.Y.Z line")
        source.write_text(LIBRARY_PIN.sub(f"{LIBRARY}=={version}", text))
        done.append(f"{source.name}: {LIBRARY}=={version}")
    submodule = root / SUBMODULE
    if (submodule / ".git").exists():
        moved = subprocess.run(  # noqa: S603
            ["git", "-C", str(submodule), "checkout", "-q", f"v{version}"],  # noqa: S607
            capture_output=True,
            text=True,
            check=False,
        )
        if moved.returncode != 0:
            raise LockError(
                f"git checkout v{version} in {SUBMODULE} failed "
                f"(git -C {SUBMODULE} fetch --tags first?): {moved.stderr.strip()}"
            )
        done.append(f"{SUBMODULE}: v{version} (commit it: git add {SUBMODULE})")
    return done


def lock(args: argparse.Namespace) -> int:
    """Lock every approach the service has; print what changed."""
    root: Path = args.root
    index_url = args.index_url or os.environ.get("PIP_INDEX_URL", "")
    if not index_url.startswith(("http://", "https://")):
        print(
            "lock.py: no index: pass --index-url or set PIP_INDEX_URL to the devpi "
            "release index (.../team/release/+simple/)",
            file=sys.stderr,
        )
        return 2
    if args.python_platform:
        print("lock.py: --python-platform is ignored: locks are universal (--universal)")
    for line in set_library_pin(root, args.common_utils) if args.common_utils else []:
        print(f"pinned {line}")
    uv = find_uv()
    python_version = args.python_version or runtime_python(root)
    constraints = None
    # A committed constraints file stays applied (its lock header names it) until
    # another one replaces it.
    source = args.constraints or (
        str(root / CONSTRAINTS_FILE) if (root / CONSTRAINTS_FILE).is_file() else None
    )
    if source:
        constraints = prepare_constraints(
            root, source, python_version, args.common_utils or library_pin(root)
        )
    locked = 0
    for source, output in PAIRS:
        if not (root / source).is_file():
            continue
        if source == PAIRS[1][0]:
            pyproject = library_pyproject(root)
            if pyproject is not None and sync_submodule_input(
                root / source, library_dependencies(pyproject)
            ):
                print(f"{source}: library dependencies copied from {pyproject}")
        before = pins(root / output)
        started = time.perf_counter()
        compile_lock(
            uv,
            root,
            source,
            output,
            index_url=index_url,
            python_version=python_version,
            upgrade=args.upgrade,
            upgrade_packages=args.upgrade_package,
            constraints=constraints,
        )
        seconds = time.perf_counter() - started
        after = pins(root / output)
        locked += 1
        print(
            f"locked {output} from {source}: {len(after)} packages, hashed, "
            f"for Python >={python_version} on every platform in {seconds:.1f} s"
        )
        diff = list(difflib.unified_diff(before, after, output, output, n=0, lineterm=""))
        body = [line for line in diff if not line.startswith(("---", "+++", "@@"))]
        print("\n".join(body) if body else f"{output}: no change")
    if not locked:
        print(f"lock.py: none of {', '.join(p[0] for p in PAIRS)} in {root}", file=sys.stderr)
        return 2
    return 0


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--index-url", help="devpi release index (default: $PIP_INDEX_URL)")
    parser.add_argument("--upgrade", action="store_true", help="newest of everything")
    parser.add_argument(
        "--upgrade-package", action="append", default=[], metavar="NAME", help="newest of NAME"
    )
    parser.add_argument("--common-utils", metavar="X.Y.Z", help="move to this library release")
    parser.add_argument(
        "--constraints",
        metavar="FILE|URL",
        help="the dependency set the library release was tested with (uv -c): a file, or "
        "its devpi release page $DEVPI_URL/team/release/common-utils/X.Y.Z",
    )
    parser.add_argument("--python-version", help="target Python (default: from runtime.txt)")
    # Locks are universal now (Renovate cannot replay --python-platform): accepted, unused.
    parser.add_argument("--python-platform", help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, default=SERVICE_ROOT, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; one line on stderr and status 1 when a step fails."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        return lock(args)
    except LockError as ex:
        print(f"lock.py: {ex}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
