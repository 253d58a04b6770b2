"""Learn an endpoint's exact answer from the live host, and hold any endpoint to what was learned.

Standard library only: it runs on Panda (standby records each line's contract there and checks
Titan against it from there), in the shim (which renders its answers from a record) and in the
parity tools.

A record (format 2) holds, for three requests (a valid synthesis, a wrong token, no token at all):
the status; every response header in wire order with its exact spelling, and either its exact
value or, for values that change per answer, the rule the value follows (an HTTP date, the body's
length, the audio's duration in seconds written in one of a few styles); the error bodies
verbatim; and the audio facts of the PCM (sample rate, channels, sample width). The successful
answer is learned from several sentences of different lengths, so a value that changes per answer
is told apart from a constant one, and a duration style is accepted only when every sample fits
it. No token is ever written to a record.
"""

from __future__ import annotations

import argparse
import base64
import json
import re
import sys
import time
import urllib.parse
from dataclasses import asdict, dataclass
from email.utils import formatdate
from pathlib import Path
from typing import Any

from . import contract as c
from .exchange import Exchange, ExchangeError, post_tts, read_token, tts_endpoint

RECORD_FORMAT = 2
TOOL = "chatterbox-parity contract"
PROBE_TEXTS = (
    "Contract check: one short sentence.",
    "A second sentence, a little longer than the first, so that the length of the answer changes.",
    "Third.",
)
WRONG_TOKEN = "contract-check-deliberately-wrong-token"
CASES = ("success", "wrong_token", "missing_token")
CASE_LABELS = {"success": "200", "wrong_token": "wrong token", "missing_token": "no token"}

HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
DECIMAL = re.compile(r"^-?\d+\.(\d+)$")
INTEGER = re.compile(r"^\d+$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$")
# The rates a PCM endpoint plausibly serves; a rate estimated from a duration snaps to one of them.
COMMON_RATES = (8000, 11025, 16000, 22050, 24000, 32000, 44100, 48000)
SECONDS_STYLES = tuple(f"fixed:{n}" for n in range(7)) + tuple(f"round:{n}" for n in range(1, 7)) + ("repr",)
# Hop-by-hop headers follow the caller's own request (a client that sends "Connection: close" gets
# one back), not the server's contract: never recorded, never compared.
HOP_BY_HOP = frozenset({"connection", "keep-alive"})
# Formats a shim can produce for a header whose value changes per answer.
RENDERABLE_FORMATS = frozenset({"http-date", "body-length", "seconds"})


class ContractError(ValueError):
    """A record is unusable (wrong format, missing facts); the message says what to do."""


@dataclass(frozen=True)
class Difference:
    case: str
    subject: str
    expected: str
    observed: str

    def __str__(self) -> str:
        return f"[{self.case}] {self.subject}: expected {self.expected}, got {self.observed}"


# --- rendering and reading values --------------------------------------------------------------


def render_seconds(style: str, frames: int, sample_rate: int) -> str:
    """The audio's duration written in one style: fixed:N (f"{s:.Nf}"), round:N (str(round(s, N)))
    or repr (str(s)), the ways a Python server plausibly writes it."""
    seconds = frames / sample_rate
    kind, _, digits = style.partition(":")
    if kind == "fixed":
        return f"{seconds:.{int(digits)}f}"
    if kind == "round":
        return str(round(seconds, int(digits)))
    if kind == "repr":
        return str(seconds)
    raise ContractError(f"unknown duration style {style!r}")


def http_date(now: float | None = None) -> str:
    return formatdate(now, usegmt=True)


def value_kind(value: str) -> str:
    """The format of a value that changes per answer and is none of the known kinds."""
    if HTTP_DATE.match(value):
        return "http-date"
    decimal = DECIMAL.match(value)
    if decimal:
        return f"decimal:{len(decimal.group(1))}"
    if INTEGER.match(value):
        return "integer"
    if UUID.match(value):
        return "uuid"
    return "text"


def _fits_kind(kind: str, value: str) -> bool:
    if kind.startswith("decimal:"):
        decimal = DECIMAL.match(value)
        return decimal is not None and len(decimal.group(1)) == int(kind.split(":", 1)[1])
    patterns = {"http-date": HTTP_DATE, "integer": INTEGER, "uuid": UUID}
    return bool(patterns[kind].match(value)) if kind in patterns else True


def frames_of(body: bytes, audio: dict[str, Any]) -> int:
    return len(body) // (audio["sample_width_bytes"] * audio["channels"])


