"""tts-probe: call a TTS endpoint exactly as the phone daemon does and check every part of the answer.

Standard library only (it runs on Panda next to the daemon, outside any virtualenv), plus this
package's contract names and contract records. Prints one line per check and exits non-zero naming
the first failure: 0 all checks passed, 1 a check failed, 2 bad usage or an unreadable file.

Without a record it checks only what any Panda must do: a 2xx, a Content-Length that agrees with
the body, whole int16 samples, audio that is not silent and a duration header (if any) that fits
the body. It never fails an endpoint on a value we guessed. With --contract RECORD it also holds
the answer to the record learned from Panda (contract_spec.py): every header's name,
spelling, order and value; --contract-mode warn reports those differences without failing (for
Panda itself, which is the truth the record was learned from).

  python3 -m chatterbox_panda_kit.probe --env-file /etc/annie/phone.env [--url URL] [--contract FILE]
"""

from __future__ import annotations

import argparse
import json
import math
import operator
import os
import sys
import time
import urllib.error
import urllib.request
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import contract as c
from .envfile import read_env_file

DEFAULT_TEXT = "This is the failover check. If you can hear me, Titan is speaking."
URL_VARIABLE = "CHATTERBOX_URL"
TOKEN_VARIABLE = "CHATTERBOX_TOKEN"
# A rate assumed only to report seconds of audio when neither a record nor a header states one.
ASSUMED_SAMPLE_RATE = c.SAMPLE_RATE
PLAUSIBLE_RATES = (4000, 192_000)
MAX_PLAUSIBLE_AUDIO_S = 600.0

Check = Callable[[str, bool, str], None]


class ProbeFailedError(Exception):
    def __init__(self, check: str, detail: str) -> None:
        super().__init__(f"{check}: {detail}")
        self.check = check
        self.detail = detail


@dataclass
class ProbeResult:
    url: str
    ok: bool = False
    failed_check: str | None = None
    detail: str = ""
    latency_s: float | None = None
    audio_s: float | None = None
    rms_dbfs: float | None = None
    status: int | None = None
    checks: list[tuple[str, bool, str]] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body_bytes: int | None = None
    warnings: list[str] = field(default_factory=list)


def tts_url(base: str) -> str:
    """The endpoint the daemon calls for a CHATTERBOX_URL: the URL itself when it already ends in
    the path, else the path appended (the research note's daemon posts to <url>/v1/tts)."""
    base = base.rstrip("/")
    return base if base.endswith(c.TTS_PATH) else base + c.TTS_PATH


def _rms_dbfs(body: bytes) -> float:
    samples = array("h")
    samples.frombytes(body[: len(body) - len(body) % 2])
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return -math.inf
    mean_square = math.fsum(map(operator.mul, samples, samples)) / len(samples) / (c.INT16_SCALE**2)
    return 10 * math.log10(mean_square) if mean_square > 0 else -math.inf


def header_list(headers: Any) -> list[tuple[str, str]]:
    """Headers in wire order from a list, an email.message (urllib) or an httpx.Headers."""
    if isinstance(headers, list):
        return headers
    if hasattr(headers, "multi_items"):
        return list(headers.multi_items())
    return list(headers.items())


