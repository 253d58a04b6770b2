"""The kit's voice allowlist rules, shared by the service and the chatterbox_voices role."""

from __future__ import annotations

import io
import json

import pytest

from chatterbox_panda_kit import voice_allowlist
from chatterbox_panda_kit.voice_allowlist import AllowlistError, Entry, parse


def test_both_shapes():
    listed = {"voices": [{"file": "a.wav", "sha256": "AB"}, "b.WAV"]}
    assert parse(json.dumps(listed)) == [Entry("a.wav", "AB"), Entry("b.WAV", None)]
    mapped = {"a.wav": {"sha256": "cd", "speaker": "x"}, "b.wav": {}, "comment": "ignored"}
    assert parse(json.dumps(mapped)) == [Entry("a.wav", "cd"), Entry("b.wav", None)]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"voices": ["../secret.wav"]}, "plain .wav"),
        ({"voices": [".hidden.wav"]}, "plain .wav"),
        ({"voices": ["two words.wav"]}, "plain .wav"),
        ({"voices": ["notes.txt"]}, "plain .wav"),
        ({"voices": [{"file": "a.wav", "sha256": 7}]}, "sha256"),
        ({"voices": [{"name": "a.wav"}]}, "no 'file'"),
        ({"voices": []}, "no voice"),
        ({"comment": "no wav"}, "no voice"),
        ([1, 2], "JSON object"),
        ({"voices": "a.wav"}, "list"),
    ],
)
def test_refusals(metadata, message):
    with pytest.raises(AllowlistError, match=message):
        parse(json.dumps(metadata))


def test_the_command_prints_the_files_or_names_the_problem(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"voices": ["a.wav", {"file": "b.wav", "sha256": "ff"}]})))
    assert voice_allowlist.main([]) == 0
    assert json.loads(capsys.readouterr().out) == [{"file": "a.wav", "sha256": ""}, {"file": "b.wav", "sha256": "ff"}]
    monkeypatch.setattr("sys.stdin", io.StringIO("{nope"))
    assert voice_allowlist.main([]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "not valid JSON" in captured.err
