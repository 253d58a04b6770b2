"""The JSON body of POST /v1/tts and its checks."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from . import contract as c


class TTSRequest(BaseModel):
    """Unknown fields are accepted and ignored: Panda's callers may send more."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    text: StrictStr = Field(description="Text to speak; empty or whitespace-only is rejected.")
    voice: StrictStr | None = Field(None, description="A voice from the allowlist, with or without .wav.")
    exaggeration: float = Field(c.EXAGGERATION_DEFAULT, ge=c.EXAGGERATION_MIN, le=c.EXAGGERATION_MAX)
    cfg_weight: float = Field(
        c.CFG_WEIGHT_DEFAULT,
        gt=c.CFG_WEIGHT_MIN_EXCLUSIVE,
        le=c.CFG_WEIGHT_MAX,
        description="Classifier-free guidance weight; 0 is unsupported by chatterbox 0.1.7.",
    )
    temperature: float = Field(c.TEMPERATURE_DEFAULT, ge=c.TEMPERATURE_MIN, le=c.TEMPERATURE_MAX)
    seed: int | None = Field(None, ge=0, le=c.SEED_MAX, description="Fixes sampling for a reproducible answer.")

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

    @property
    def unknown_fields(self) -> list[str]:
        return sorted(self.model_extra or {})
