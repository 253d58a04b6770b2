"""The drill's verdict (the kit's drill_verdict): every check that makes a drill dirty, and the CLI."""

from __future__ import annotations

import copy
import io
import json
from typing import Any

import pytest

from chatterbox_panda_kit import drill_verdict
from chatterbox_panda_kit.drill_verdict import judge

PANDA = "http://panda:8772"
TITAN = "http://titan:8773"
FACTS: dict[str, Any] = {
    "line": "main",
    "host": "panda",
    "started": "20261130T120000Z",
    "operator": "ops",
    "titan_url": TITAN,
    "window_requested_s": "1800",
    "probe_interval_s": "30.0",
    "max_failures": 2,
    "flip": {"result": "ok", "failed_step": None, "step_seconds": {"change": 1.2}},
    "rollback": {"result": "ok", "failed_step": None},
    "before": {"main": {"url": PANDA, "env_sha256": "a" * 64}, "annex": {"url": PANDA, "env_sha256": "b" * 64}},
    "after": {"main": {"url": PANDA, "env_sha256": "a" * 64}, "annex": {"url": PANDA, "env_sha256": "b" * 64}},
    "refusals_before": {"queue_full": "3.0"},
    "refusals_after": {"queue_full": "3.0"},
}
WINDOW = {"probes": 60, "failures": 0, "invalid_or_silent_audio": 0, "ended_by": "window elapsed", "failed_probes": []}
HEARD = {"heard": "yes", "calls": 3, "notes": ""}


def _facts(**changes: Any) -> dict[str, Any]:
    facts = copy.deepcopy(FACTS)
    facts.update(changes)
    return facts


def test_clean_needs_every_check_and_the_operators_yes():
    verdict = judge(_facts(), WINDOW, HEARD)
    assert verdict["verdict"] == "titan_chatterbox_failover_dry_run_clean"
    assert verdict["reasons"] == []
    assert verdict["window_requested_s"] == 1800
    assert verdict["probe_interval_s"] == 30.0
    assert verdict["panda_url"] == PANDA
    assert verdict["env_restored_byte_for_byte"] is True
    assert verdict["other_lines"] == {"annex": {"before": PANDA, "after": PANDA, "unchanged": True}}
    assert verdict["titan_refusals"] == {}


def test_clean_probes_without_an_account_are_unconfirmed():
    assert judge(_facts(), WINDOW, None)["verdict"] == "titan_chatterbox_failover_dry_run_unconfirmed"


def _after(main_url: str = PANDA, main_sha: str = "a" * 64, annex_url: str = PANDA) -> dict[str, Any]:
    return {"main": {"url": main_url, "env_sha256": main_sha}, "annex": {"url": annex_url, "env_sha256": "b" * 64}}


@pytest.mark.parametrize(
    ("facts", "window", "account", "reason"),
    [
        (
            _facts(flip={"result": "failed", "failed_step": "gate", "step_seconds": {}}),
            WINDOW,
            HEARD,
            "the flip failed at 'gate'",
        ),
        (_facts(flip={}), None, None, "the flip failed at 'unknown'"),
        (_facts(), None, HEARD, "the window did not complete (no figures)"),
        (
            _facts(),
            {**WINDOW, "failures": 2, "failed_probes": [{"failed_check": "audio", "detail": "silent"}]},
            HEARD,
            "2 of 60 probes failed (first: audio: silent)",
        ),
        (_facts(), {**WINDOW, "invalid_or_silent_audio": 1}, HEARD, "1 probes got invalid or silent audio"),
        (_facts(), {**WINDOW, "ended_by": "too many failures"}, HEARD, "the window ended early: too many failures"),
        (
            _facts(refusals_after={"queue_full": "5.0", "busy": 1}),
            WINDOW,
            HEARD,
            'Titan refused requests during the window {"queue_full": 2, "busy": 1}: each one was a mute utterance',
        ),
        (
            _facts(),
            WINDOW,
            {"heard": "no", "calls": 2, "notes": "robotic"},
            "the operator did not hear Titan speak well on 2 call(s): robotic",
        ),
        (
            _facts(
                rollback={"result": "failed", "failed_step": "restart"}, after=_after(main_url=TITAN, main_sha="c" * 64)
            ),
            WINDOW,
            HEARD,
            f"the rollback failed at 'restart': the line is on {TITAN}",
        ),
        (_facts(after=_after(main_sha="c" * 64)), WINDOW, HEARD, "the env file was not restored byte for byte"),
        (_facts(after=_after(annex_url=TITAN)), WINDOW, HEARD, "line annex moved during the drill"),
        (
            _facts(refusals_after={}, refusals_counted=False),
            WINDOW,
            HEARD,
            "Titan's refusals after the window were not counted",
        ),
        (_facts(), {**WINDOW, "failures": 1, "failed_probes": []}, HEARD, "1 of 60 probes failed (first: unknown"),
    ],
)
def test_each_failed_check_makes_the_drill_dirty_with_its_reason(facts, window, account, reason):
    verdict = judge(facts, window, account)
    assert verdict["verdict"] == "titan_chatterbox_failover_dry_run_dirty"
    assert any(said.startswith(reason) for said in verdict["reasons"]), verdict["reasons"]


def test_a_flip_that_never_ran_is_recorded_as_not_attempted():
    verdict = judge(_facts(flip={}), None, None)
    assert verdict["flip"]["result"] == "not attempted"


def test_a_line_missing_after_the_drill_has_moved():
    after = {"main": FACTS["after"]["main"]}
    verdict = judge(_facts(after=after), WINDOW, HEARD)
    assert verdict["other_lines"]["annex"] == {"before": PANDA, "after": None, "unchanged": False}


def _run(monkeypatch, capsys, facts: str, *argv: str) -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(facts))
    code = drill_verdict.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_the_command_reads_the_window_and_account_where_the_drill_left_them(tmp_path, monkeypatch, capsys):
    (tmp_path / "w.json").write_text(json.dumps(WINDOW))
    (tmp_path / "a.json").write_text(json.dumps(HEARD))
    code, out, _ = _run(
        monkeypatch,
        capsys,
        json.dumps(FACTS),
        "--window",
        str(tmp_path / "w.json"),
        "--account",
        str(tmp_path / "a.json"),
    )
    assert code == 0
    assert json.loads(out)["verdict"].endswith("_clean")
    code, out, _ = _run(
        monkeypatch,
        capsys,
        json.dumps(FACTS),
        "--window",
        str(tmp_path / "w.json"),
        "--account",
        str(tmp_path / "none.json"),
    )
    assert json.loads(out)["verdict"].endswith("_unconfirmed")


@pytest.mark.parametrize(
    ("facts", "window_text", "message"),
    [
        (json.dumps(FACTS), "{half", "window file"),
        (json.dumps(FACTS), "[1]", "not a JSON object"),
        ("not json", json.dumps(WINDOW), "not JSON"),
        (json.dumps({"line": "main"}), json.dumps(WINDOW), "incomplete"),
    ],
)
def test_bad_input_is_an_error_never_a_verdict(tmp_path, monkeypatch, capsys, facts, window_text, message):
    (tmp_path / "w.json").write_text(window_text)
    code, out, err = _run(monkeypatch, capsys, facts, "--window", str(tmp_path / "w.json"))
    assert code == 2
    assert out == ""
    assert message in err
