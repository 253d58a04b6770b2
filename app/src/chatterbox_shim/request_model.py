"""The JSON body of POST /v1/tts and its checks."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from . import contract as c

# At least one character that is not whitespace, and no NUL anywhere.
TEXT_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


class TTSRequest(BaseModel):
    """Unknown fields are accepted and ignored: Panda's callers may send more.

    Numbers must be JSON numbers: pydantic's lax mode would read true as 1 and "0.7" as 0.7, which
    the schema does not allow and no honest caller sends.
    """

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    text: StrictStr = Field(
        description="Text to speak; empty or whitespace-only is rejected, and so is a NUL character.",
        # Documents the validator below for schema-driven clients; the validator is the check.
        json_schema_extra={"pattern": TEXT_PATTERN},
    )
    voice: StrictStr | None = Field(None, description="A voice from the allowlist, with or without .wav.")
    exaggeration: float = Field(c.EXAGGERATION_DEFAULT, strict=True, ge=c.EXAGGERATION_MIN, le=c.EXAGGERATION_MAX)
    cfg_weight: float = Field(
        c.CFG_WEIGHT_DEFAULT,
        strict=True,
        gt=c.CFG_WEIGHT_MIN_EXCLUSIVE,
        le=c.CFG_WEIGHT_MAX,
        description="Classifier-free guidance weight; 0 is unsupported by chatterbox 0.1.7.",
    )
    temperature: float = Field(c.TEMPERATURE_DEFAULT, strict=True, ge=c.TEMPERATURE_MIN, le=c.TEMPERATURE_MAX)
    seed: int | None = Field(
        None, strict=True, ge=0, le=c.SEED_MAX, description="Fixes sampling for a reproducible answer."
    )

    @field_validator("text")
    @classmethod
    def _text_has_words(cls, value: str) -> str:
        # Chatterbox would otherwise speak its filler sentence for an empty text.
        if not value.strip():
            raise ValueError("text is empty or whitespace only")
        if "\x00" in value:
            raise ValueError("text contains a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("text contains an unpaired surrogate") from None
        return value

    @field_validator("seed", mode="before")
    @classmethod
    def _integral_seed(cls, value: object) -> object:
        # JSON Schema counts 68.0 as an integer; a strict int would refuse it.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value

    @property
    def unknown_fields(self) -> list[str]:
        return sorted(self.model_extra or {})


def request_schema(max_text_chars: int) -> dict[str, Any]:
    """The body's JSON schema as this service enforces it, the configured text limit included (413 above it)."""
    schema = TTSRequest.model_json_schema()
    schema["properties"]["text"]["maxLength"] = max_text_chars
    return schema
