"""Titan holds exactly Panda's allowlist, byte for byte."""

import hashlib

import pytest

testinfra_hosts = ["chatterbox-voices-titan"]
DEST = "/srv/chatterbox/voices"


@pytest.mark.parametrize(
    ("name", "content"),
    [("samantha_evolving.wav", b"RIFF evolving voice"), ("samantha_hello.wav", b"RIFF hello voice")],
)
def test_allowlisted_wavs_arrived_intact(host, name, content):
    wav = host.file(f"{DEST}/{name}")
    assert wav.sha256sum == hashlib.sha256(content).hexdigest()
    assert wav.mode == 0o644


def test_only_the_allowlist(host):
    names = sorted(host.file(DEST).listdir())
    assert names == ["metadata.json", "samantha_evolving.wav", "samantha_hello.wav"]
