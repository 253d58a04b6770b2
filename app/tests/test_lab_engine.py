import numpy as np

from chatterbox_panda_kit.contract import SAMPLE_RATE
from chatterbox_shim.audio import to_pcm16
from chatterbox_shim.engines.base import SynthesisParams
from chatterbox_shim.engines.lab import LabToneEngine, render, voice_pitch_hz


def _params(text="Hello there.", voice="samantha_evolving", seed=None):
    return SynthesisParams(text, voice, seed=seed)


def test_deterministic_and_input_dependent():
    assert np.array_equal(render(_params()), render(_params()))
    assert not np.array_equal(render(_params(seed=1)), render(_params(seed=2)))
    assert not np.array_equal(render(_params("Hello there!")), render(_params("Hello there?")))


def test_speech_band_and_not_silent():
    wav = render(_params("This is a longer sentence for the spectrum check."))
    assert np.max(np.abs(wav)) <= 0.3 + 1e-6
    to_pcm16(wav, rms_floor_dbfs=-30.0)
    spectrum = np.abs(np.fft.rfft(wav)) ** 2
    freqs = np.fft.rfftfreq(wav.size, 1 / SAMPLE_RATE)
    band = spectrum[(freqs >= 80) & (freqs <= 4000)].sum()
    assert band / spectrum.sum() > 0.95


def test_voices_differ_in_pitch():
    assert voice_pitch_hz("samantha_evolving") != voice_pitch_hz("samantha_hello")


def test_engine_reports_itself_as_not_a_model():
    engine = LabToneEngine(frozenset({"v"}))
    engine.load()
    out = engine.synthesize(_params(voice="v"))
    assert out.wav.dtype == np.float32
    assert "not speech" in engine.describe()["model"]
