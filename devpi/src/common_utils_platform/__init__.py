"""The platform team's tools for common_utils: the index, the release pipeline, hooks, ops.

One distribution, ``common-utils-platform`` (``pip install ./devpi``), installed where
the platform team works: developer machines, CI's release job, the git host's hook venv
and the index host. It is never a dependency of a service (the library, ``common_utils``,
keeps only what services run). Its commands (``[project.scripts]`` in
``devpi/pyproject.toml``):

- ``common-utils-devpi``: the developer and test devpi-server (start, bootstrap, person, ...);
- ``common-utils-release``: the guarded release of the tag at HEAD;
- ``common-utils-install-hooks``, ``common-utils-pre-receive``, ``common-utils-post-receive``:
  the git host's release hooks;
- ``common-utils-ops``: backups, restore drills, status and the other operations;
- ``common-utils-fleet``: which services run which common_utils release;
- ``common-utils-lock``: a service's hashed locks from devpi, which Renovate can replay
  (the one command services install from here: standard library only, with uv).

Modules: ``devsupport`` (processes, venvs, git), ``devpitools`` (devpi servers and API),
``release_rules`` (the tag rules), ``release``, ``release_hooks``, ``install_hooks``,
``server``, ``ops``, ``fleet``, ``servicelock``.
"""