def expected_values(spec: dict[str, Any], body: bytes, audio: dict[str, Any]) -> list[str] | None:
    """The values a header may have for this body (None: any value of its recorded format)."""
    if "exact" in spec:
        return [spec["exact"]]
    if spec["format"] == "body-length":
        return [str(len(body))]
    if spec["format"] == "seconds" and audio.get("sample_rate"):
        frames = frames_of(body, audio)
        return [render_seconds(style, frames, audio["sample_rate"]) for style in spec["styles"]]
    return None


def fits(spec: dict[str, Any], value: str, body: bytes, audio: dict[str, Any]) -> bool:
    allowed = expected_values(spec, body, audio)
    if allowed is not None:
        return value in allowed
    if spec["format"] == "seconds":
        return bool(DECIMAL.match(value) or INTEGER.match(value))
    return _fits_kind(spec["format"], value)


def describe_spec(spec: dict[str, Any]) -> str:
    if "exact" in spec:
        return repr(spec["exact"])
    if spec["format"] == "seconds":
        return "the audio's duration as " + " or ".join(spec["styles"])
    return f"format {spec['format']}"


# --- learning --------------------------------------------------------------------------------


def _header_value(headers: list[tuple[str, str]], name: str) -> str | None:
    wanted = name.lower()
    return next((value for key, value in headers if key.lower() == wanted), None)


def _snap_rate(estimate: float) -> int | None:
    best = min(COMMON_RATES, key=lambda rate: abs(rate - estimate))
    return best if abs(best - estimate) <= 0.02 * best else None


def learn_audio(samples: list[Exchange]) -> dict[str, Any]:
    """Sample rate and channels of the PCM, from the headers that state them, else estimated from
    a header whose value is the duration (frames / rate); sample width: int16 (the research note)."""
    first = samples[0]
    channels_value = _header_value(first.headers, c.HEADER_CHANNELS)
    channels, channels_source = 1, "assumed (no channels header)"
    if channels_value is not None and INTEGER.match(channels_value):
        channels, channels_source = int(channels_value), f"header {c.HEADER_CHANNELS}"
    audio: dict[str, Any] = {
        "encoding": "s16le",
        "sample_width_bytes": c.SAMPLE_WIDTH_BYTES,
        "channels": channels,
        "channels_source": channels_source,
        "sample_rate": None,
        "sample_rate_source": "unknown",
    }
    rate_value = _header_value(first.headers, c.HEADER_SAMPLE_RATE)
    if rate_value is not None and INTEGER.match(rate_value) and int(rate_value) > 0:
        audio["sample_rate"], audio["sample_rate_source"] = int(rate_value), f"header {c.HEADER_SAMPLE_RATE}"
        return audio
    for index, (name, _) in enumerate(first.headers):
        estimates = []
        for sample in samples:
            value = sample.headers[index][1] if index < len(sample.headers) else ""
            seconds = float(value) if DECIMAL.match(value) else 0.0
            frames = len(sample.body) // (c.SAMPLE_WIDTH_BYTES * channels)
            estimates.append(_snap_rate(frames / seconds) if seconds > 0 else None)
        if estimates and estimates[0] is not None and len(set(estimates)) == 1:
            audio["sample_rate"], audio["sample_rate_source"] = estimates[0], f"estimated from header {name}"
            return audio
    return audio


def _seconds_styles(values: list[str], bodies: list[bytes], audio: dict[str, Any]) -> list[str]:
    if not audio.get("sample_rate"):
        return []
    frames = [frames_of(body, audio) for body in bodies]
    return [
        style
        for style in SECONDS_STYLES
        if all(render_seconds(style, n, audio["sample_rate"]) == v for n, v in zip(frames, values, strict=True))
    ]


def learn_headers(samples: list[Exchange], audio: dict[str, Any] | None) -> list[dict[str, Any]]:
    """One spec per header of the first answer, checked against every other answer."""
    samples = [_without_hop_by_hop(sample) for sample in samples]
    names = [name for name, _ in samples[0].headers]
    for other in samples[1:]:
        if [name for name, _ in other.headers] != names:
            raise ContractError("the endpoint's headers changed from one answer to the next; record again")
    specs: list[dict[str, Any]] = []
    for index, name in enumerate(names):
        values = [sample.headers[index][1] for sample in samples]
        bodies = [sample.body for sample in samples]
        spec: dict[str, Any] = {"name": name}
        if name.lower() == "date" or all(HTTP_DATE.match(v) for v in values):
            spec["format"] = "http-date"
        elif name.lower() == "content-length" and all(v == str(len(b)) for v, b in zip(values, bodies, strict=True)):
            spec["format"] = "body-length"
        elif len(set(values)) == 1 and len(samples) > 1:
            spec["exact"] = values[0]
        elif audio is not None and (styles := _seconds_styles(values, bodies, audio)):
            spec.update(format="seconds", styles=styles)
        elif len(samples) == 1:
            spec["exact"] = values[0]
        else:
            kinds = {value_kind(v) for v in values}
            spec.update(format=kinds.pop() if len(kinds) == 1 else "text", example=values[0])
        specs.append(spec)
    return specs


