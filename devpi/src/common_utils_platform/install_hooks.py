#!/usr/bin/env python3
r"""Install the release hooks into a bare repository on the team's git host.

Run it on the git host, as the user that owns the repositories (the git user)::

    common-utils-install-hooks /srv/git/common_utils.git \\
        --devpi-url https://devpi.example.internal \\
        --devpi-user ci-release \\
        --password-file /etc/common-utils/devpi-release-password \\
        --python /opt/common-utils-release/bin/python \\
        --sandbox-user common-utils-sandbox

It writes two tiny ``pre-receive`` and ``post-receive`` scripts into ``REPO/hooks/``,
each running ``--python`` (the hook venv, where ``common_utils_platform`` is installed)
on the entry point of ``common_utils_platform.release_hooks``, and a
``REPO/hooks/common_utils_release/release-hook.ini`` holding the options below (no
password: only the path of the password file, which must be readable by its owner only).
No module is copied: the hooks run the installed package, so upgrading it upgrades them.

Before it writes anything it checks: ``REPO`` is a bare repository; the
password file exists, is not empty and has mode 600 (or stricter); ``--python``
can import the release toolchain of requirements/release.lock (build, twine,
devpi-client, towncrier for the notes) and ``common_utils_platform``; existing hooks
that are not ours are kept unless ``--force`` (then they are renamed
``*.before-common-utils``). Re-running it updates the hooks in place (after an
upgrade of this repository, or to change an option). A failed check is one line
on stderr and exit 2.

Importable: ``install_hooks(repo, config, *, force=False) -> list[str]``.

Example:
    >>> main(["/nonexistent.git", "--devpi-url", "http://127.0.0.1:3141",
    ...       "--password-file", "/nonexistent", "--no-sandbox"])
    2
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from common_utils_platform.release_hooks import (
    CONFIG_NAME,
    LIB_DIR_NAME,
    HookConfig,
    HookConfigError,
    check_sandbox,
    read_password_file,
    retry_command,
)

__all__ = ["HOOKS", "HookConfig", "InstallError", "hook_script", "install_hooks", "main"]

HOOKS = ("pre-receive", "post-receive")
# The modules earlier versions copied into REPO/hooks/common_utils_release/: removed on install.
_OLD_COPIES = (
    "release_hooks.py",
    "release_rules.py",
    "release.py",
    "devpitools.py",
    "devsupport.py",
)
MARKER = "release_hooks import main"
_TOOLCHAIN_PROBE = (
    "import build, twine, devpi.main, packaging, setuptools_scm, towncrier, markdown_it, "
    "common_utils_platform.release_hooks"
)
_HOOK_DOCS = {
    "pre-receive": "refuse malformed, misplaced, old, moved or deleted release tags",
    "post-receive": "run the release pipeline for each new release tag (--retry vX.Y.Z by hand)",
}


def hook_script(name: str, python: str) -> str:
    """Return the text of the installed hook ``name``, run by the interpreter ``python``.

    Example:
        >>> print(hook_script("pre-receive", "/venv/bin/python"), end="")  # doctest: +ELLIPSIS
        #!/venv/bin/python
        # pre-receive: refuse malformed, ... release tags (common-utils-install-hooks).
        import sys
        from common_utils_platform.release_hooks import main
        sys.exit(main("pre-receive"))
    """
    # NOTE: the hooks run with the interpreter chosen at install time, not whatever
    # `python3` the git user's PATH finds (git runs hooks with a minimal one).
    return (
        f"#!{python}\n"
        f"# {name}: {_HOOK_DOCS[name]} (common-utils-install-hooks).\n"
        "import sys\n"
        "from common_utils_platform.release_hooks import main\n"
        f'sys.exit(main("{name}"))\n'
    )


class InstallError(Exception):
    """A check before installing failed (one line, no secret).

    Example:
        >>> str(InstallError("/srv/x.git is not a bare git repository"))
        '/srv/x.git is not a bare git repository'
    """


def _check_repo(repo: Path) -> None:
    done = subprocess.run(
        ["git", "--git-dir", str(repo), "rev-parse", "--is-bare-repository"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
        env={k: v for k, v in os.environ.items() if not k.startswith("GIT_")},
    )
    if done.returncode != 0 or done.stdout.strip() != "true":
        raise InstallError(
            f"{repo} is not a bare git repository (create it with `git init --bare {repo}`)"
        )


def _check_python(python: str) -> None:
    try:
        done = subprocess.run(
            [python, "-c", _TOOLCHAIN_PROBE],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    except OSError as ex:
        raise InstallError(f"--python {python}: {ex.strerror}") from None
    if done.returncode != 0:
        missing = (done.stderr.strip().splitlines() or ["?"])[-1]
        raise InstallError(
            f"--python {python} cannot import the release toolchain ({missing}): "
            "install it with pip install --require-hashes -r requirements/release.lock, "
            "then pip install --no-deps ./devpi"
        )


def install_hooks(repo: Path, config: HookConfig, *, force: bool = False) -> list[str]:
    """Check, then install the hooks and their modules into the bare ``repo``.

    Returns what was done, one line per item (for the command's output).

    Raises:
        InstallError: A check failed; nothing was written.
    """
    repo = repo.resolve()
    _check_repo(repo)
    try:
        read_password_file(config.password_file)
    except HookConfigError as ex:
        raise InstallError(str(ex)) from None
    _check_python(config.python)
    try:
        check_sandbox(repo, config)
    except HookConfigError as ex:
        raise InstallError(str(ex)) from None
    hooks_dir = repo / "hooks"
    foreign = [
        name
        for name in HOOKS
        if (hooks_dir / name).exists()
        and MARKER not in (hooks_dir / name).read_text(encoding="utf-8", errors="replace")
    ]
    if foreign and not force:
        raise InstallError(
            f"{repo} already has its own {', '.join(foreign)} hook(s): merge them by hand, "
            "or pass --force to rename them *.before-common-utils"
        )
    done: list[str] = []
    lib = hooks_dir / LIB_DIR_NAME
    lib.mkdir(parents=True, exist_ok=True)
    for old in _OLD_COPIES:
        (lib / old).unlink(missing_ok=True)
    (lib / CONFIG_NAME).write_text(config.to_ini(), encoding="utf-8")
    done.append(f"{CONFIG_NAME} in {lib}")
    for name in HOOKS:
        target = hooks_dir / name
        if name in foreign:
            target.rename(target.with_name(f"{name}.before-common-utils"))
            done.append(f"kept the previous {name} as {name}.before-common-utils")
        tmp = target.with_name(f".{name}.tmp")
        tmp.write_text(hook_script(name, config.python), encoding="utf-8")
        tmp.chmod(0o755)
        tmp.replace(target)
        done.append(f"hooks/{name}")
    log_dir = config.log_dir or repo / "release-logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    done.append(f"logs in {log_dir} (releases.log: one line per run)")
    done.append(f"retry a failed release: {retry_command(repo, 'vX.Y.Z')}")
    return done


def main(argv: Sequence[str] | None = None) -> int:
    """Run the installer command line; return the exit code."""
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="common-utils-install-hooks",
        description="Install the release hooks into a bare git repository (docs/release.md).",
    )
    parser.add_argument(
        "repo", type=Path, help="the bare repository, e.g. /srv/git/common_utils.git"
    )
    parser.add_argument("--devpi-url", default=env.get("DEVPI_URL", ""), help="devpi root URL")
    parser.add_argument(
        "--devpi-user",
        default=env.get("DEVPI_USER", "ci-release"),
        help="the release user, the only one allowed to write the release index",
    )
    parser.add_argument(
        "--password-file",
        type=Path,
        required=True,
        help="file holding the release user's password, mode 600, owned by the git user",
    )
    parser.add_argument("--staging-index", default=env.get("DEVPI_STAGING_INDEX", "team/staging"))
    parser.add_argument("--release-index", default=env.get("DEVPI_RELEASE_INDEX", "team/release"))
    parser.add_argument(
        "--python",
        default=sys.executable,
        help="interpreter of the hooks and the pipeline (requirements/release.lock "
        "and common_utils_platform installed)",
    )
    parser.add_argument("--log-dir", type=Path, default=None, help="default: REPO/release-logs")
    parser.add_argument(
        "--verify-pytest-args",
        default="",
        help="replace the verify step's test selection (common-utils-release --pytest-args)",
    )
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per release")
    boundary = parser.add_mutually_exclusive_group(required=True)
    boundary.add_argument(
        "--sandbox-user",
        default="",
        help="the unprivileged account the tagged code (build, tests, notes) runs as: it must "
        "not read the password file nor write the repository (checked now and before each "
        "release)",
    )
    boundary.add_argument(
        "--no-sandbox",
        action="store_true",
        help="run the tagged code as the git user, who can read the password: demos only",
    )
    parser.add_argument(
        "--force", action="store_true", help="rename foreign hooks instead of refusing"
    )
    try:
        args = parser.parse_args(argv)
    except SystemExit as ex:
        return int(ex.code or 0) and 2
    if not args.devpi_url:
        print("install_hooks: --devpi-url (or DEVPI_URL) is required", file=sys.stderr)
        return 2
    config = HookConfig(
        devpi_url=args.devpi_url.rstrip("/"),
        password_file=args.password_file.resolve(),
        devpi_user=args.devpi_user,
        staging_index=args.staging_index,
        release_index=args.release_index,
        python=args.python,
        log_dir=args.log_dir.resolve() if args.log_dir else None,
        verify_pytest_args=args.verify_pytest_args,
        timeout=args.timeout,
        sandbox_user=args.sandbox_user,
        no_sandbox=args.no_sandbox,
    )
    try:
        done = install_hooks(args.repo, config, force=args.force)
    except InstallError as ex:
        print(f"install_hooks: {ex}", file=sys.stderr)
        return 2
    print(f"installed the release hooks into {args.repo.resolve()}:")
    for line in done:
        print(f"  {line}")
    print(f"  pushes of vX.Y.Z / vX.Y.ZrcN tags now publish to {config.release_index}")
    print(f"  as {shlex.quote(config.devpi_user)} at {config.devpi_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