def _get(headers: list[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def _sample_rate(headers: list[tuple[str, str]], record: dict[str, Any] | None) -> int | None:
    """The PCM's rate: the record's, else the one the answer states; None when neither says."""
    if record is not None and record["audio"].get("sample_rate"):
        return int(record["audio"]["sample_rate"])
    stated = _get(headers, c.HEADER_SAMPLE_RATE)
    if stated is not None and stated.isdigit() and int(stated) > 0:
        return int(stated)
    return None


def _check_duration(headers: list[tuple[str, str]], samples: int, rate: int | None, check: Check) -> None:
    stated = _get(headers, c.HEADER_AUDIO_DURATION)
    if stated is None:
        return
    try:
        seconds = float(stated)
    except ValueError:
        check("duration", False, f"{c.HEADER_AUDIO_DURATION} {stated!r} is not a number")
        return
    if rate is not None:
        actual = samples / rate
        # The header may be rounded to a few decimals; 50 ms is more than any such rounding.
        check("duration", abs(seconds - actual) <= 0.05, f"header {stated} s, body {actual:.3f} s at {rate} Hz")
        return
    implied = samples / seconds if seconds > 0 else 0.0
    low, high = PLAUSIBLE_RATES
    check("duration", low <= implied <= high, f"header {stated} s for {samples} samples ({implied:.0f} samples/s)")


def check_answer(
    status: int,
    headers: Any,
    payload: bytes,
    rms_floor_dbfs: float,
    check: Check,
    record: dict[str, Any] | None = None,
    contract_mode: str = "strict",
    warn: Callable[[str], None] | None = None,
) -> tuple[float, float]:
    """Every check of one answer, in order (check raises on the first failure); audio seconds and RMS."""
    headers = header_list(headers)
    hint = {401: " (token rejected)", 403: " (token rejected)", 404: " (voice or path unknown)"}.get(status, "")
    hint = hint or {503: " (not ready or busy)"}.get(status, "")
    check("status", 200 <= status < 300, f"{status}{hint}" + ("" if 200 <= status < 300 else f": {payload[:200]!r}"))
    length = _get(headers, "Content-Length")
    check(
        "content-length",
        length is None or (length.isdigit() and int(length) == len(payload)),
        f"header {length}, body {len(payload)} bytes",
    )
    channels = int(record["audio"]["channels"]) if record is not None else 1
    frame = c.SAMPLE_WIDTH_BYTES * channels
    whole = len(payload) % frame == 0
    check("framing", whole, f"{len(payload)} bytes: {'whole' if whole else 'not whole'} {frame}-byte int16 frames")
    samples = len(payload) // frame
    check("samples", samples > 0, f"{samples} samples")
    rate = _sample_rate(headers, record)
    _check_duration(headers, samples, rate, check)
    audio_s = samples / (rate or ASSUMED_SAMPLE_RATE)
    check("plausible length", audio_s <= MAX_PLAUSIBLE_AUDIO_S, f"{audio_s:.1f} s of audio")
    rms = _rms_dbfs(payload)
    check("non-silent", rms >= rms_floor_dbfs, f"RMS {rms:.1f} dBFS (floor {rms_floor_dbfs:.1f})")
    if record is not None:
        _check_record(status, headers, payload, record, contract_mode, check, warn)
    return audio_s, rms


def _check_record(
    status: int,
    headers: list[tuple[str, str]],
    payload: bytes,
    record: dict[str, Any],
    mode: str,
    check: Check,
    warn: Callable[[str], None] | None,
) -> None:
    from .contract_spec import compare_case
    from .exchange import Exchange

    found = compare_case("success", record["success"], Exchange(status, "", headers, payload, 0.0), record["audio"])
    if mode == "warn":
        for difference in found:
            if warn is not None:
                warn(f"differs from the recorded contract: {difference}")
        return
    detail = "; ".join(str(d) for d in found)
    check("contract", not found, detail or f"matches the record ({len(record['success']['headers'])} headers)")


def answer_problem(
    status: int, headers: Any, payload: bytes, rms_floor_dbfs: float = -60.0, record: dict[str, Any] | None = None
) -> str | None:
    """None for a valid, audible 2xx (that matches the record, if one is given); else the first
    failed check, as "name: detail"."""

    def check(name: str, passed: bool, detail: str) -> None:
        if not passed:
            raise ProbeFailedError(name, detail)

    try:
        check_answer(status, headers, payload, rms_floor_dbfs, check, record)
    except ProbeFailedError as failure:
        return str(failure)
    return None


def probe(
    url: str,
    token: str,
    *,
    text: str = DEFAULT_TEXT,
    timeout: float = 60.0,
    rms_floor_dbfs: float = -60.0,
    report: Check | None = None,
    record: dict[str, Any] | None = None,
    contract_mode: str = "strict",
) -> ProbeResult:
    result = ProbeResult(url=tts_url(url))

    def check(name: str, passed: bool, detail: str) -> None:
        result.checks.append((name, passed, detail))
        if report:
            report(name, passed, detail)
        if not passed:
            raise ProbeFailedError(name, detail)

    def warn(message: str) -> None:
        result.warnings.append(message)
        if report:
            report("contract", True, f"WARNING {message}")

    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's, http(s) only (checked)
        result.url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", c.TOKEN_HEADER: token},
    )
    try:
        if not result.url.startswith(("http://", "https://")):
            check("url", False, f"{result.url} is not an http(s) URL")
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
                status, headers, payload = response.status, response.getheaders(), response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, list(error.headers.items()), error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            check("reachable", False, f"{result.url}: {reason}")
        result.latency_s = time.perf_counter() - started
        result.status, result.headers, result.body_bytes = status, headers, len(payload)
        check("reachable", True, f"{result.url} answered in {result.latency_s:.2f} s")
        result.audio_s, result.rms_dbfs = check_answer(
            status, headers, payload, rms_floor_dbfs, check, record, contract_mode, warn
        )
        result.ok = True
    except ProbeFailedError as failure:
        result.failed_check, result.detail = failure.check, failure.detail
    return result


def load_contract(path: Path | None) -> dict[str, Any] | None:
    """A contract record, or None; ValueError naming the problem for an unusable one."""
    if path is None:
        return None
    from .contract_spec import load_record

    return load_record(path)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tts-probe", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help=f"TTS base URL (default: {URL_VARIABLE} from the env file)")
    parser.add_argument("--env-file", type=Path, help="the phone daemon's env file (token and URL)")
    parser.add_argument("--token-file", type=Path, help="a file holding only the token (the shim's own)")
    parser.add_argument("--text", default=DEFAULT_TEXT)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--rms-floor-dbfs", type=float, default=-60.0)
    parser.add_argument("--json", action="store_true", help="print one JSON summary line instead of the checks")
    parser.add_argument("--contract", type=Path, help="a contract record (chatterbox-parity contract record)")
    parser.add_argument(
        "--contract-optional",
        action="store_true",
        help="a --contract file that does not exist is skipped (a line whose contract was never recorded)",
    )
    parser.add_argument(
        "--variable",
        default=URL_VARIABLE,
        help=f"the env file's variable that names the TTS server (default {URL_VARIABLE})",
    )
    parser.add_argument(
        "--contract-mode",
        choices=("strict", "warn"),
        default="strict",
        help="strict: a difference from the record fails; warn: it is reported (for Panda itself)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.contract_optional and args.contract is not None and not args.contract.exists():
        args.contract = None
    try:
        record = load_contract(args.contract)
    except ValueError as error:
        print(f"tts-probe: {error}", file=sys.stderr)
        return 2

    values: dict[str, str] = {}
    if args.env_file is not None:
        try:
            values = read_env_file(args.env_file)
        except OSError as error:
            print(f"tts-probe: cannot read {args.env_file}: {error.strerror}", file=sys.stderr)
            return 2
    token = values.get(TOKEN_VARIABLE) or os.environ.get(TOKEN_VARIABLE, "")
    if args.token_file is not None:
        try:
            token = args.token_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            print(f"tts-probe: cannot read {args.token_file}: {error.strerror}", file=sys.stderr)
            return 2
    url = args.url or values.get(args.variable) or os.environ.get(args.variable, "")
    if not token:
        print(f"tts-probe: no {TOKEN_VARIABLE} in the env file or the environment", file=sys.stderr)
        return 2
    if not url:
        print(f"tts-probe: no --url and no {args.variable}", file=sys.stderr)
        return 2

    def report(name: str, passed: bool, detail: str) -> None:
        if not args.json:
            print(f"{'ok  ' if passed else 'FAIL'} {name}: {detail}", flush=True)

    result = probe(
        url,
        token,
        text=args.text,
        timeout=args.timeout,
        rms_floor_dbfs=args.rms_floor_dbfs,
        report=report,
        record=record,
        contract_mode=args.contract_mode,
    )
    if args.json:
        summary = {k: v for k, v in result.__dict__.items() if k not in ("checks", "headers")}
        print(json.dumps(summary))
    elif result.ok:
        print(f"PASS {result.url}: {result.audio_s:.2f} s of audio in {result.latency_s:.2f} s")
    else:
        print(f"tts-probe: FAILED at '{result.failed_check}': {result.detail}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
