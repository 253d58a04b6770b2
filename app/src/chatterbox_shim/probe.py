"""tts-probe: call a TTS endpoint exactly as the phone daemon does and check every part of the answer.

Standard library only (it runs on Panda next to the daemon, outside any virtualenv), plus this
package's contract module. Prints one line per check and exits non-zero naming the first failure:
0 all checks passed, 1 a check failed, 2 bad usage or an unreadable env file.

  python3 -m chatterbox_shim.probe --url http://titan:8773 --env-file /etc/annie/phone.env
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
from typing import Any, Protocol

from . import contract as c

DEFAULT_TEXT = "This is the failover check. If you can hear me, Titan is speaking."
URL_VARIABLE = "CHATTERBOX_URL"
TOKEN_VARIABLE = "CHATTERBOX_TOKEN"


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


def read_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile and shells read them (quotes, export, comments)."""
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if not sep:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def tts_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(c.TTS_PATH) else base + c.TTS_PATH


def _rms_dbfs(body: bytes) -> float:
    samples = array("h")
    samples.frombytes(body)
    if sys.byteorder == "big":
        samples.byteswap()
    if not samples:
        return -math.inf
    mean_square = math.fsum(map(operator.mul, samples, samples)) / len(samples) / (c.INT16_SCALE**2)
    return 10 * math.log10(mean_square) if mean_square > 0 else -math.inf


class _Headers(Protocol):
    def get(self, name: str, default: Any = None) -> Any: ...


def check_answer(
    status: int, headers: _Headers, payload: bytes, rms_floor_dbfs: float, check: Callable[[str, bool, str], None]
) -> tuple[float, float]:
    """Every check of one answer, in order (check raises on the first failure); audio seconds and RMS."""
    hint = {401: " (token rejected)", 404: " (voice or path unknown)", 503: " (not ready or busy)"}.get(status, "")
    check("status", status == 200, f"{status}{hint}" + ("" if status == 200 else f": {payload[:200]!r}"))
    content_type = headers.get(c.HEADER_CONTENT_TYPE, "")
    check("content-type", content_type == c.PCM_CONTENT_TYPE, content_type or "missing")
    for name, expected in (
        (c.HEADER_SAMPLE_RATE, str(c.SAMPLE_RATE)),
        (c.HEADER_CHANNELS, str(c.CHANNELS)),
        (c.HEADER_FORMAT, c.PCM_FORMAT),
    ):
        value = headers.get(name)
        check(name.lower(), value == expected, f"{value!r}, expected {expected!r}")
    length = headers.get("Content-Length")
    check(
        "content-length",
        length is not None and length.isdigit() and int(length) == len(payload) and len(payload) % 2 == 0,
        f"header {length}, body {len(payload)} bytes (must be equal and even)",
    )
    samples = len(payload) // 2
    check("samples", samples > 0, f"{samples} samples")
    duration = headers.get(c.HEADER_AUDIO_DURATION, "")
    expected_duration = c.format_duration(samples)
    check(
        c.HEADER_AUDIO_DURATION.lower(),
        duration == expected_duration,
        f"{duration!r}, body says {expected_duration}",
    )
    audio_s = samples / c.SAMPLE_RATE
    rms = _rms_dbfs(payload)
    check(
        "non-silent",
        rms >= rms_floor_dbfs,
        f"RMS {rms:.1f} dBFS (floor {rms_floor_dbfs:.1f})",
    )
    return audio_s, rms


def answer_problem(status: int, headers: _Headers, payload: bytes, rms_floor_dbfs: float = -60.0) -> str | None:
    """None for a valid, audible 200; else the first failed check, as "name: detail"."""

    def check(name: str, passed: bool, detail: str) -> None:
        if not passed:
            raise ProbeFailedError(name, detail)

    try:
        check_answer(status, headers, payload, rms_floor_dbfs, check)
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
    report: Callable[[str, bool, str], None] | None = None,
) -> ProbeResult:
    result = ProbeResult(url=tts_url(url))

    def check(name: str, passed: bool, detail: str) -> None:
        result.checks.append((name, passed, detail))
        if report:
            report(name, passed, detail)
        if not passed:
            raise ProbeFailedError(name, detail)

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
                status, headers, payload = response.status, response.headers, response.read()
        except urllib.error.HTTPError as error:
            status, headers, payload = error.code, error.headers, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            check("reachable", False, f"{result.url}: {reason}")
        result.latency_s = time.perf_counter() - started
        result.status = status
        check("reachable", True, f"{result.url} answered in {result.latency_s:.2f} s")
        result.audio_s, result.rms_dbfs = check_answer(status, headers, payload, rms_floor_dbfs, check)
        result.ok = True
    except ProbeFailedError as failure:
        result.failed_check, result.detail = failure.check, failure.detail
    return result


def main(argv: list[str] | None = None) -> int:
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
    args = parser.parse_args(argv)

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
    url = args.url or values.get(URL_VARIABLE) or os.environ.get(URL_VARIABLE, "")
    if not token:
        print(f"tts-probe: no {TOKEN_VARIABLE} in the env file or the environment", file=sys.stderr)
        return 2
    if not url:
        print(f"tts-probe: no --url and no {URL_VARIABLE}", file=sys.stderr)
        return 2

    def report(name: str, passed: bool, detail: str) -> None:
        if not args.json:
            print(f"{'ok  ' if passed else 'FAIL'} {name}: {detail}", flush=True)

    result = probe(url, token, text=args.text, timeout=args.timeout, rms_floor_dbfs=args.rms_floor_dbfs, report=report)
    if args.json:
        summary = {k: v for k, v in result.__dict__.items() if k != "checks"}
        print(json.dumps(summary))
    elif result.ok:
        print(f"PASS {result.url}: {result.audio_s:.2f} s of audio in {result.latency_s:.2f} s")
    else:
        print(f"tts-probe: FAILED at '{result.failed_check}': {result.detail}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
