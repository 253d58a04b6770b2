"""Record an endpoint's exact response contract and check any endpoint against a record.

A record holds, for a successful synthesis and for a request with a wrong token: the status, each
response header in order with its exact spelling and either its exact value or, for values that
change per request (Date, Content-Length, X-Audio-Duration), the format the value must have; the
401 body verbatim; and the body framing of the 200 (raw int16 PCM whose length agrees with the
headers). No token is ever written to a record.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from dataclasses import asdict, dataclass
from typing import Any

from .. import contract as c
from .exchange import Exchange, post_tts

RECORD_FORMAT = 1
PROBE_TEXT = "Contract check: one short sentence."
WRONG_TOKEN = "contract-check-deliberately-wrong-token"

HTTP_DATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$")
DECIMAL = re.compile(r"^\d+\.(\d+)$")
INTEGER = re.compile(r"^\d+$")
# Values that legitimately change from one response to the next; everything else must match exactly.
PER_RESPONSE_HEADERS = {"date", "content-length", c.HEADER_AUDIO_DURATION.lower()}


@dataclass(frozen=True)
class Difference:
    case: str
    subject: str
    expected: str
    observed: str

    def __str__(self) -> str:
        return f"[{self.case}] {self.subject}: expected {self.expected}, got {self.observed}"


def value_format(name: str, value: str) -> dict[str, str]:
    """How a header's value is recorded: exactly, or by format when it changes per response."""
    if name.lower() not in PER_RESPONSE_HEADERS:
        return {"exact": value}
    if HTTP_DATE.match(value):
        return {"format": "http-date"}
    decimal = DECIMAL.match(value)
    if decimal:
        return {"format": f"decimal:{len(decimal.group(1))}"}
    if INTEGER.match(value):
        return {"format": "integer"}
    return {"format": "text"}


def fits(spec: dict[str, str], value: str) -> bool:
    if "exact" in spec:
        return value == spec["exact"]
    kind = spec["format"]
    if kind == "http-date":
        return bool(HTTP_DATE.match(value))
    if kind == "integer":
        return bool(INTEGER.match(value))
    if kind.startswith("decimal:"):
        decimal = DECIMAL.match(value)
        return bool(decimal) and len(decimal.group(1)) == int(kind.split(":", 1)[1])
    return True


def describe_case(exchange: Exchange) -> dict[str, Any]:
    case: dict[str, Any] = {
        "status": exchange.status,
        "headers": [{"name": name} | value_format(name, value) for name, value in exchange.headers],
    }
    if exchange.status == 200:
        case["body"] = {"framing": c.PCM_FORMAT, "sample_rate": c.SAMPLE_RATE, "channels": c.CHANNELS}
    else:
        case["body"] = {"exact": exchange.body.decode("utf-8", errors="replace")}
    return case


def capture(url: str, token: str, *, text: str = PROBE_TEXT, timeout: float = 120.0) -> dict[str, Any]:
    success = post_tts(url, token, {"text": text}, timeout=timeout)
    if success.status != 200:
        raise ValueError(f"the endpoint answered {success.status} to a valid request: {success.body[:200]!r}")
    unauthorized = post_tts(url, WRONG_TOKEN, {"text": text}, timeout=timeout)
    parts = urllib.parse.urlsplit(url)
    return {
        "tool": "chatterbox-parity contract",
        "format": RECORD_FORMAT,
        "captured_from": f"{parts.scheme}://{parts.netloc}{c.TTS_PATH}",
        "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "request": {"method": "POST", "path": c.TTS_PATH, "token_header": c.TOKEN_HEADER, "text": text},
        "success": describe_case(success),
        "unauthorized": describe_case(unauthorized),
    }


def compare_case(case: str, recorded: dict[str, Any], observed: Exchange) -> list[Difference]:
    found: list[Difference] = []
    if observed.status != recorded["status"]:
        found.append(Difference(case, "status", str(recorded["status"]), str(observed.status)))
        return found
    expected_names = [h["name"] for h in recorded["headers"]]
    observed_names = [name for name, _ in observed.headers]
    by_lower = {name.lower(): name for name in observed_names}
    for name in expected_names:
        if name.lower() not in by_lower:
            found.append(Difference(case, f"header {name}", "present", "missing"))
        elif by_lower[name.lower()] != name:
            found.append(Difference(case, f"header {name}", f"spelled {name!r}", f"spelled {by_lower[name.lower()]!r}"))
    expected_lower = {name.lower() for name in expected_names}
    for name in observed_names:
        if name.lower() not in expected_lower:
            found.append(Difference(case, f"header {name}", "absent", "present"))
    common_expected = [n.lower() for n in expected_names if n.lower() in by_lower]
    common_observed = [n.lower() for n in observed_names if n.lower() in expected_lower]
    if common_expected != common_observed:
        found.append(Difference(case, "header order", ", ".join(common_expected), ", ".join(common_observed)))
    values = {name.lower(): value for name, value in observed.headers}
    for spec in recorded["headers"]:
        value = values.get(spec["name"].lower())
        if value is not None and not fits(spec, value):
            wanted = repr(spec["exact"]) if "exact" in spec else f"format {spec['format']}"
            found.append(Difference(case, f"header {spec['name']} value", wanted, repr(value)))
    found.extend(_compare_body(case, recorded["body"], observed))
    return found


def _compare_body(case: str, recorded: dict[str, Any], observed: Exchange) -> list[Difference]:
    if "exact" in recorded:
        text = observed.body.decode("utf-8", errors="replace")
        return [] if text == recorded["exact"] else [Difference(case, "body", repr(recorded["exact"]), repr(text))]
    found = []
    body = observed.body
    length = observed.header("Content-Length")
    if length is not None and length.isdigit() and int(length) != len(body):
        found.append(Difference(case, "body length", f"Content-Length {length}", f"{len(body)} bytes"))
    if not body or len(body) % c.SAMPLE_WIDTH_BYTES:
        expected = "a non-empty whole number of int16 samples"
        found.append(Difference(case, "body framing", expected, f"{len(body)} bytes"))
    duration = observed.header(c.HEADER_AUDIO_DURATION)
    samples = len(body) // c.SAMPLE_WIDTH_BYTES
    if duration is not None and duration != c.format_duration(samples):
        found.append(
            Difference(case, f"{c.HEADER_AUDIO_DURATION} against the body", c.format_duration(samples), duration)
        )
    return found


def check(record: dict[str, Any], url: str, token: str, *, timeout: float = 120.0) -> list[Difference]:
    """Every difference between the endpoint's answers now and the record (empty: it conforms)."""
    text = record.get("request", {}).get("text", PROBE_TEXT)
    success = post_tts(url, token, {"text": text}, timeout=timeout)
    unauthorized = post_tts(url, WRONG_TOKEN, {"text": text}, timeout=timeout)
    return compare_case("200", record["success"], success) + compare_case("401", record["unauthorized"], unauthorized)


def differences_as_json(found: list[Difference]) -> list[dict[str, str]]:
    return [asdict(d) for d in found]
