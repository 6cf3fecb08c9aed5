"""What the release pipeline releases, where to and as whom: settings, not constants.

Two sources, so that the same ``common-utils-release`` releases any of the team's
libraries:

- `ProjectSettings`: the released repository's own ``pyproject.toml``: the
  distribution's name from ``[project] name``, and a small
  ``[tool.common-utils-release]`` table for the rest (every key optional)::

      [tool.common-utils-release]
      import-name = "common_utils"        # default: the name with "_" for "-"
      tests = ["tests"]                    # what the test step runs (paths in the repo)
      exclude-tests = ["tests/e2e"]
      test-marker = "not e2e"              # pytest -m; "" runs every marker
      verify-lock = "requirements/verify.lock"
      notes-script = "scripts/release_notes.py"
      staging-index = "team/staging"       # DEVPI_STAGING_INDEX overrides
      release-index = "team/release"       # DEVPI_RELEASE_INDEX overrides
      release-user = "ci-release"          # DEVPI_USER overrides

- `ReleaseConfig`: the server and the credentials, from the environment of the
  run (``DEVPI_URL``, ``DEVPI_USER``, ``DEVPI_PASSWORD``, ``DEVPI_*_INDEX``):
  what the operator (CI, the git hook's configuration) says wins over the
  repository's table, which wins over the defaults.

Example:
    >>> settings = ProjectSettings.from_pyproject({"project": {"name": "Team_Flags"}})
    >>> settings.name, settings.import_name, settings.dist_name, settings.tests
    ('team-flags', 'team_flags', 'team_flags', ('tests',))
"""

from __future__ import annotations

import dataclasses
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from common_utils_platform.release_steps import ExitCode, ReleaseError
from common_utils_platform.urls import URLPolicyError, check_url

__all__ = ["TABLE", "ProjectSettings", "ReleaseConfig"]

TABLE = "common-utils-release"
_USER_RE = re.compile(r"^[\w.-]+$")
_INDEX_RE = re.compile(r"^[\w.-]+/[\w.-]+$")
_IMPORT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclasses.dataclass(frozen=True)
class ProjectSettings:
    """What the tagged repository says about its release (see the module docstring).

    Example:
        >>> ProjectSettings(name="common-utils").verify_lock
        'requirements/verify.lock'
    """

    name: str
    import_name: str = ""
    tests: tuple[str, ...] = ("tests",)
    exclude_tests: tuple[str, ...] = ("tests/e2e",)
    test_marker: str = "not e2e"
    verify_lock: str = "requirements/verify.lock"
    notes_script: str = "scripts/release_notes.py"
    staging_index: str | None = None
    release_index: str | None = None
    release_user: str | None = None

    def __post_init__(self) -> None:
        if not self.import_name:
            object.__setattr__(self, "import_name", self.name.replace("-", "_"))

    @property
    def dist_name(self) -> str:
        """The name in the built files' names (``common_utils-1.4.0.tar.gz``)."""
        return self.name.replace("-", "_")

    @classmethod
    def from_pyproject(
        cls, data: Mapping[str, Any], *, where: str = "pyproject.toml"
    ) -> ProjectSettings:
        """Read ``[project] name`` and ``[tool.common-utils-release]`` of a parsed pyproject.

        Raises:
            ReleaseError: ``GUARD`` naming the key that is missing or malformed.

        Example:
            >>> table = {"tests": "tests"}
            >>> try:
            ...     ProjectSettings.from_pyproject({"project": {"name": "x"},
            ...                                     "tool": {"common-utils-release": table}})
            ... except ReleaseError as ex:
            ...     print(ex)  # doctest: +ELLIPSIS
            pyproject.toml: [tool.common-utils-release] tests must be a list of paths ...
        """
        name = data.get("project", {}).get("name")
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ReleaseError(
                f"{where}: [project] name is missing or not a distribution name: the release "
                "takes the name of what it releases from there",
                ExitCode.GUARD,
            )
        table = data.get("tool", {}).get(TABLE, {})
        known = {f.name.replace("_", "-") for f in dataclasses.fields(cls)} - {"name"}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ReleaseError(
                f"{where}: [tool.{TABLE}] has unknown key(s) {', '.join(unknown)} "
                f"(known: {', '.join(sorted(known))})",
                ExitCode.GUARD,
            )
        values: dict[str, Any] = {"name": _canonical(name)}
        for key, value in table.items():
            values[key.replace("-", "_")] = _checked(key, value, where)
        return cls(**values)

    @classmethod
    def load(cls, checkout: Path) -> ProjectSettings:
        """Read ``checkout/pyproject.toml`` (see `from_pyproject`).

        Raises:
            ReleaseError: ``GUARD`` when it is missing or not TOML.
        """
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # pragma: no cover - Python 3.10: tomli comes with build and setuptools-scm
            import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
        path = checkout / "pyproject.toml"
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError:
            raise ReleaseError(
                "the tagged commit has no pyproject.toml: the release reads the project's name "
                "from its [project] table (see docs/release.md)",
                ExitCode.GUARD,
            ) from None
        except ValueError as ex:
            raise ReleaseError(f"pyproject.toml is not valid TOML: {ex}", ExitCode.GUARD) from None
        return cls.from_pyproject(data)

    def test_selection(self) -> str:
        """Say in words what the test step runs: ``tests/ without tests/e2e``.

        Example:
            >>> ProjectSettings(name="x").test_selection()
            'tests/ without tests/e2e'
        """
        shown = " ".join(f"{path}/" for path in self.tests)
        if self.exclude_tests:
            shown += " without " + ", ".join(self.exclude_tests)
        return shown


