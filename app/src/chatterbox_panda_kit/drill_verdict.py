"""A failover drill's verdict, from what the drill saw (runs on Panda, standard library only).

Clean only when the flip, every probe of the window, the rollback and the byte-for-byte restore all
passed, Titan refused nothing, no other line moved, and the operator heard Titan speak well
(heard=yes); dirty with one reason per failed check or "no"; unconfirmed when every check passed
but nobody gave an account.

  python3 -m chatterbox_panda_kit.drill_verdict --window W.json --account A.json < facts.json

facts.json (written by ansible/drill.yml) holds the line, the flip's and the rollback's results,
every line's route before and after (url, env_sha256), Titan's refusal counters before and after
(and whether the count after the window was taken), and the drill's settings. A window or
account file that does not exist is "no figures" / "no account"; one that is not JSON is an error
(exit 2), never a verdict.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

VERDICT_PREFIX = "titan_chatterbox_failover_dry_run_"
WINDOW_ENDINGS_THAT_ARE_FINE = ("window elapsed", "operator")
NOT_ATTEMPTED: dict[str, Any] = {"result": "not attempted", "failed_step": None, "step_seconds": {}}


class UnreadableInputError(Exception):
    """A window or account file that exists but is not a JSON object."""


def refusals_during(before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
    """Titan's refusals made during the window, by reason (counters only grow)."""
    made = {reason: int(float(count) - float(before.get(reason, 0))) for reason, count in after.items()}
    return {reason: count for reason, count in made.items() if count > 0}


def _window_reasons(flip: dict[str, Any], window: dict[str, Any] | None) -> list[str]:
    if flip.get("result") != "ok":
        return [f"the flip failed at '{flip.get('failed_step') or 'unknown'}'"]
    if window is None:
        return ["the window did not complete (no figures)"]
    reasons = []
    if window["failures"] > 0:
        first = (window.get("failed_probes") or [{"failed_check": "unknown", "detail": "not recorded"}])[0]
        reasons.append(
            f"{window['failures']} of {window['probes']} probes failed "
            f"(first: {first['failed_check']}: {first['detail']})"
        )
    if window["invalid_or_silent_audio"] > 0:
        reasons.append(f"{window['invalid_or_silent_audio']} probes got invalid or silent audio")
    if window["ended_by"] not in WINDOW_ENDINGS_THAT_ARE_FINE:
        reasons.append(f"the window ended early: {window['ended_by']}")
    return reasons


def _other_lines(line: str, before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    others: dict[str, Any] = {}
    reasons = []
    for name, was in before.items():
        if name == line:
            continue
        now = after.get(name)
        unchanged = now is not None and now["url"] == was["url"] and now["env_sha256"] == was["env_sha256"]
        others[name] = {"before": was["url"], "after": now["url"] if now else None, "unchanged": unchanged}
        if not unchanged:
            reasons.append(f"line {name} moved during the drill")
    return others, reasons


def judge(facts: dict[str, Any], window: dict[str, Any] | None, account: dict[str, Any] | None) -> dict[str, Any]:
    """The verdict document written next to the audit log."""
    line = facts["line"]
    flip = facts.get("flip") or NOT_ATTEMPTED
    rollback = facts["rollback"]
    before, after = facts["before"], facts["after"]
    refusals = refusals_during(facts.get("refusals_before") or {}, facts.get("refusals_after") or {})

    reasons = _window_reasons(flip, window)
    if window is not None and not facts.get("refusals_counted", True):
        reasons.append("Titan's refusals after the window were not counted")
    if refusals:
        reasons.append(
            f"Titan refused requests during the window {json.dumps(refusals)}: "
            "each one was a mute utterance on the phone"
        )
    if account is not None and account.get("heard") != "yes":
        notes = account.get("notes")
        reasons.append(
            f"the operator did not hear Titan speak well on {account.get('calls')} call(s)"
            + (f": {notes}" if notes else "")
        )
    if rollback["result"] not in ("ok", "not needed"):
        reasons.append(f"the rollback failed at '{rollback.get('failed_step')}': the line is on {after[line]['url']}")
    restored = after[line]["env_sha256"] == before[line]["env_sha256"]
    if not restored:
        reasons.append("the env file was not restored byte for byte")
    others, moved = _other_lines(line, before, after)
    reasons.extend(moved)

    outcome = "dirty" if reasons else ("clean" if account is not None else "unconfirmed")
    return {
        "verdict": VERDICT_PREFIX + outcome,
        "reasons": reasons,
        "line": line,
        "host": facts["host"],
        "started": facts["started"],
        "operator": facts["operator"],
        "titan_url": facts["titan_url"],
        "panda_url": before[line]["url"],
        "window_requested_s": int(facts["window_requested_s"]),
        "probe_interval_s": float(facts["probe_interval_s"]),
        "max_failures": int(facts["max_failures"]),
        "flip": flip,
        "window": window,
        "rollback": rollback,
        "titan_refusals": refusals,
        "operator_account": account,
        "env_restored_byte_for_byte": restored,
        "line_after": after[line]["url"],
        "other_lines": others,
    }


def _read_optional_json(path: Path | None, what: str) -> dict[str, Any] | None:
    if path is None or not path.exists():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise UnreadableInputError(f"the {what} file {path} is unreadable: {error}") from None
    if not isinstance(document, dict):
        raise UnreadableInputError(f"the {what} file {path} is not a JSON object")
    return document


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m chatterbox_panda_kit.drill_verdict",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--window", type=Path, help="the drill window's figures (JSON); missing: no figures")
    parser.add_argument("--account", type=Path, help="the operator's account (JSON); missing: no account")
    args = parser.parse_args(argv)
    try:
        window = _read_optional_json(args.window, "window")
        account = _read_optional_json(args.account, "account")
        verdict = judge(json.load(sys.stdin), window, account)
    except UnreadableInputError as error:
        print(f"drill verdict: {error}", file=sys.stderr)
        return 2
    except (ValueError, KeyError, TypeError) as error:
        print(
            f"drill verdict: the drill's facts (stdin) or window figures are incomplete or not JSON: {error!r}",
            file=sys.stderr,
        )
        return 2
    json.dump(verdict, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