def _without_hop_by_hop(exchange: Exchange) -> Exchange:
    headers = [(name, value) for name, value in exchange.headers if name.lower() not in HOP_BY_HOP]
    return Exchange(exchange.status, exchange.reason, headers, exchange.body, exchange.latency_s)


def _body_spec(body: bytes) -> dict[str, str]:
    try:
        return {"exact": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(body).decode("ascii")}


def body_bytes(spec: dict[str, str]) -> bytes:
    return spec["exact"].encode("utf-8") if "exact" in spec else base64.b64decode(spec["base64"])


def describe_error(exchange: Exchange) -> dict[str, Any]:
    return {"status": exchange.status, "headers": learn_headers([exchange], None), "body": _body_spec(exchange.body)}


def capture(url: str, token: str, *, texts: tuple[str, ...] = PROBE_TEXTS, timeout: float = 120.0) -> dict[str, Any]:
    """Ask the endpoint exactly as the daemon does and write down its answers (no token kept)."""
    successes = [post_tts(url, token, {"text": text}, timeout=timeout) for text in texts]
    for answer in successes:
        if answer.status != 200:
            raise ValueError(f"the endpoint answered {answer.status} to a valid request: {answer.body[:200]!r}")
    audio = learn_audio(successes)
    wrong = post_tts(url, WRONG_TOKEN, {"text": texts[0]}, timeout=timeout)
    missing = post_tts(url, None, {"text": texts[0]}, timeout=timeout)
    parts = urllib.parse.urlsplit(tts_endpoint(url))
    return {
        "tool": TOOL,
        "format": RECORD_FORMAT,
        "captured_from": f"{parts.scheme}://{parts.netloc}{parts.path}",
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request": {"method": "POST", "token_header": c.TOKEN_HEADER, "texts": list(texts)},
        "audio": audio,
        "success": {"status": 200, "headers": learn_headers(successes, audio), "body": {"framing": "pcm"}},
        "wrong_token": describe_error(wrong),
        "missing_token": describe_error(missing),
    }


def load_record(path: Path) -> dict[str, Any]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ContractError(f"cannot read the contract record {path}: {error}") from None
    validate_record(record, str(path))
    return record


def validate_record(record: Any, where: str = "the record") -> None:
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        found = record.get("format") if isinstance(record, dict) else type(record).__name__
        raise ContractError(
            f"{where} is not a contract record of format {RECORD_FORMAT} (found {found!r}); "
            "record it again with: chatterbox-parity contract record --url PANDA --token-file F --out FILE"
        )
    for case in CASES:
        if not isinstance(record.get(case), dict) or not isinstance(record[case].get("headers"), list):
            raise ContractError(f"{where} has no {case!r} answer; record it again")
    if not isinstance(record.get("audio"), dict):
        raise ContractError(f"{where} has no audio facts; record it again")


# --- checking --------------------------------------------------------------------------------


def compare_case(case: str, recorded: dict[str, Any], observed: Exchange, audio: dict[str, Any]) -> list[Difference]:
    label = CASE_LABELS.get(case, case)
    observed = _without_hop_by_hop(observed)
    found: list[Difference] = []
    if observed.status != recorded["status"]:
        found.append(Difference(label, "status", str(recorded["status"]), str(observed.status)))
        return found
    expected_names = [h["name"] for h in recorded["headers"]]
    observed_names = [name for name, _ in observed.headers]
    by_lower = {name.lower(): name for name in observed_names}
    for name in expected_names:
        if name.lower() not in by_lower:
            found.append(Difference(label, f"header {name}", "present", "missing"))
        elif by_lower[name.lower()] != name:
            found.append(
                Difference(label, f"header {name}", f"spelled {name!r}", f"spelled {by_lower[name.lower()]!r}")
            )
    expected_lower = {name.lower() for name in expected_names}
    for name in observed_names:
        if name.lower() not in expected_lower:
            found.append(Difference(label, f"header {name}", "absent", "present"))
    common_expected = [n.lower() for n in expected_names if n.lower() in by_lower]
    common_observed = [n.lower() for n in observed_names if n.lower() in expected_lower]
    if common_expected != common_observed:
        found.append(Difference(label, "header order", ", ".join(common_expected), ", ".join(common_observed)))
    values = {name.lower(): value for name, value in observed.headers}
    for spec in recorded["headers"]:
        value = values.get(spec["name"].lower())
        if value is not None and not fits(spec, value, observed.body, audio):
            found.append(Difference(label, f"header {spec['name']} value", describe_spec(spec), repr(value)))
    found.extend(_compare_body(label, recorded["body"], observed, audio))
    return found


