"""The canary's verdict logic: thresholds, the last clean verdict, and the revisit triggers."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from chatterbox_tools.cli.parity import main as parity
from chatterbox_tools.parity import verdict as v

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)
THRESHOLDS = {
    "identity_mean_min": 0.85,
    "identity_min_min": 0.75,
    "p50_ratio_max": 1.25,
    "rtf_p50_max": 1.0,
    "interval_days": 92,
}


def measured(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "image": "her-os/chatterbox-shim:0.1.7-torch2.11.0-cu12.8-abc",
        "weights_ok": True,
        "weights_detail": "",
        "freeze_sha256": "f" * 64,
        "driver": "580.1",
        "voice_sha256": "e" * 64,
        "bench": {"p50_s": 2.0, "p95_s": 3.5, "rtf_p50": 0.55},
        "identity": {"mean": 0.92, "min": 0.87, "spread": 0.05, "n": 10},
    }
    for key, value in changes.items():
        if isinstance(value, dict):
            base[key] = base[key] | value
        else:
            base[key] = value
    return base


def clean_before(days: int = 1, **changes: Any) -> dict[str, Any]:
    earlier = v.decide(measured(**changes), THRESHOLDS, None, NOW - dt.timedelta(days=days))
    assert earlier["verdict"] == v.CLEAN
    return earlier


def test_first_run_within_thresholds_is_clean() -> None:
    result = v.decide(measured(), THRESHOLDS, None, NOW)
    assert result["verdict"] == v.CLEAN
    assert result["failures"] == []
    assert any("first run" in t for t in result["triggers"])
    assert result["next_due"] == "2027-02-25"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"identity": {"mean": 0.80}}, "identity mean 0.8000 < 0.85"),
        ({"identity": {"min": 0.70}}, "identity min 0.7000 < 0.75"),
        ({"bench": {"rtf_p50": 1.4}}, "RTF p50 1.400 > 1.0"),
        ({"weights_ok": False, "weights_detail": "t3_cfg.safetensors: sha256 differs"}, "t3_cfg.safetensors"),
    ],
)
def test_each_threshold_fails_with_its_reason(changes: dict[str, Any], reason: str) -> None:
    result = v.decide(measured(**changes), THRESHOLDS, clean_before(), NOW)
    assert result["verdict"] == v.DRIFT
    assert any(reason in f for f in result["failures"]), result["failures"]


def test_p50_is_compared_with_the_last_clean_verdict() -> None:
    previous = clean_before()
    slower = v.decide(measured(bench={"p50_s": 2.6}), THRESHOLDS, previous, NOW)
    assert slower["verdict"] == v.DRIFT
    assert slower["p50_ratio_to_last_clean"] == pytest.approx(1.3)
    assert "1.30x the last clean verdict" in slower["failures"][0]
    within = v.decide(measured(bench={"p50_s": 2.4}), THRESHOLDS, previous, NOW)
    assert within["verdict"] == v.CLEAN


def test_revisit_triggers_are_named() -> None:
    previous = clean_before(days=100, image="old-image", freeze_sha256="0" * 64, driver="570.0", voice_sha256="1" * 64)
    result = v.decide(measured(), THRESHOLDS, previous, NOW)
    assert result["verdict"] == v.CLEAN
    text = "\n".join(result["triggers"])
    for expected in ("image changed", "pip freeze", "GPU driver changed", "voice references changed", "quarterly"):
        assert expected in text


def test_last_clean_skips_drift_verdicts(tmp_path: Path) -> None:
    v.write_verdict(tmp_path, clean_before(days=3))
    drift = v.decide(measured(identity={"mean": 0.5}), THRESHOLDS, None, NOW - dt.timedelta(days=1))
    v.write_verdict(tmp_path, drift)
    found = v.last_clean(tmp_path)
    assert found is not None
    assert found["verdict"] == v.CLEAN
    assert found["file"].endswith(f"-{v.CLEAN}.json")


def test_unknown_threshold_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"identity_mean_minimum": 0.9}))
    with pytest.raises(ValueError, match="unknown thresholds"):
        v.load_thresholds(path)


def test_cli_writes_a_dated_verdict_and_exits_one_on_drift(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bench = tmp_path / "bench.json"
    bench.write_text(
        json.dumps(
            {
                "runs": 1,
                "sentences": 10,
                "modes": {"http": {"latency_s": {"p50": 2.0, "p95": 3.0}, "rtf": {"p50": 0.5}}},
            }
        )
    )
    identity = tmp_path / "identity.json"
    identity.write_text(json.dumps({"mean": 0.5, "min": 0.4, "spread": 0.1, "n": 10, "encoder": "resemblyzer"}))
    thresholds = tmp_path / "thresholds.json"
    thresholds.write_text(json.dumps(THRESHOLDS))
    verdicts = tmp_path / "verdicts"
    args = ["verdict", "--bench", str(bench), "--identity", str(identity), "--thresholds", str(thresholds)]
    args += ["--verdicts", str(verdicts), "--image", "img", "--weights-ok", "true", "--freeze-sha256", "abc"]
    assert parity(args) == 1
    (written,) = verdicts.iterdir()
    assert written.name.endswith(f"-{v.DRIFT}.json")
    assert "identity mean 0.5000 < 0.85" in capsys.readouterr().out
    identity.write_text(json.dumps({"mean": 0.95, "min": 0.9, "spread": 0.05, "n": 10, "encoder": "resemblyzer"}))
    assert parity(args) == 0
    assert any(p.name.endswith(f"-{v.CLEAN}.json") for p in verdicts.iterdir())


def test_missing_threshold_names_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"identity_mean_min": 0.9}))
    with pytest.raises(ValueError, match="missing thresholds"):
        v.load_thresholds(path)


def test_the_shipped_thresholds_file_names_every_threshold() -> None:
    import yaml

    shipped = Path(__file__).resolve().parents[2] / "ansible" / "canary-thresholds.yml"
    values = yaml.safe_load(shipped.read_text())["chatterbox_canary_thresholds"]
    assert set(values) == v.THRESHOLD_NAMES