def _checked(key: str, value: Any, where: str) -> Any:
    """Return a table value in its field's type, or refuse it naming the key."""

    def refuse(what: str) -> ReleaseError:
        return ReleaseError(f"{where}: [tool.{TABLE}] {key} must be {what}", ExitCode.GUARD)

    if key in ("tests", "exclude-tests"):
        if not isinstance(value, list) or not all(_is_repo_path(v) for v in value):
            raise refuse("a list of paths in the repository")
        return tuple(value)
    if not isinstance(value, str):
        raise refuse("a string")
    checks: dict[str, tuple[Callable[[str], object], str]] = {
        "import-name": (_IMPORT_RE.match, "a module name such as common_utils"),
        "verify-lock": (_is_repo_path, "a path in the repository"),
        "notes-script": (_is_repo_path, "a path in the repository"),
        "staging-index": (_INDEX_RE.match, "USER/INDEX"),
        "release-index": (_INDEX_RE.match, "USER/INDEX"),
        "release-user": (_USER_RE.match, "a devpi user name"),
    }
    if key in checks and not checks[key][0](value):
        raise refuse(checks[key][1])
    return value


def _is_repo_path(value: Any) -> bool:
    if not isinstance(value, str) or not value:
        return False
    path = PurePosixPath(value)
    return not path.is_absolute() and ".." not in path.parts


@dataclasses.dataclass(frozen=True)
class ReleaseConfig:
    """Where and as whom the pipeline publishes.

    ``explicit`` names the fields the run's environment set; the others may come
    from the released repository's table (`for_project`).

    Example:
        >>> ReleaseConfig(url="http://127.0.0.1:3141", password="pw").user
        'ci-release'
    """

    url: str = "http://127.0.0.1:3141"
    user: str = "ci-release"
    password: str = dataclasses.field(default="", repr=False)
    staging_index: str = "team/staging"
    release_index: str = "team/release"
    explicit: frozenset[str] = dataclasses.field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ReleaseConfig:
        """Read ``DEVPI_*`` variables; a bad value names the variable.

        Raises:
            ReleaseError: ``USAGE`` when a variable is missing or malformed.

        Example:
            >>> ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": "https://h:1/"}).url
            'https://h:1'
            >>> ReleaseConfig.from_env({"DEVPI_PASSWORD": "pw", "DEVPI_URL": "http://h:1"})
            Traceback (most recent call last):
            ...
            common_utils_platform.release_steps.ReleaseError: DEVPI_URL must use https://...
        """
        env = os.environ if environ is None else environ
        password = env.get("DEVPI_PASSWORD", "")
        if not password:
            raise ReleaseError(
                "DEVPI_PASSWORD is not set (the devpi user's password)", ExitCode.USAGE
            )
        try:
            url = check_url(env.get("DEVPI_URL", cls.url), name="DEVPI_URL")
        except URLPolicyError as ex:
            raise ReleaseError(str(ex), ExitCode.USAGE) from None
        values: dict[str, Any] = {"url": url, "password": password}
        explicit = set()
        for var, field, default in (
            ("DEVPI_USER", "user", cls.user),
            ("DEVPI_STAGING_INDEX", "staging_index", cls.staging_index),
            ("DEVPI_RELEASE_INDEX", "release_index", cls.release_index),
        ):
            if var in env:
                explicit.add(field)
            value = env.get(var, default).strip("/")
            pattern = _USER_RE if field == "user" else _INDEX_RE
            if not pattern.match(value):
                form = "NAME" if field == "user" else "USER/INDEX"
                raise ReleaseError(f"{var} must look like {form}, got {value!r}", ExitCode.USAGE)
            values[field] = value
        config = cls(**values, explicit=frozenset(explicit))
        config.check_indexes()
        return config

    def check_indexes(self) -> None:
        """Refuse one index for both staging and release.

        Raises:
            ReleaseError: ``USAGE``.
        """
        if self.staging_index == self.release_index:
            raise ReleaseError(
                "the staging and the release index must differ "
                "(DEVPI_STAGING_INDEX, DEVPI_RELEASE_INDEX or the repository's "
                f"[tool.{TABLE}])",
                ExitCode.USAGE,
            )

    def for_project(self, project: ProjectSettings) -> ReleaseConfig:
        """Return this configuration with the repository's indexes and user where unset.

        The run's environment (``explicit``) wins over the repository's table.

        Example:
            >>> config = ReleaseConfig(password="pw", explicit=frozenset({"user"}))
            >>> mine = ProjectSettings(name="flags", release_index="flags/release",
            ...                        release_user="flags-bot")
            >>> config.for_project(mine).release_index, config.for_project(mine).user
            ('flags/release', 'ci-release')
        """
        wanted = {
            "user": project.release_user,
            "staging_index": project.staging_index,
            "release_index": project.release_index,
        }
        changes = {k: v for k, v in wanted.items() if v is not None and k not in self.explicit}
        config = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        config.check_indexes()
        return config

    def simple_url(self, index: str) -> str:
        """Return the pip ``--index-url`` of ``index``.

        Example:
            >>> ReleaseConfig(url="http://h:1").simple_url("team/staging")
            'http://h:1/team/staging/+simple/'
        """
        return f"{self.url}/{index}/+simple/"