def _compare_body(label: str, recorded: dict[str, Any], observed: Exchange, audio: dict[str, Any]) -> list[Difference]:
    if "framing" not in recorded:
        expected = body_bytes(recorded)
        if observed.body == expected:
            return []
        return [Difference(label, "body", repr(expected[:300]), repr(observed.body[:300]))]
    found = []
    body = observed.body
    length = observed.header("Content-Length")
    if length is not None and length.isdigit() and int(length) != len(body):
        found.append(Difference(label, "body length", f"Content-Length {length}", f"{len(body)} bytes"))
    frame = audio["sample_width_bytes"] * audio["channels"]
    if not body or len(body) % frame:
        wanted = f"a non-empty whole number of {frame}-byte frames"
        found.append(Difference(label, "body framing", wanted, f"{len(body)} bytes"))
    return found


def check(record: dict[str, Any], url: str, token: str, *, timeout: float = 120.0) -> list[Difference]:
    """Every difference between the endpoint's answers now and the record (empty: it conforms)."""
    validate_record(record)
    text = record["request"]["texts"][0]
    audio = record["audio"]
    answers = {
        "success": post_tts(url, token, {"text": text}, timeout=timeout),
        "wrong_token": post_tts(url, WRONG_TOKEN, {"text": text}, timeout=timeout),
        "missing_token": post_tts(url, None, {"text": text}, timeout=timeout),
    }
    found: list[Difference] = []
    for case in CASES:
        found.extend(compare_case(case, record[case], answers[case], audio))
    return found


def differences_as_json(found: list[Difference]) -> list[dict[str, str]]:
    return [asdict(d) for d in found]


# --- command line (stdlib, for Panda) ---------------------------------------------------------


def _write(path: Path | None, record: dict[str, Any]) -> None:
    text = json.dumps(record, indent=2) + "\n"
    if path is None:
        sys.stdout.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)


def run_record(url: str, token: str, out: Path | None) -> int:
    record = capture(url, token)
    _write(out, record)
    names = ", ".join(h["name"] for h in record["success"]["headers"])
    audio = record["audio"]
    print(
        f"recorded the contract of {record['captured_from']}: 200 headers {names}; "
        f"{audio['sample_rate']} Hz ({audio['sample_rate_source']}), {audio['channels']} channel(s); "
        f"wrong token -> {record['wrong_token']['status']}, no token -> {record['missing_token']['status']}",
        file=sys.stderr,
    )
    return 0


def run_check(url: str, token: str, record_path: Path, json_out: Path | None) -> int:
    found = check(load_record(record_path), url, token)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        report = {"url": url, "record": str(record_path), "differences": differences_as_json(found)}
        json_out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    for difference in found:
        print(f"DIFF {difference}")
    if found:
        print(f"{url}: {len(found)} difference(s) from {record_path}", file=sys.stderr)
        return 1
    print(f"{url} matches the contract recorded in {record_path}")
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("record", "check"))
    parser.add_argument("--url", required=True, help="the endpoint, as the daemon's CHATTERBOX_URL holds it")
    parser.add_argument("--out", type=Path, help="record: where to write (default: stdout)")
    parser.add_argument("--record", type=Path, help="check: the recorded contract")
    parser.add_argument("--json", type=Path, help="check: also write the differences as JSON")
    parser.add_argument("--token-file", type=Path, help="file holding the token (default: CHATTERBOX_TOKEN)")
    parser.add_argument("--env-file", type=Path, help="the daemon's env file: its CHATTERBOX_TOKEN is used")


def run(args: argparse.Namespace) -> int:
    """Exit status: 0 recorded / no difference, 1 differences, 2 bad usage or unreachable."""
    prog = "chatterbox-parity contract"
    if args.action == "check" and args.record is None:
        print(f"{prog} check: --record is required", file=sys.stderr)
        return 2
    try:
        token = _token_from(args)
        if args.action == "record":
            return run_record(args.url, token, args.out)
        return run_check(args.url, token, args.record, args.json)
    except (ExchangeError, ValueError, OSError) as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2


def _token_from(args: argparse.Namespace) -> str:
    if args.env_file is not None:
        from .probe import TOKEN_VARIABLE, read_env_file

        try:
            token = read_env_file(args.env_file).get(TOKEN_VARIABLE, "").strip()
        except OSError as error:
            raise ExchangeError(f"cannot read {args.env_file}: {error.strerror}") from error
        if not token:
            raise ExchangeError(f"no {TOKEN_VARIABLE} in {args.env_file}")
        return token
    return read_token(args.token_file)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m chatterbox_panda_kit.contract_spec", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
