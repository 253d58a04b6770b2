"""speech_between_markers against chatterbox 0.1.7's drop_invalid_tokens: the same tokens wherever
0.1.7 answers, and an answer where 0.1.7 raises (a start-of-speech id sampled twice)."""

from __future__ import annotations

import pytest
import torch
from chatterbox.models.s3tokenizer import EOS, SOS, drop_invalid_tokens

from chatterbox_shim.engines.chatterbox import END_OF_SPEECH, START_OF_SPEECH, speech_between_markers


def test_the_markers_are_0_1_7s() -> None:
    assert (START_OF_SPEECH, END_OF_SPEECH) == (SOS, EOS)


@pytest.mark.parametrize(
    "tokens",
    [
        [5, 6, 7],
        [SOS, 5, 6, 7],
        [5, SOS, 6, 7, EOS],
        [5, 6, EOS],
        [EOS],
        [SOS],
        [4, 8000, SOS, 9, 8100, EOS],
    ],
)
def test_the_same_tokens_as_0_1_7_where_it_answers(tokens: list[int]) -> None:
    x = torch.tensor(tokens)
    assert speech_between_markers(x).tolist() == drop_invalid_tokens(x).tolist()


def test_a_start_id_sampled_twice_keeps_what_follows_the_first() -> None:
    x = torch.tensor([3, SOS, 5, 6, SOS, 7, EOS])
    with pytest.raises(TypeError):
        drop_invalid_tokens(x)  # 0.1.7: "only integer tensors of a single element ..."
    assert speech_between_markers(x).tolist() == [5, 6, SOS, 7]  # the second SOS is dropped later (>= 6561)


def test_an_end_id_twice_ends_at_the_first() -> None:
    x = torch.tensor([SOS, 5, EOS, 6, EOS])
    assert speech_between_markers(x).tolist() == [5]
