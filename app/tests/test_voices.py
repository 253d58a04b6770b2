import json

import pytest

from chatterbox_shim.voices import VoiceError, load_allowlist, voice_name
from chatterbox_shim.weights import sha256_file


def _wav(path, content=b"RIFF....WAVE"):
    path.write_bytes(content)
    return path


def test_names_with_and_without_suffix():
    assert voice_name("samantha_evolving.wav") == "samantha_evolving"
    assert voice_name("samantha_evolving") == "samantha_evolving"
    assert voice_name(" samantha_evolving.WAV ") == "samantha_evolving"


def test_list_shape_with_sums(tmp_path):
    wav = _wav(tmp_path / "samantha_evolving.wav")
    (tmp_path / "metadata.json").write_text(
        json.dumps({"voices": [{"file": wav.name, "sha256": sha256_file(wav)}, "samantha_hello.wav"]})
    )
    _wav(tmp_path / "samantha_hello.wav")
    _wav(tmp_path / "not_allowlisted.wav")
    voices = load_allowlist(tmp_path)
    assert sorted(voices) == ["samantha_evolving", "samantha_hello"]


def test_mapping_shape(tmp_path):
    _wav(tmp_path / "a.wav")
    (tmp_path / "metadata.json").write_text(json.dumps({"a.wav": {"speaker": "x"}, "comment": "ignored"}))
    assert list(load_allowlist(tmp_path)) == ["a"]


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"voices": ["../secret.wav"]}, "plain .wav"),
        ({"voices": ["missing.wav"]}, "missing"),
        ({"voices": [{"file": "a.wav", "sha256": "0" * 64}]}, "sha256"),
        ({"voices": []}, "no voice"),
        ([1, 2], "JSON object"),
        ({"voices": "a.wav"}, "list"),
    ],
)
def test_bad_allowlists(tmp_path, metadata, message):
    _wav(tmp_path / "a.wav")
    (tmp_path / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(VoiceError, match=message):
        load_allowlist(tmp_path)


def test_missing_or_broken_metadata(tmp_path):
    with pytest.raises(VoiceError, match=r"no metadata\.json"):
        load_allowlist(tmp_path)
    (tmp_path / "metadata.json").write_text("{nope")
    with pytest.raises(VoiceError, match="not valid JSON"):
        load_allowlist(tmp_path)
