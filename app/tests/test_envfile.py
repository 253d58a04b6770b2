"""The env-file rules Panda's kit and the route role's Ansible modules share (one file, symlinked)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chatterbox_panda_kit.envfile import UrlLine, origin, parse_env_text

ROLE_COPY = Path(__file__).resolve().parents[2] / "roles/chatterbox_route/module_utils/chatterbox_envfile.py"


def test_the_route_role_ships_this_very_file():
    assert ROLE_COPY.is_symlink()
    assert ROLE_COPY.resolve() == (Path(__file__).resolve().parents[1] / "src/chatterbox_panda_kit/envfile.py")


@pytest.mark.parametrize(
    ("line", "new_line", "new_url"),
    [
        ("CHATTERBOX_URL=http://panda:8772\n", "CHATTERBOX_URL=http://titan:8773\n", "http://titan:8773"),
        (
            '  export CHATTERBOX_URL = "http://panda:8772/v1/tts"\n',
            '  export CHATTERBOX_URL = "http://titan:8773/v1/tts"\n',
            "http://titan:8773/v1/tts",
        ),
        ("CHATTERBOX_URL='http://panda:8772/'\r\n", "CHATTERBOX_URL='http://titan:8773/'\r\n", "http://titan:8773/"),
    ],
)
def test_only_scheme_host_and_port_move_and_every_other_byte_stays(line: str, new_line: str, new_url: str):
    text = f"# the phone daemon\nCHATTERBOX_TOKEN=secret\n{line}OTHER=1"
    url_line = UrlLine(text, "CHATTERBOX_URL")
    moved_url, _, moved_text = url_line.with_origin(origin("http://titan:8773/ignored/path"))
    assert moved_url == new_url
    assert moved_text == text.replace(line, new_line)
    assert parse_env_text(moved_text)["CHATTERBOX_URL"] == new_url


def test_the_last_line_wins_as_it_does_for_systemd():
    text = "CHATTERBOX_URL=http://old:1\nCHATTERBOX_URL=http://panda:8772\n"
    assert UrlLine(text, "CHATTERBOX_URL").url == "http://panda:8772"
    assert parse_env_text(text)["CHATTERBOX_URL"] == "http://panda:8772"


def test_another_variable_name_and_a_missing_line():
    assert UrlLine("TTS_SERVER=http://panda:8772\n", "TTS_SERVER").url == "http://panda:8772"
    with pytest.raises(LookupError):
        UrlLine("CHATTERBOX_URLX=http://panda:8772\n", "CHATTERBOX_URL")
