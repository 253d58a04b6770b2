"""Standby, failover, drill and rollback against Panda servers the shim never saw (lab/panda_tts,
which shares no code with it): each variant's contract is learned from the live server, Titan is
started with it, and on the wire the phone daemon cannot tell Titan from that Panda.

Variant a: 24 kHz, a base URL, 401 for a wrong token. Variant b: 16 kHz, the whole endpoint in a
quoted CHATTERBOX_URL, 403, other header order, duration style and labels
(inventory/lab/group_vars/panda.yml).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from chatterbox_panda_kit.contract_spec import compare_case, render_seconds
from chatterbox_panda_kit.exchange import Exchange

from .conftest import ENV_FILE, PANDA_TTS, STATE_DIR, Lab, end_drill_once_flipped, on_panda

CONTRACT = f"{STATE_DIR}/contracts/default.json"
EXPECTED = {
    "a": {"rate": 24000, "value": "http://127.0.0.1:8772", "titan_value": "http://127.0.0.1:8773", "wrong": 401},
    "b": {
        "rate": 16000,
        "value": '"http://127.0.0.1:8772/v1/tts"',
        "titan_value": '"http://127.0.0.1:8773/v1/tts"',
        "wrong": 403,
    },
}


def switch(lab: Lab, variant: str) -> None:
    run = lab.playbook("lab/panda-variant.yml", "-e", f"variant={variant}")
    assert run.rc == 0, run.output[-3000:]


@pytest.fixture(params=["a", "b"])
def variant(request: pytest.FixtureRequest, normal: Lab) -> Iterator[str]:
    if request.param != "a":
        switch(normal, request.param)
    try:
        yield request.param
    finally:
        if request.param != "a":
            normal.reset()
            switch(normal, "a")
            back = normal.playbook("standby.yml")
            assert back.rc == 0, back.output[-3000:]


def url_value() -> str:
    return on_panda(f"grep ^CHATTERBOX_URL= {ENV_FILE}").strip().split("=", 1)[1]


def calls() -> list[dict]:
    return [json.loads(line) for line in on_panda("cat /var/log/phone-daemon.jsonl").splitlines() if line.strip()]


def as_exchange(call: dict) -> Exchange:
    headers = [(name, value) for name, value in call["headers"]]
    return Exchange(call["status"], "", headers, b"\x01\x00" * (call["body_bytes"] // 2), 0.0)


def wire_shape(call: dict, record: dict) -> list[tuple[str, str]]:
    """The answer's head with the per-answer values replaced by what they must equal."""
    varying = {h["name"].lower(): h for h in record["success"]["headers"] if "exact" not in h}
    shape = []
    for name, value in call["headers"]:
        spec = varying.get(name.lower())
        if spec is None:
            shape.append((name, value))
        elif spec["format"] == "seconds":
            frames = call["body_bytes"] // 2
            renders = {render_seconds(s, frames, record["audio"]["sample_rate"]) for s in spec["styles"]}
            shape.append((name, "duration" if value in renders else f"bad duration {value}"))
        elif spec["format"] == "body-length":
            shape.append((name, "length" if value == str(call["body_bytes"]) else f"bad length {value}"))
        else:
            shape.append((name, spec["format"]))
    return shape


def test_titan_answers_like_each_panda_variant(normal: Lab, variant: str) -> None:
    expected = EXPECTED[variant]
    assert url_value() == expected["value"]
    standby = normal.playbook("standby.yml")
    assert standby.rc == 0, standby.output[-4000:]
    assert "Titan matches each line's recorded contract" in standby.output
    record = json.loads(on_panda(f"cat {CONTRACT}"))
    assert record["audio"]["sample_rate"] == expected["rate"]
    assert record["wrong_token"]["status"] == expected["wrong"]
    before = normal.env_sha256()
    on_panda_calls = [c for c in calls() if c["url"] == expected["value"].strip('"')]
    assert on_panda_calls
    assert on_panda_calls[-1]["valid_audio"], on_panda_calls[-1]

    normal.stop(PANDA_TTS)
    calls_before_flip = len(calls())
    run = normal.playbook("failover.yml")
    assert run.rc == 0, run.output[-4000:]
    # Only scheme, host and port moved: the path and the quotes are the line's own.
    assert url_value() == expected["titan_value"]
    assert normal.daemon_url() == expected["titan_value"].strip('"')
    time.sleep(5)
    # Only this flip's calls: earlier tests sent calls to the same Titan URL (some on purpose to a dead shim).
    on_titan = [c for c in calls()[calls_before_flip:] if c["url"] == expected["titan_value"].strip('"')]
    assert on_titan
    assert all(c["valid_audio"] for c in on_titan), on_titan[-1]
    panda_call, titan_call = on_panda_calls[-1], on_titan[-1]
    # On the wire: the same header lines, in the same order and spelling, with every constant
    # value equal and every per-answer value following the same rule; PCM at Panda's rate.
    assert wire_shape(titan_call, record) == wire_shape(panda_call, record)
    assert compare_case("success", record["success"], as_exchange(titan_call), record["audio"]) == []
    seconds = titan_call["body_bytes"] / 2 / expected["rate"]
    assert abs(seconds - titan_call["audio_s"]) < 0.05

    normal.start(PANDA_TTS, "http://127.0.0.1:8772")
    back = normal.playbook("rollback.yml")
    assert back.rc == 0, back.output[-4000:]
    assert normal.env_sha256() == before
    assert url_value() == expected["value"]

    if variant == "a":
        return  # the drill against variant a is test_drill_watch_lab's (line "second"): one drill a variant
    # The supervised drill against this Panda: clean only with the operator's "yes".
    ender, results = end_drill_once_flipped(normal, "default", ENV_FILE, 12, "-e", "calls=2")
    drill = normal.playbook("drill.yml", "-e", "line=default", "-e", "window_minutes=2", "-e", "probe_interval=3")
    ender.join(60)
    assert results, "drill-end never ran"
    assert results[0].rc == 0, results[0].output[-2000:]
    assert drill.rc == 0, drill.output[-4000:]
    names = on_panda(f"ls {STATE_DIR} | grep -- '-default-titan_chatterbox_failover_dry_run_' || true").split()
    verdict = json.loads(on_panda(f"cat {STATE_DIR}/{sorted(names)[-1]}"))
    assert verdict["verdict"] == "titan_chatterbox_failover_dry_run_clean", verdict["reasons"]
    assert verdict["window"]["ended_by"] == "operator"
    assert verdict["window"]["failures"] == 0
    assert verdict["operator_account"]["heard"] == "yes"
    assert verdict["titan_refusals"] == {}
    assert normal.env_sha256() == before
