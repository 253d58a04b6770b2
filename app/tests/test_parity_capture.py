"""baseline and bench --url against a real lab shim over HTTP."""

from __future__ import annotations

import hashlib
import json
import wave
from pathlib import Path

import pytest

from chatterbox_tools.cli.parity import main as parity

from .conftest import TOKEN, RunningShim, free_port


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


def test_baseline_keeps_bodies_wavs_and_headers(lab_shim: RunningShim, token_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "baselines"
    assert parity(["baseline", "--url", lab_shim.url, "--out", str(out), "--token-file", str(token_file)]) == 0
    (folder,) = out.iterdir()
    assert not folder.name.endswith(".partial")
    manifest = json.loads((folder / "baseline.json").read_text())
    assert len(manifest["utterances"]) == 10
    for entry in manifest["utterances"]:
        pcm = (folder / entry["pcm"]).read_bytes()
        assert hashlib.sha256(pcm).hexdigest() == entry["sha256"]
        with wave.open(str(folder / entry["wav"])) as wav:
            assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24000, 1, 2)
            assert wav.readframes(wav.getnframes()) == pcm
        headers = dict((k.lower(), v) for k, v in entry["headers"])
        assert headers["x-audio-duration"] == f"{len(pcm) / 2 / 24000:.3f}"
        assert [k.lower() for k, _ in entry["headers"]].index("x-audio-duration") < len(entry["headers"])
    assert TOKEN not in (folder / "baseline.json").read_text()


def test_baseline_with_a_wrong_token_leaves_nothing(lab_shim: RunningShim, tmp_path: Path) -> None:
    bad = tmp_path / "bad-token"
    bad.write_text("not-the-token")
    out = tmp_path / "baselines"
    assert parity(["baseline", "--url", lab_shim.url, "--out", str(out), "--token-file", str(bad)]) == 2
    assert list(out.iterdir()) == []


def test_baseline_of_a_dead_host_is_a_clear_error(
    token_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    assert parity(["baseline", "--url", url, "--out", str(tmp_path / "b"), "--token-file", str(token_file)]) == 2
    assert "127.0.0.1" in capsys.readouterr().err


def test_bench_over_http_reports_the_research_fields_and_saves_audio(
    lab_shim: RunningShim, token_file: Path, tmp_path: Path
) -> None:
    out, audio = tmp_path / "bench.json", tmp_path / "audio"
    args = ["bench", "--url", lab_shim.url, "--token-file", str(token_file), "--runs", "2", "--limit", "3"]
    assert parity([*args, "--json", str(out), "--save-audio", str(audio), "--audio-prefix", "titan"]) == 0
    report = json.loads(out.read_text())
    assert report["target"] == lab_shim.url
    assert set(report["modes"]) == {"http"}
    assert report["modes"]["http"]["latency_s"]["n"] == 6
    parity_fields = report["parity"]
    assert parity_fields["synthesis_p50_ms"] > 0
    assert parity_fields["rtf_p50"] > 0
    assert set(parity_fields) >= {"vram_peak_torch_gb", "vram_peak_nvidia_smi_gb", "unified_memory_gap_mib"}
    assert report["versions"]["chatterbox-shim"]
    assert sorted(p.name for p in audio.iterdir()) == ["titan_00.wav", "titan_01.wav", "titan_02.wav"]


def test_bench_over_http_with_a_wrong_token_fails(lab_shim: RunningShim, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("wrong")
    assert parity(["bench", "--url", lab_shim.url, "--token-file", str(bad), "--runs", "1", "--limit", "1"]) == 1
