"""The drift canary end to end on the lab: Panda's contract captured over HTTP, the canary
playbook's clean verdict, check mode writing nothing, and a slowed-down shim caught as drift.

The lab's Panda is an independent stand-in (lab/panda_tts) whose signal is not the lab engine's,
so speaker identity against it would be drift by design. The voice baseline the canary compares
with is therefore captured from Titan's own first answers: the lab proves the canary's plumbing
(bench, identity, verdict, drift), not a voice match, which needs Panda's real voice."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import LAB_ROOT, PANDA_URL, REPO, TITAN_URL, Lab, lab_env

CANARY = LAB_ROOT / "titan" / "canary"
VERDICTS = CANARY / "verdicts"
CLEAN = "titan_chatterbox_synthesis_parity_with_panda"
DRIFT = "titan_chatterbox_synthesis_drift_from_panda"


def parity(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv" / "bin" / "chatterbox-parity"), *args],
        env=lab_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def verdicts(kind: str) -> list[Path]:
    return sorted(VERDICTS.glob(f"*-{kind}.json")) if VERDICTS.exists() else []


@pytest.fixture(scope="module")
def canary_lab(lab: Lab) -> Lab:
    lab.reset()
    # The tools image shares its torch layers with the molecule test image; cold, it takes minutes.
    built = lab.playbook("lab/parity-tools.yml", timeout=1800)
    assert built.rc == 0, built.output[-4000:]
    token = str(LAB_ROOT / "token")
    captured = parity("baseline", "--url", TITAN_URL, "--out", str(LAB_ROOT / "baselines"), "--token-file", token)
    assert captured.returncode == 0, captured.stderr
    (folder,) = (LAB_ROOT / "baselines").iterdir()
    baseline = CANARY / "baseline"
    baseline.mkdir(parents=True, exist_ok=True)
    for wav in folder.glob("*.wav"):
        shutil.copy2(wav, baseline / wav.name)
    return lab


def test_titan_matches_the_contract_recorded_from_panda(canary_lab: Lab, tmp_path: Path) -> None:
    record = tmp_path / "panda-contract.json"
    token = str(LAB_ROOT / "token")
    recorded = parity("contract", "record", "--url", PANDA_URL, "--out", str(record), "--token-file", token)
    assert recorded.returncode == 0, recorded.stderr
    checked = parity("contract", "check", "--url", TITAN_URL, "--record", str(record), "--token-file", token)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_canary_writes_a_clean_verdict(canary_lab: Lab) -> None:
    before = verdicts(CLEAN)
    run = canary_lab.playbook("canary.yml", timeout=900)
    assert run.rc == 0, run.output[-4000:]
    (new,) = set(verdicts(CLEAN)) - set(before)
    verdict = json.loads(new.read_text())
    assert verdict["verdict"] == CLEAN
    assert verdict["failures"] == []
    measured = verdict["measured"]
    assert measured["weights_ok"] is True
    assert len(measured["freeze_sha256"]) == 64
    assert measured["identity"]["n"] == 10
    assert measured["identity"]["mean"] >= verdict["thresholds"]["identity_mean_min"]
    assert len(measured["voice_sha256"]) == 64
    (run_dir,) = sorted((CANARY / "runs").iterdir())[-1:]
    assert (run_dir / "identity.html").read_text().count("<audio") == 20
    assert len(list((run_dir / "titan").glob("*.wav"))) == 10
    assert (LAB_ROOT / "token").read_text().strip() not in run.output


def test_check_mode_writes_no_verdict(canary_lab: Lab) -> None:
    before = sorted(VERDICTS.iterdir())
    run = canary_lab.playbook("canary.yml", "--check", "--diff")
    assert run.rc == 0, run.output[-4000:]
    assert "Check mode: would verify" in run.output
    assert sorted(VERDICTS.iterdir()) == before


def test_a_slower_shim_is_drift_with_the_reason(canary_lab: Lab) -> None:
    assert verdicts(CLEAN), "needs the clean verdict of the test above"
    slow = canary_lab.playbook("standby.yml", "-e", json.dumps({"chatterbox_shim_env": {"SHIM_LAB_RTF": "0.1"}}))
    assert slow.rc == 0, slow.output[-4000:]
    try:
        run = canary_lab.playbook("canary.yml", timeout=900)
        assert run.rc != 0
        assert "Drift" in run.output
        assert "the last clean verdict" in run.output
        verdict = json.loads(verdicts(DRIFT)[-1].read_text())
        assert verdict["p50_ratio_to_last_clean"] > verdict["thresholds"]["p50_ratio_max"]
        assert any("x the last clean verdict" in f for f in verdict["failures"])
    finally:
        restored = canary_lab.playbook("standby.yml")
        assert restored.rc == 0, restored.output[-4000:]
