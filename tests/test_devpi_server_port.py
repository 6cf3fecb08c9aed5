"""common-utils-devpi: ``DEVPI_PORT`` picks the port (``--port`` wins), a bad one is refused.

A real HTTP server on a loopback port answers ``/+api`` like a devpi-server: ``start``
then finds "another server" at the port it was given, which its one-line error names.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from common_utils_platform import server

from tests.http_support import QuietHandler, serving

PASSWORDS = {
    "DEVPI_ROOT_PASSWORD": "root-Pw-1",
    "DEVPI_TEAM_PASSWORD": "team-Pw-1",
    "DEVPI_RELEASE_PASSWORD": "release-Pw-1",
}


class _Api(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server calls it by this name
        self.send_body(b'{"type": "apiconfig", "result": {}}', "application/json")


@pytest.fixture
def answering_port() -> Iterator[int]:
    """A loopback port where something answers ``/+api`` with 200."""
    with serving(_Api) as httpd:
        yield int(httpd.server_address[1])


def test_devpi_port_is_where_start_looks(
    answering_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**PASSWORDS, "DEVPI_PORT": str(answering_port)}
    code = server.main(["start", "--serverdir", str(tmp_path / "d")], environ=env)
    err = capsys.readouterr().err
    assert code == 1
    assert f"another server already answers at http://127.0.0.1:{answering_port}" in err
    assert not (tmp_path / "d").exists()  # refused before anything was created


def test_port_option_wins_over_devpi_port(
    answering_port: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**PASSWORDS, "DEVPI_PORT": "1"}
    argv = ["start", "--serverdir", str(tmp_path / "d"), "--port", str(answering_port)]
    assert server.main(argv, environ=env) == 1
    assert f"http://127.0.0.1:{answering_port}" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["http", "0", "65536", "-1"])
def test_a_bad_devpi_port_is_one_line_and_exit_2(
    value: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = {**PASSWORDS, "DEVPI_PORT": value}
    assert server.main(["status", "--serverdir", str(tmp_path)], environ=env) == 2
    err = capsys.readouterr().err
    assert err == f"error: DEVPI_PORT must be a port number (1-65535), not {value!r}\n"
