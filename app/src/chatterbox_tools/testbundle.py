"""A weights bundle of the true Chatterbox 0.1.7 architecture with random weights.

Used by tests, the local lab and GPU benchmarks where the real weights cannot be fetched. The
modules are the package's own T3, S3Gen and VoiceEncoder, initialised from a fixed seed and saved
as the five files from_local() reads, plus a manifest of their own sums. It is not a voice: it
speaks noise and rarely emits the stop token.
"""

from __future__ import annotations

import json
import os
import shutil
import string
import tempfile
from pathlib import Path

import soundfile as sf
import torch

from chatterbox_panda_kit.contract import SAMPLE_RATE
from chatterbox_shim.engines.base import SynthesisParams
from chatterbox_shim.engines.lab import render
from chatterbox_shim.weights import MANIFEST_FILE_NAME, Manifest, WeightFile, sha256_file

BUNDLE_NAME = "test-bundle-random-weights-NOT-A-VOICE"
GENERATOR_VERSION = 1
TEXT_VOCAB_SIZE = 704
SPECIAL_IDS = {"[STOP]": 0, "[UNK]": 1, "[SPACE]": 2, "[PAD]": 3, "[SEP]": 4, "[CLS]": 5, "[MASK]": 6, "[START]": 255}


def _tokenizer_json() -> str:
    """A character-level tokenizer with Chatterbox's special tokens at ids under 704."""
    from tokenizers import Tokenizer
    from tokenizers.models import BPE

    vocab = dict(SPECIAL_IDS)
    free_ids = (i for i in range(TEXT_VOCAB_SIZE) if i not in SPECIAL_IDS.values())
    for char in string.ascii_letters + string.digits + string.punctuation:
        vocab[char] = next(free_ids)
    # Fill the ids up to [START] so the vocabulary has no holes (tokenizers warns about holes).
    for token_id in free_ids:
        if token_id > max(SPECIAL_IDS.values()):
            break
        vocab[f"<unused{token_id}>"] = token_id
    tokenizer = Tokenizer(BPE(vocab=vocab, merges=[], unk_token="[UNK]"))
    tokenizer.add_special_tokens(list(SPECIAL_IDS))
    return tokenizer.to_str()


def _save_state(module: torch.nn.Module, path: Path) -> None:
    from safetensors.torch import save_file

    state = {k: v.detach().contiguous().clone() for k, v in module.state_dict().items()}
    save_file(state, str(path))


def write_test_bundle(directory: Path, seed: int = 0) -> Manifest:
    """Write the bundle atomically into `directory` (replaced if present); return its manifest."""
    from chatterbox.models.s3gen import S3Gen
    from chatterbox.models.t3 import T3
    from chatterbox.models.voice_encoder import VoiceEncoder
    from chatterbox.tts import ChatterboxTTS

    directory = directory.resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bundle-", dir=directory.parent))
    try:
        torch.manual_seed(seed)
        with torch.no_grad():
            ve, t3, s3gen = VoiceEncoder().eval(), T3().eval(), S3Gen().eval()
        _save_state(ve, staging / "ve.safetensors")
        _save_state(t3, staging / "t3_cfg.safetensors")
        _save_state(s3gen, staging / "s3gen.safetensors")
        (staging / "tokenizer.json").write_text(_tokenizer_json(), encoding="utf-8")

        # The built-in voice: the real prepare_conditionals over a lab signal, so every tensor in
        # conds.pt has the shape and dtype a real one has.
        from chatterbox.models.tokenizers import EnTokenizer

        model = ChatterboxTTS(t3, s3gen, ve, EnTokenizer(str(staging / "tokenizer.json")), "cpu")
        reference = staging / "reference.wav"
        wav = render(SynthesisParams("reference voice for the test bundle " * 3, "bundle", seed=seed))
        sf.write(reference, wav, SAMPLE_RATE)
        model.prepare_conditionals(str(reference))
        model.conds.save(staging / "conds.pt")
        reference.unlink()

        files = tuple(
            WeightFile(name=name, sha256=sha256_file(staging / name), size=(staging / name).stat().st_size)
            for name in ("ve.safetensors", "t3_cfg.safetensors", "s3gen.safetensors", "tokenizer.json", "conds.pt")
        )
        manifest = Manifest(name=f"{BUNDLE_NAME}-v{GENERATOR_VERSION}-seed{seed}", files=files)
        (staging / MANIFEST_FILE_NAME).write_text(json.dumps(manifest.to_dict(), indent=2) + "\n", encoding="utf-8")
        (staging / "README.txt").write_text(
            "Random weights of the true Chatterbox 0.1.7 shapes, for tests and benchmarks.\n"
            "This is NOT a voice. Never deploy it.\n",
            encoding="utf-8",
        )
        # mkdtemp makes the folder 0700; containers read the bundle as the image's user (10001).
        staging.chmod(0o755)
        if directory.exists():
            shutil.rmtree(directory)
        os.replace(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return manifest


def bundle_is_current(directory: Path, seed: int = 0) -> bool:
    manifest_path = directory / MANIFEST_FILE_NAME
    if not manifest_path.is_file():
        return False
    manifest = Manifest.load(manifest_path)
    expected = f"{BUNDLE_NAME}-v{GENERATOR_VERSION}-seed{seed}"
    return manifest.name == expected and all((directory / f.name).is_file() for f in manifest.files)
