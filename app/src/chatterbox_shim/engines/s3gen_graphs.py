"""S3Gen's flow-matching estimator replayed as CUDA graphs, one per length bucket.

0.1.7's S3Gen runs its CFM estimator (a 1-D U-Net with transformer blocks, CFG batch of 2) ten
times per utterance on inputs of one shape: the voice prompt's mel frames plus twice the speech
tokens. Eagerly each call launches about 1,500 small kernels from Python.

Here a call's frames are padded up to a multiple of `BUCKET_FRAMES` and the bucket's graph is
replayed: one graph serves every utterance whose length falls in the bucket, so after a bucket's
first use an utterance pays no eager call and no capture. In exact arithmetic padding changes
nothing. In 0.1.7's `channels=[256]` configuration every convolution is causal (no up- or
down-sampling), so it reads only earlier frames. Every norm is per frame. The padded frames'
mask is zero, so as keys they get an attention weight of exactly 0. The output is cut back to the
call's frames. This is proved on the CPU in test_s3gen_buckets.py. On a GPU it is not exact:
cuDNN and cuBLAS may pick other algorithms for the padded shape, and cuDNN's default TF32
convolutions then move the estimator output by up to 4.8e-3, as measured on the H200. 0.1.7's
own eager path moves by the same amount between lengths. The waveform is what is held to 1e-4,
by the engine's start-up check and by the bench per length.

A bucket's first use runs the call eagerly on the padded inputs (which also warms cuDNN and
cuBLAS for that shape), captures it, and answers from the eager run. Graphs share one memory pool:
the worker replays one at a time and each answer is copied out before the next replay, so one
graph's intermediates may reuse another's memory. Calls longer than `MAX_GRAPH_FRAMES`, and
meanflow calls (not 0.1.7's S3Gen), run eagerly. A capture that fails turns graphs off for the
process (eager from then on), with a log line.

One change to what is captured: 0.1.7's `add_optional_chunk_mask` reads a count back to the host
(`.item()`, not allowed while capturing) to decide whether to set rows of a mask that are entirely
false to true. During capture the estimator sees a version that does the same without the read
(`mask | row_is_empty`): the same mask in every case, without its warning line.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast

import torch

log = logging.getLogger(__name__)

# Frames are padded up to a multiple of this: at most 63 wasted frames (about 10% of a short
# sentence with a 10 s voice prompt), and about 16 buckets cover a 1,000-frame range.
BUCKET_FRAMES = 64
# Longer calls run eagerly: a bucket's graph keeps its inputs and output, and the shared pool
# grows to the largest bucket's activations (attention is quadratic in frames).
MAX_GRAPH_FRAMES = 4096


def _chunk_mask_without_sync(original: Any) -> Any:
    def add_optional_chunk_mask(
        xs: torch.Tensor,
        masks: torch.Tensor,
        use_dynamic_chunk: bool,
        use_dynamic_left_chunk: bool,
        decoding_chunk_size: int,
        static_chunk_size: int,
        num_decoding_left_chunks: int,
        enable_full_context: bool = True,
    ) -> torch.Tensor:
        if use_dynamic_chunk or static_chunk_size > 0:  # not S3Gen's inference: the original (syncs)
            return original(
                xs,
                masks,
                use_dynamic_chunk,
                use_dynamic_left_chunk,
                decoding_chunk_size,
                static_chunk_size,
                num_decoding_left_chunks,
                enable_full_context,
            )
        assert masks.dtype == torch.bool
        return masks | (masks.sum(dim=-1, keepdim=True) == 0)

    return add_optional_chunk_mask


@contextlib.contextmanager
def _capturable_decoder() -> Iterator[None]:
    from chatterbox.models.s3gen import decoder

    original = decoder.add_optional_chunk_mask
    decoder.add_optional_chunk_mask = _chunk_mask_without_sync(original)
    try:
        yield
    finally:
        decoder.add_optional_chunk_mask = original


def _reset_generator_after_failed_capture(device: torch.device) -> None:
    """A capture that raised leaves the CUDA generator in capture mode (later random draws fail
    with 'Offset increment outside graph capture'); a trivial capture that succeeds ends it."""
    torch.cuda.synchronize(device)
    probe = torch.zeros(1, device=device)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        probe.add_(1)
    torch.cuda.synchronize(device)


@dataclass
class _BucketGraph:
    """One captured estimator call at a bucket's padded frames, with the buffers it reads and writes."""

    graph: torch.cuda.CUDAGraph
    inputs: list[torch.Tensor | None]  # x, mask, mu, t, spks, cond, r: the estimator's order
    output: torch.Tensor

    def load(self, args: tuple[Any, ...], frames: int) -> None:
        """Copy a call's inputs in; the padded frames of every per-frame input are zeroed (the
        mask's zeros are what make padding exact; the others are zeroed so no earlier call's
        values linger)."""
        for buffer, value in zip(self.inputs, args, strict=True):
            if buffer is None:
                continue
            if buffer.dim() == 3:
                buffer[..., :frames].copy_(value)
                buffer[..., frames:].zero_()
            else:
                buffer.copy_(value)


