"""Voice identity: speaker-embedding cosine similarity between two folders of utterances.

Embeddings come from resemblyzer's pretrained voice encoder (its weights ship inside the wheel, so
this runs offline). Files are paired by sorted name position (A's first WAV with B's first, ...),
as the research note paired Titan's ten renderings with Panda's ten.
"""

from __future__ import annotations

import html
import os
import statistics
import time
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import soundfile

# Below this much voiced audio after silence trimming an embedding says little; use the whole clip.
MIN_TRIMMED_SECONDS = 0.5
# Shorter than this even untrimmed ("Okay." is about 0.4-0.6 s): refused rather than scored.
MIN_EMBED_SECONDS = 0.25
ENCODER_RATE = 16_000
# Peak below -80 dBFS: nothing there to embed.
SILENCE_PEAK = 1e-4


class IdentityError(RuntimeError):
    pass


@dataclass(frozen=True)
class PairScore:
    a: str
    b: str
    cosine: float
    a_seconds: float
    b_seconds: float


def wav_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise IdentityError(f"{folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() == ".wav" and p.is_file())
    if not files:
        raise IdentityError(f"{folder} holds no .wav files")
    return files


class Embedder:
    """resemblyzer's VoiceEncoder on the CPU (deterministic, and the GPU stays the shim's)."""

    def __init__(self) -> None:
        try:
            from resemblyzer import VoiceEncoder
        except ImportError as error:  # pragma: no cover - the lock installs it
            raise IdentityError("resemblyzer is not installed (images/requirements-nodeps.lock)") from error
        self._encoder = VoiceEncoder("cpu", verbose=False)
        self.name = f"resemblyzer {metadata.version('resemblyzer')}"

    def embed(self, path: Path) -> tuple[npt.NDArray[np.float32], float]:
        from resemblyzer import preprocess_wav

        try:
            raw, _ = soundfile.read(path, dtype="float32")
        except (OSError, RuntimeError) as error:
            raise IdentityError(f"{path}: cannot read audio ({error})") from error
        # resemblyzer normalises loudness first, which turns digital silence into NaNs.
        if raw.size == 0 or float(np.max(np.abs(raw))) < SILENCE_PEAK:
            raise IdentityError(f"{path}: silent, no voice to embed")
        wav = preprocess_wav(path)
        if len(wav) < MIN_TRIMMED_SECONDS * ENCODER_RATE:
            # The voice-activity trim left almost nothing (not speech-like): embed the whole clip,
            # prepared as preprocess_wav does minus the trim.
            import librosa
            from resemblyzer import hparams
            from resemblyzer.audio import normalize_volume

            whole, rate = librosa.load(str(path), sr=None)
            whole = librosa.resample(whole, orig_sr=rate, target_sr=hparams.sampling_rate)
            wav = normalize_volume(whole, hparams.audio_norm_target_dBFS, increase_only=True)
        if len(wav) < MIN_EMBED_SECONDS * ENCODER_RATE or not np.all(np.isfinite(wav)):
            raise IdentityError(f"{path}: too short or silent for a voice embedding ({len(wav) / ENCODER_RATE:.2f} s)")
        return self._encoder.embed_utterance(wav), len(wav) / ENCODER_RATE


def score_folders(folder_a: Path, folder_b: Path, embedder: Embedder | None = None) -> dict[str, Any]:
    files_a, files_b = wav_files(folder_a), wav_files(folder_b)
    if len(files_a) != len(files_b):
        counts = f"{folder_a} has {len(files_a)} WAVs and {folder_b} has {len(files_b)}"
        raise IdentityError(f"{counts}: pairs need equal counts")
    embedder = embedder or Embedder()
    pairs = []
    for path_a, path_b in zip(files_a, files_b, strict=True):
        embedding_a, seconds_a = embedder.embed(path_a)
        embedding_b, seconds_b = embedder.embed(path_b)
        # VoiceEncoder returns unit vectors; normalise again so the score is a cosine whatever it returns.
        cosine = float(np.dot(embedding_a, embedding_b) / (np.linalg.norm(embedding_a) * np.linalg.norm(embedding_b)))
        pairs.append(PairScore(path_a.name, path_b.name, cosine, seconds_a, seconds_b))
    scores = [p.cosine for p in pairs]
    return {
        "tool": "chatterbox-parity identity",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "encoder": embedder.name,
        "a": str(folder_a),
        "b": str(folder_b),
        "n": len(pairs),
        "mean": statistics.fmean(scores),
        "min": min(scores),
        "max": max(scores),
        "spread": max(scores) - min(scores),
        "pairs": [asdict(p) for p in pairs],
    }


def write_html(report: dict[str, Any], out: Path) -> None:
    """A static page for a human listener: each pair side by side, with its score."""
    base = out.parent.resolve()

    def source(folder: str, name: str) -> str:
        return html.escape(os.path.relpath(Path(folder).resolve() / name, base))

    def player(folder: str, name: str) -> str:
        return f'{html.escape(name)}<br><audio controls preload=none src="{source(folder, name)}"></audio>'

    rows = "\n".join(
        f"<tr><td>{i}</td><td>{player(report['a'], p['a'])}</td><td>{player(report['b'], p['b'])}</td>"
        f"<td>{p['cosine']:.4f}</td></tr>"
        for i, p in enumerate(report["pairs"])
    )
    out.write_text(
        f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Voice identity A/B</title>
<style>body{{font-family:sans-serif;margin:2em}}td,th{{padding:.4em .8em;border-bottom:1px solid #ccc}}</style>
</head><body>
<h1>Voice identity A/B</h1>
<p>A: {html.escape(report["a"])}<br>B: {html.escape(report["b"])}<br>
{html.escape(report["encoder"])}: mean {report["mean"]:.4f}, min {report["min"]:.4f}, spread {report["spread"]:.4f}
over {report["n"]} pairs ({html.escape(report["when"])}). Listen to each pair: same speaker, same timbre?</p>
<table><tr><th>#</th><th>A</th><th>B</th><th>cosine</th></tr>
{rows}
</table></body></html>
""",
        encoding="utf-8",
    )
