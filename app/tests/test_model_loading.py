"""The engine's loader gives the model from_local gives, without from_local's random init."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from chatterbox_shim.engines import model_loading


def _tensors(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and every buffer, persistent or not (rotary frequencies are not in the file)."""
    found = dict(module.named_parameters())
    found.update(dict(module.named_buffers()))
    return found


@pytest.fixture(scope="module")
def both(test_bundle: Path) -> tuple[object, object]:
    from chatterbox.tts import ChatterboxTTS

    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger(model_loading.__name__).addHandler(handler)
    try:
        loaded = model_loading.load_chatterbox(test_bundle, "cpu")
    finally:
        logging.getLogger(model_loading.__name__).removeHandler(handler)
    assert seen == []  # the fast path, not the missing-key fallback
    return ChatterboxTTS.from_local(test_bundle, "cpu"), loaded


@pytest.mark.parametrize("part", ["t3", "s3gen", "ve"])
def test_every_tensor_equals_from_local_s(both: tuple[object, object], part: str) -> None:
    reference, loaded = (_tensors(getattr(model, part)) for model in both)
    assert reference.keys() == loaded.keys()
    unequal = [name for name, value in reference.items() if not torch.equal(value, loaded[name])]
    assert unequal == []
    assert getattr(both[1], part).training is False


def test_the_rest_of_the_model_matches(both: tuple[object, object]) -> None:
    reference, loaded = both
    assert type(loaded) is type(reference)
    assert loaded.device == reference.device == "cpu"
    assert loaded.sr == reference.sr
    assert (loaded.conds is None) == (reference.conds is None)
    assert (
        loaded.tokenizer.text_to_tokens("Hello there.").tolist()
        == reference.tokenizer.text_to_tokens("Hello there.").tolist()
    )


def test_random_init_is_back_after_loading() -> None:
    with model_loading.weights_not_drawn():
        untouched = torch.zeros(4).normal_()
    assert torch.equal(untouched, torch.zeros(4))
    assert torch.zeros(1000).normal_().std() > 0.5  # restored outside the block


def test_a_key_missing_from_s3gen_s_file_builds_s3gen_as_from_local_does(
    test_bundle: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """from_local loads S3Gen non-strictly: a missing key keeps its random init. The loader then
    must not leave it as uninitialised memory: it builds S3Gen with its init, and says so."""
    import safetensors.torch

    real_load = safetensors.torch.load_file
    dropped = "flow.encoder_proj.weight"

    def without_one_key(path: Path, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        state = real_load(path, *args, **kwargs)
        if Path(path).name == "s3gen.safetensors":
            del state[dropped]
        return state

    monkeypatch.setattr(safetensors.torch, "load_file", without_one_key)
    torch.manual_seed(0)
    with caplog.at_level(logging.WARNING, logger=model_loading.__name__):
        s3gen = model_loading._load_s3gen(test_bundle, "cpu")
    assert "lacks some of S3Gen's keys" in caplog.text
    weight = dict(s3gen.named_parameters())[dropped]
    assert torch.isfinite(weight).all()
    assert 0 < float(weight.detach().std()) < 1  # a drawn init, not zeros or left-over memory


def test_keys_s3gen_computes_itself_may_be_missing_without_the_slow_path(
    test_bundle: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """0.1.7's released s3gen.safetensors may leave out the tokenizer's mel filters and window
    (S3Gen lists them in `ignore_state_dict_missing`): built without draws, they are still right."""
    import safetensors.torch
    from chatterbox.models.s3gen import S3Gen

    real_load = safetensors.torch.load_file
    computed = S3Gen.ignore_state_dict_missing

    def without_computed(path: Path, *args: object, **kwargs: object) -> dict[str, torch.Tensor]:
        state = real_load(path, *args, **kwargs)
        if Path(path).name == "s3gen.safetensors":
            for key in computed:
                state.pop(key, None)
        return state

    monkeypatch.setattr(safetensors.torch, "load_file", without_computed)
    with caplog.at_level(logging.WARNING, logger=model_loading.__name__):
        s3gen = model_loading._load_s3gen(test_bundle, "cpu")
    assert "lacks some of S3Gen's keys" not in caplog.text
    reference = S3Gen()
    for key in computed:
        assert torch.equal(dict(s3gen.named_buffers())[key], dict(reference.named_buffers())[key])
