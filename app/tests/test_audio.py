import math

import numpy as np
import pytest

from chatterbox_shim.audio import InvalidAudioError, from_pcm16, rms_dbfs, to_pcm16

FLOOR = -60.0


def test_scaling_clipping_and_rounding():
    pcm = to_pcm16(np.array([0.0, 0.5, -0.5, 1.0, -1.0, 1.7, -3.0, 0.25 / 32767]), rms_floor_dbfs=FLOOR)
    values = np.frombuffer(pcm.data, dtype="<i2").tolist()
    assert values == [0, 16384, -16384, 32767, -32767, 32767, -32767, 0]
    assert pcm.samples == 8
    assert len(pcm.data) == 2 * pcm.samples


def test_no_wraparound_at_full_scale():
    pcm = to_pcm16(np.full(100, 1.0000001), rms_floor_dbfs=FLOOR)
    assert set(np.frombuffer(pcm.data, dtype="<i2").tolist()) == {32767}


def test_little_endian_bytes():
    pcm = to_pcm16(np.array([0.5, 0.5]), rms_floor_dbfs=FLOOR)
    assert pcm.data[:2] == (16384).to_bytes(2, "little", signed=True)


@pytest.mark.parametrize(
    ("wav", "message"),
    [
        (np.array([]), "no samples"),
        (np.array([0.1, np.nan, 0.1]), "non-finite"),
        (np.array([0.1, np.inf]), "non-finite"),
        (np.zeros(24000), "silent"),
        (np.full(24000, 1e-5), "silent"),
    ],
)
def test_invalid_audio_is_refused(wav, message):
    with pytest.raises(InvalidAudioError, match=message):
        to_pcm16(wav, rms_floor_dbfs=FLOOR)


def test_round_trip_and_odd_length():
    wav = np.sin(np.linspace(0, 100, 2400)) * 0.3
    back = from_pcm16(to_pcm16(wav, rms_floor_dbfs=FLOOR).data)
    assert np.max(np.abs(back - wav)) < 1 / 32767
    with pytest.raises(InvalidAudioError):
        from_pcm16(b"\x00\x01\x02")


def test_rms_dbfs():
    assert rms_dbfs(1.0) == 0.0
    assert rms_dbfs(0.0) == -math.inf
    assert abs(rms_dbfs(0.1) + 20.0) < 1e-9