def padded_frames(frames: int, bucket: int = BUCKET_FRAMES) -> int:
    return -(-frames // bucket) * bucket


def _pad(value: Any, frames: int) -> Any:
    if value is None or value.dim() != 3:
        return None if value is None else value.clone()
    return torch.nn.functional.pad(value, (0, frames - value.shape[-1]))


class GraphedEstimator(torch.nn.Module):
    def __init__(
        self, estimator: torch.nn.Module, bucket_frames: int = BUCKET_FRAMES, max_frames: int = MAX_GRAPH_FRAMES
    ) -> None:
        super().__init__()
        self.inner = estimator
        self.bucket_frames = bucket_frames
        # Exact-shape graphs (bucket_frames=1) are a new shape almost every utterance: keep one.
        self.keep: int | None = None if bucket_frames > 1 else 1
        self.max_frames = max_frames
        self.enabled = True
        self.graphs: dict[tuple[Any, ...], _BucketGraph] = {}
        self.pool: Any = None  # one memory pool for every bucket's graph (made at the first capture)
        self.captures = 0
        self.replays = 0
        self.capture_seconds = 0.0

    @property
    def dtype(self) -> torch.dtype:
        return cast(torch.dtype, self.inner.dtype)

    def _eager(self, args: tuple[Any, ...]) -> torch.Tensor:
        x, mask, mu, t, spks, cond, r = args
        return cast(torch.Tensor, self.inner.forward(x=x, mask=mask, mu=mu, t=t, spks=spks, cond=cond, r=r))

    def forward(self, x, mask, mu, t, spks=None, cond=None, r=None):  # noqa: ANN001, ANN201 (the estimator's own signature)
        args = (x, mask, mu, t, spks, cond, r)
        frames = x.shape[-1]
        if (
            not self.enabled
            or not x.is_cuda
            or r is not None
            or frames > self.max_frames
            or torch.cuda.is_current_stream_capturing()
        ):
            return self._eager(args)
        padded = padded_frames(frames, self.bucket_frames)
        key = (
            padded,
            *(
                None if a is None else (tuple(a.shape[:-1]) if a.dim() == 3 else tuple(a.shape), a.dtype, a.device)
                for a in args
            ),
        )
        entry = self.graphs.get(key)
        if entry is None:
            return self._first_use(key, args, padded)
        entry.load(args, frames)
        entry.graph.replay()
        self.replays += 1
        return entry.output[..., :frames].clone()

    def _first_use(self, key: tuple[Any, ...], args: tuple[Any, ...], padded: int) -> torch.Tensor:
        """Answer eagerly from the padded inputs (the same numbers a replay gives), then capture."""
        started = time.perf_counter()
        frames = args[0].shape[-1]
        inputs = [_pad(a, padded) for a in args]  # zeros after the call's frames: the mask masks them out
        answer = self._eager(tuple(inputs))[..., :frames].clone()
        if self.keep is not None and len(self.graphs) >= self.keep:
            self.graphs.clear()
        graph = torch.cuda.CUDAGraph()
        if not self.graphs:  # a pool lives only while a graph captured into it does
            self.pool = torch.cuda.graph_pool_handle()
        try:
            with _capturable_decoder(), torch.cuda.graph(graph, pool=self.pool):
                output = self._eager(tuple(inputs))
        except Exception:
            log.exception("S3Gen estimator capture failed: eager from now on")
            self.enabled = False
            self.graphs.clear()
            del graph
            _reset_generator_after_failed_capture(args[0].device)
            return answer
        self.graphs[key] = _BucketGraph(graph, inputs, output)
        self.captures += 1
        self.capture_seconds += time.perf_counter() - started
        return answer


def install(s3gen: Any, bucket_frames: int = BUCKET_FRAMES) -> GraphedEstimator | None:
    """Wrap the CFM estimator of a CUDA S3Gen in place; returns the wrapper (None on the CPU).
    `bucket_frames=1` captures each call's exact shape, keeping only the latest graph."""
    cfm = s3gen.flow.decoder
    if isinstance(cfm.estimator, GraphedEstimator):
        return cfm.estimator
    if not next(cfm.estimator.parameters()).is_cuda:
        return None
    cfm.estimator = GraphedEstimator(cfm.estimator, bucket_frames)
    return cfm.estimator


def uninstall(s3gen: Any) -> None:
    cfm = s3gen.flow.decoder
    if isinstance(cfm.estimator, GraphedEstimator):
        cfm.estimator = cfm.estimator.inner
