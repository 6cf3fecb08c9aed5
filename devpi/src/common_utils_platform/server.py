#!/usr/bin/env python3
"""Run the team's persistent devpi-server: ``tox -e devpi`` (or ``common-utils-devpi``).

Commands:

- ``start`` (default): initialise the server directory once (``devpi-init``, a
  persistent secret file, root password from ``DEVPI_ROOT_PASSWORD``), start
  devpi-server in the background with ``--restrict-modify root`` and bootstrap
  it. Starting a running server only re-runs the (idempotent) bootstrap.
- ``bootstrap``: create or converge the team user (``DEVPI_TEAM_USER``, password
  ``DEVPI_TEAM_PASSWORD``; it owns the indexes), the release user
  (``DEVPI_RELEASE_USER``, default ``ci-release``, password
  ``DEVPI_RELEASE_PASSWORD``; the only account that may upload to either
  index), the volatile staging index and the non-volatile release index, both
  with ``mirror_whitelist`` empty, ``acl_upload`` the release user and the
  public mirror ``root/pypi`` as base (``--bases`` to change), and register
  the private project names (``DEVPI_PRIVATE_PROJECTS``, comma-separated,
  default ``common-utils``) on both. An existing user's password is never
  reset: a different one is an error unless ``--rotate-passwords``.
- ``person NAME``: create a person's account (password ``DEVPI_PERSON_PASSWORD``)
  and their own index ``NAME/dev``; people may upload there only.
- ``run``: like ``start`` but in the foreground (systemd, containers).
- ``stop``: stop the server this directory's pidfile names.
- ``status``: print ``running``/``stopped``/``not responding`` (exit 0/3/4).

Environment: ``DEVPI_PORT`` (the port to listen on and to find the server at, default
``3141``; ``--port`` wins), ``DEVPI_SERVERDIR`` (default: a developer's throwaway directory
``~/.cache/common-utils/devpi-throwaway``, never inside the checkout, where
``git clean -xdf`` would delete the index; a directory inside the checkout is
refused; production runs devpi-server from systemd, docs/operations.md; created
0700, the server runs with umask 077 and an environment without any password),
``DEVPI_ROOT_PASSWORD`` (required to initialise and bootstrap), ``DEVPI_TEAM_USER``
(default ``team``), ``DEVPI_TEAM_PASSWORD`` and ``DEVPI_RELEASE_PASSWORD`` (required
to bootstrap), ``DEVPI_RELEASE_USER`` (default ``ci-release``),
``DEVPI_PRIVATE_PROJECTS`` (default ``common-utils``),
``DEVPI_STAGING_INDEX`` / ``DEVPI_RELEASE_INDEX`` (defaults ``team/staging`` /
``team/release``). ``DEVPI_USER`` / ``DEVPI_PASSWORD`` are the release pipeline's names
for the ``ci-release`` account (``common-utils-release``); here they are still read for the team
user when the ``DEVPI_TEAM_*`` name is unset, with a one-line deprecation notice.
Errors print one line (no traceback, no password) and exit 2
(configuration) or 1 (server).

Example:
    >>> main(["status", "--serverdir", "/nonexistent/devpi"], environ={})
    stopped: no devpi-server for /nonexistent/devpi
    3
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from common_utils_platform.devpitools import (
    DEFAULT_BASES,
    DEFAULT_PROJECTS,
    DEFAULT_RELEASE_INDEX,
    DEFAULT_RELEASE_USER,
    DEFAULT_STAGING_INDEX,
    DEFAULT_USER,
    DevpiError,
    DevpiServer,
)
from common_utils_platform.devsupport import find_checkout

__all__ = ["main"]

DEFAULT_PORT = 3141
_STATUS_CODES = {"running": 0, "stopped": 3, "not responding": 4}


class _ConfigError(Exception):
    pass


def throwaway_serverdir(env: Mapping[str, str]) -> Path:
    """Return the developer default data directory, outside any checkout.

    Example:
        >>> throwaway_serverdir({"XDG_CACHE_HOME": "/tmp/c"})
        PosixPath('/tmp/c/common-utils/devpi-throwaway')
    """
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "common-utils" / "devpi-throwaway"


def _server(
    args: argparse.Namespace, env: Mapping[str, str], *, need: Sequence[str]
) -> DevpiServer:
    for var in need:
        if not env.get(var):
            raise _ConfigError(f"{var} is not set")
    serverdir = Path(args.serverdir or env.get("DEVPI_SERVERDIR") or throwaway_serverdir(env))
    checkout = find_checkout()
    if checkout is not None and serverdir.resolve().is_relative_to(checkout):
        raise _ConfigError(
            f"server directory {serverdir} (--serverdir/DEVPI_SERVERDIR) is inside the checkout "
            f"{checkout} (git clean -xdf would delete the index): use one outside it"
        )
    return DevpiServer(
        serverdir=serverdir,
        host=args.host,
        port=_port(args, env),
        root_password=env.get("DEVPI_ROOT_PASSWORD", ""),
        user=env.get("DEVPI_TEAM_USER", DEFAULT_USER),
        password=env.get("DEVPI_TEAM_PASSWORD", ""),
        release_user=env.get("DEVPI_RELEASE_USER", DEFAULT_RELEASE_USER),
        release_password=env.get("DEVPI_RELEASE_PASSWORD", ""),
        projects=tuple(
            p.strip()
            for p in env.get("DEVPI_PRIVATE_PROJECTS", ",".join(DEFAULT_PROJECTS)).split(",")
            if p.strip()
        ),
        staging_index=env.get("DEVPI_STAGING_INDEX", DEFAULT_STAGING_INDEX),
        release_index=env.get("DEVPI_RELEASE_INDEX", DEFAULT_RELEASE_INDEX),
        bases=tuple(b for b in args.bases.split(",") if b),
        role=args.role,
        primary_url=args.primary_url,
        secretfile=Path(args.secretfile) if args.secretfile else None,
        outside_url=args.outside_url,
    )


def _port(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    """Return ``--port``, else ``DEVPI_PORT``, else 3141.

    Example:
        >>> _port(argparse.Namespace(port=None), {"DEVPI_PORT": "3142"})
        3142
    """
    if args.port is not None:
        return int(args.port)
    value = env.get("DEVPI_PORT") or str(DEFAULT_PORT)
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise _ConfigError(f"DEVPI_PORT must be a port number (1-65535), not {value!r}")
    return int(value)


def _bootstrap(server: DevpiServer, *, rotate: bool = False) -> None:
    changes = server.bootstrap(rotate_passwords=rotate)
    for change in changes:
        print(f"bootstrap: {change}")
    if not changes:
        print("bootstrap: nothing to do (user and indexes as configured)")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="common-utils-devpi",
        description="Run the team's devpi-server (see docs/operations.md).",
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="start",
        choices=["start", "run", "bootstrap", "person", "stop", "status"],
    )
    parser.add_argument("name", nargs="?", help="the person's account name (person)")
    parser.add_argument(
        "--rotate-passwords",
        action="store_true",
        help="bootstrap/person: set existing users' passwords to the configured ones",
    )
    parser.add_argument(
        "--serverdir",
        help="server data (default: $DEVPI_SERVERDIR or ~/.cache/common-utils/devpi-throwaway)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on [127.0.0.1]")
    parser.add_argument(
        "--port", type=int, default=None, help="port to listen on [$DEVPI_PORT or 3141]"
    )
    parser.add_argument(
        "--bases",
        default=",".join(DEFAULT_BASES),
        help="comma-separated base indexes of staging and release [root/pypi]",
    )
    parser.add_argument(
        "--role", default="standalone", choices=["standalone", "primary", "replica"]
    )
    parser.add_argument("--primary-url", help="the primary's URL (replicas)")
    parser.add_argument("--secretfile", help="secret file (default: SERVERDIR/secret)")
    parser.add_argument("--outside-url", help="URL clients use, behind nginx")
    return parser


def _team_names(env: Mapping[str, str]) -> dict[str, str]:
    """The team user's ``DEVPI_TEAM_*`` settings, from the old ``DEVPI_USER``/``DEVPI_PASSWORD``.

    common-utils-release reads ``DEVPI_USER``/``DEVPI_PASSWORD`` as the ``ci-release`` account; the
    old names still work here when the new ones are unset, with a notice on stderr.
    """
    out = dict(env)
    for new, old in (("DEVPI_TEAM_USER", "DEVPI_USER"), ("DEVPI_TEAM_PASSWORD", "DEVPI_PASSWORD")):
        if not out.get(new) and out.get(old):
            print(
                f"common-utils-devpi: {old} for the team user is deprecated, set {new} "
                f"({old} is common-utils-release's name for the ci-release account)",
                file=sys.stderr,
            )
            out[new] = out[old]
    return out


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Run one command and return the exit code.

    Example:
        >>> main(["stop", "--serverdir", "/nonexistent/devpi"], environ={})
        stop: no devpi-server running for /nonexistent/devpi
        0
    """
    env = _team_names(os.environ if environ is None else environ)
    try:
        args = _parser().parse_args(argv)
    except SystemExit as ex:
        return int(ex.code or 0) and 2
    replica = args.role == "replica"
    try:
        if args.command == "status":
            server = _server(args, env, need=())
            state = server.status()
            where = f"pid {server.pid} at {server.url}" if server.pid else "no devpi-server"
            print(f"{state}: {where} for {server.serverdir}")
            return _STATUS_CODES[state]
        if args.command == "stop":
            server = _server(args, env, need=())
            pid = server.pid
            if server.stop():
                print(f"stop: stopped devpi-server (pid {pid}) for {server.serverdir}")
            else:
                print(f"stop: no devpi-server running for {server.serverdir}")
            return 0
        if args.command == "person":
            if not args.name:
                raise _ConfigError("person needs a NAME: common-utils-devpi person alice")
            server = _server(args, env, need=("DEVPI_ROOT_PASSWORD", "DEVPI_PERSON_PASSWORD"))
            changes = server.add_person(
                args.name, env["DEVPI_PERSON_PASSWORD"], rotate_password=args.rotate_passwords
            )
            for change in changes or [f"nothing to do ({args.name} and {args.name}/dev exist)"]:
                print(f"person: {change}")
            return 0
        need = (
            ()
            if replica
            else ("DEVPI_ROOT_PASSWORD", "DEVPI_TEAM_PASSWORD", "DEVPI_RELEASE_PASSWORD")
        )
        server = _server(args, env, need=need)
        if args.command == "bootstrap":
            _bootstrap(server, rotate=args.rotate_passwords)
            return 0
        if args.command == "run":
            server.init()
            if not replica:
                print("run: bootstrap with `common-utils-devpi bootstrap` once the server answers")
            os.execv(server.command()[0], server.command())  # noqa: S606
        if server.pid is not None:
            print(f"start: devpi-server already running (pid {server.pid}) at {server.url}")
        else:
            server.start()
            print(
                f"start: devpi-server (pid {server.pid}) at {server.url}, "
                f"data in {server.serverdir}, log in {server.logfile}"
            )
        if not replica:
            _bootstrap(server, rotate=args.rotate_passwords)
            print(f"start: release index {server.release_url}/+simple/")
    except (_ConfigError, DevpiError) as ex:
        print(f"error: {ex}", file=sys.stderr)
        return 2 if isinstance(ex, _ConfigError) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
