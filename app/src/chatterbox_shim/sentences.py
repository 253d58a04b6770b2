"""The ten benchmark sentences (data/sentences.txt), shared by the benches, the parity tools, the
acceptance checks and the tests."""

from __future__ import annotations

from importlib import resources


def default_sentences() -> list[str]:
    text = resources.files("chatterbox_shim").joinpath("data/sentences.txt").read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]
