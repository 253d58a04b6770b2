"""ansible/acceptance.yml on the lab: the checks run inside the deployed (model-free) image, the
report records the image and every check, GPU checks are unproven here, and a required GPU that is
missing fails the run naming the check. The real GPU run is Titan's (docs/RUNBOOK.md)."""

from __future__ import annotations

import json

from .conftest import LAB_ROOT, Lab

REPORTS = LAB_ROOT / "titan" / "canary" / "acceptance"


def _reports() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(REPORTS.glob("acceptance-*.json"))]


def test_acceptance_reports_the_image_and_fails_naming_a_check(lab: Lab):
    preview = lab.playbook("acceptance.yml", "--check", "--diff")
    assert preview.rc == 0, preview.output[-3000:]
    assert "cannot run in this preview" in preview.output
    before = len(_reports())

    run = lab.playbook(
        "acceptance.yml", "-e", "chatterbox_acceptance_require_gpu=false", "-e", "chatterbox_acceptance_sentences=1"
    )
    assert run.rc == 0, run.output[-4000:]
    report = _reports()[-1]
    assert len(_reports()) == before + 1
    assert report["image"]["id"].startswith("sha256:")
    assert report["image"]["version"] in report["image"]["ref"]
    checks = {c["name"]: c["outcome"] for c in report["acceptance"]["checks"]}
    assert checks["start_up"] == checks["synthesis"] == "passed"
    assert report["acceptance"]["failed"] == []
    assert {"gpu", "blackwell_patches", "fast_path", "gpu_memory"} <= set(report["acceptance"]["unproven"])
    assert report["acceptance"]["time_to_ready_s"] is not None

    strict = lab.playbook("acceptance.yml", "-e", "chatterbox_acceptance_sentences=1")
    assert strict.rc != 0
    assert "Acceptance on lab-titan failed: gpu." in strict.output
    assert "no CUDA device is visible" in strict.output
    assert _reports()[-1]["acceptance"]["failed"] == ["gpu"]
