"""The JSON body of POST /v1/tts: accept what Panda's own request model plausibly accepts.

We have never seen Panda's server. A FastAPI/pydantic model with default settings reads "0.7" and
true as numbers and ignores unknown fields, so the daemon may send such values and Panda speaks
them. Every refusal here is a mute utterance on the phone, so the shim refuses only what is
unsafe: no text, NaN or infinity, and what is over the configured size. Out-of-range numbers are
clamped into the range the model runs safely in; control and format characters are removed from
the text and the rest is spoken.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from chatterbox_panda_kit import contract as c

NUMBER_PATTERN = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
INTEGER_PATTERN = r"^\s*[+-]?\d+\s*$"
_NUMBER = re.compile(NUMBER_PATTERN)
_INTEGER = re.compile(INTEGER_PATTERN)
# Removed from the text before speaking: controls, format characters (bidi overrides, zero-width
# marks, byte order marks) and unpaired surrogates.
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs"})
_WHITESPACE_CONTROLS = frozenset("\t\n\r\v\f\x1c\x1d\x1e\x1f\x85")
# (lower, upper, lower bound exclusive) of each number: the ranges 0.1.7's own demo exposes.
# cfg_weight 0 crashes 0.1.7's T3.inference (the BOS embedding is always duplicated for CFG).
BOUNDS: dict[str, tuple[float, float]] = {
    "exaggeration": (c.EXAGGERATION_MIN, c.EXAGGERATION_MAX),
    "cfg_weight": (c.CFG_WEIGHT_MIN, c.CFG_WEIGHT_MAX),
    "temperature": (c.TEMPERATURE_MIN, c.TEMPERATURE_MAX),
}


def clean_text(text: str) -> str:
    """The text with every control and format character removed (whitespace controls become spaces)."""
    kept = []
    for char in text:
        if char in _WHITESPACE_CONTROLS:
            kept.append(" ")
        elif unicodedata.category(char) not in _DROPPED_CATEGORIES:
            kept.append(char)
    return "".join(kept)


@lru_cache(maxsize=1)
def speakable_pattern() -> str:
    """A regex that finds a character which survives clean_text and is not whitespace: the schema's
    promise for `text`, derived from the same Unicode tables the check uses."""
    ranges: list[tuple[int, int]] = []
    for point in range(sys.maxunicode + 1):
        char = chr(point)
        # Surrogates are left out: no UTF-8 text holds one, and no regex engine but Python's accepts them.
        if 0xD800 <= point <= 0xDFFF:
            continue
        if char.isspace() or unicodedata.category(char) in _DROPPED_CATEGORIES:
            if ranges and ranges[-1][1] == point - 1:
                ranges[-1] = (ranges[-1][0], point)
            else:
                ranges.append((point, point))

    # Literal characters, not escapes: schema tools read the pattern as ECMA-262, Python reads it as re.
    def literal(point: int) -> str:
        char = chr(point)
        return "\\" + char if char in "\\]^-[" else char

    excluded = "".join(literal(low) if low == high else f"{literal(low)}-{literal(high)}" for low, high in ranges)
    return f"[^{excluded}]"


def _lax_number(value: object) -> object:
    if isinstance(value, str):
        if not _NUMBER.match(value):
            raise ValueError("not a number")
        # A numeric string too large for a float ("1e999") is a very large number, then clamped;
        # only NaN and Infinity themselves are refused.
        return max(-sys.float_info.max, min(sys.float_info.max, float(value)))
    return value


def _number_schema(name: str, default: float) -> dict[str, Any]:
    low, high = BOUNDS[name]
    return {
        "anyOf": [{"type": "number"}, {"type": "string", "pattern": NUMBER_PATTERN}, {"type": "boolean"}],
        "default": default,
        "description": f"Values outside [{low}, {high}] are clamped into it; a numeric string is read as its number.",
    }


class TTSRequest(BaseModel):
    """Unknown fields are accepted and ignored: Panda's callers may send more."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    text: str = Field(
        description=(
            "Text to speak. Control and format characters are removed; what is left must hold a "
            "character that is not whitespace."
        ),
    )
    voice: str | None = Field(None, description="A voice from the allowlist, with or without .wav.")
    exaggeration: float = Field(
        c.EXAGGERATION_DEFAULT, json_schema_extra=_number_schema("exaggeration", c.EXAGGERATION_DEFAULT)
    )
    cfg_weight: float = Field(
        c.CFG_WEIGHT_DEFAULT, json_schema_extra=_number_schema("cfg_weight", c.CFG_WEIGHT_DEFAULT)
    )
    temperature: float = Field(
        c.TEMPERATURE_DEFAULT, json_schema_extra=_number_schema("temperature", c.TEMPERATURE_DEFAULT)
    )
    seed: int | None = Field(
        None,
        description=f"Fixes sampling for a reproducible answer; taken modulo {c.SEED_MAX + 1}.",
        json_schema_extra={
            "anyOf": [
                {"type": "integer"},
                {"type": "string", "pattern": INTEGER_PATTERN},
                {"type": "boolean"},
                {"type": "null"},
            ],
        },
    )
    _clamped: list[str] = PrivateAttr(default_factory=list)
    _cleaned: bool = PrivateAttr(default=False)

    @field_validator("exaggeration", "cfg_weight", "temperature", mode="before")
    @classmethod
    def _numbers_as_pydantic_reads_them(cls, value: object) -> object:
        return _lax_number(value)

    @field_validator("seed", mode="before")
    @classmethod
    def _integral_seed(cls, value: object) -> object:
        if isinstance(value, str):
            if not _INTEGER.match(value):
                raise ValueError("not an integer")
            return int(value)
        return value

    @model_validator(mode="after")
    def _clean_and_clamp(self) -> TTSRequest:
        cleaned = clean_text(self.text)
        if not cleaned.strip():
            raise ValueError("text is empty, or holds only whitespace, control or format characters")
        self._cleaned = cleaned != self.text
        self.text = cleaned
        for name, (low, high) in BOUNDS.items():
            value = getattr(self, name)
            bounded = min(max(value, low), high)
            if bounded != value:
                setattr(self, name, bounded)
                self._clamped.append(name)
        if self.seed is not None:
            self.seed %= c.SEED_MAX + 1
        return self

    @property
    def unknown_fields(self) -> list[str]:
        return sorted(self.model_extra or {})

    @property
    def clamped(self) -> list[str]:
        return list(self._clamped)

    @property
    def cleaned(self) -> bool:
        return self._cleaned


def request_schema(max_text_chars: int) -> dict[str, Any]:
    """The body's JSON schema as this service enforces it, the configured text limit included (413 above it)."""
    schema = TTSRequest.model_json_schema()
    properties = schema["properties"]
    properties["text"]["maxLength"] = max_text_chars
    properties["text"]["pattern"] = speakable_pattern()
    for name in (*BOUNDS, "seed"):
        # The anyOf above replaces pydantic's strict-looking "type"; keep the title only.
        properties[name] = {key: value for key, value in properties[name].items() if key not in ("type",)}
    return schema
