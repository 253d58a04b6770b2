"""S3Gen's flow-matching estimator replayed as a CUDA graph, per exact input shape.

0.1.7's S3Gen runs its CFM estimator (a 1-D U-Net with transformer blocks, CFG batch of 2) ten
times per utterance on inputs of one shape (the voice prompt's mel frames plus twice the speech
tokens). Eagerly each call launches a few thousand small kernels from Python. Here the first call
at a shape runs eagerly (its answer is returned as is), the call is then captured once, and the
other nine replay the graph: the same kernels on the same shapes, so the same numbers.

No padding to length buckets: the estimator mixes positions through attention, convolutions and
up/down-sampling, and exact equality with the eager path is the requirement. The price is one
capture per utterance (about one eager call's launch time); only the latest graphs are kept.
A capture that fails turns graphs off for the process (eager from then on), with a log line.

One change to what is captured: 0.1.7's `add_optional_chunk_mask` reads a count back to the host
(`.item()`, not allowed while capturing) to decide whether to set rows of a mask that are entirely
false to true. During capture the estimator sees a version that does the same without the read
(`mask | row_is_empty`): the same mask in every case, without its warning line.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any, cast

import torch

log = logging.getLogger(__name__)

KEEP_GRAPHS = 1  # graphs kept (each holds its own activation memory)


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


class GraphedEstimator(torch.nn.Module):
    def __init__(self, estimator: torch.nn.Module, keep: int = KEEP_GRAPHS) -> None:
        super().__init__()
        self.inner = estimator
        self.keep = keep
        self.enabled = True
        self.graphs: OrderedDict[tuple[Any, ...], tuple[torch.cuda.CUDAGraph, list[Any], torch.Tensor]] = OrderedDict()
        self.captures = 0
        self.replays = 0
        self.capture_seconds = 0.0

    @property
    def dtype(self) -> torch.dtype:
        return cast(torch.dtype, self.inner.dtype)

    @staticmethod
    def _key(args: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(None if a is None else (tuple(a.shape), a.dtype, a.device) for a in args)

    def forward(self, x, mask, mu, t, spks=None, cond=None, r=None):  # noqa: ANN001, ANN201 (the estimator's own signature)
        args = (x, mask, mu, t, spks, cond, r)
        if not self.enabled or not x.is_cuda or torch.cuda.is_current_stream_capturing():
            return self.inner.forward(x=x, mask=mask, mu=mu, t=t, spks=spks, cond=cond, r=r)
        key = self._key(args)
        entry = self.graphs.get(key)
        if entry is None:
            out = self.inner.forward(x=x, mask=mask, mu=mu, t=t, spks=spks, cond=cond, r=r)
            self._capture(key, args)
            return out
        self.graphs.move_to_end(key)
        graph, static_in, static_out = entry
        for dst, src in zip(static_in, args, strict=True):
            if dst is not None:
                dst.copy_(src)
        graph.replay()
        self.replays += 1
        return static_out.clone()

    def _capture(self, key: tuple[Any, ...], args: tuple[Any, ...]) -> None:
        started = time.perf_counter()
        while len(self.graphs) >= self.keep:
            self.graphs.popitem(last=False)
        static_in = [None if a is None else a.clone() for a in args]
        graph = torch.cuda.CUDAGraph()
        try:
            with _capturable_decoder(), torch.cuda.graph(graph):
                static_out = self.inner.forward(
                    x=static_in[0],
                    mask=static_in[1],
                    mu=static_in[2],
                    t=static_in[3],
                    spks=static_in[4],
                    cond=static_in[5],
                    r=static_in[6],
                )
        except Exception:
            log.exception("S3Gen estimator capture failed: eager from now on")
            self.enabled = False
            self.graphs.clear()
            del graph
            _reset_generator_after_failed_capture(args[0].device)
            return
        self.graphs[key] = (graph, static_in, static_out)
        self.captures += 1
        self.capture_seconds += time.perf_counter() - started


def install(s3gen: Any) -> GraphedEstimator | None:
    """Wrap the CFM estimator of a CUDA S3Gen in place; returns the wrapper (None on the CPU)."""
    cfm = s3gen.flow.decoder
    if isinstance(cfm.estimator, GraphedEstimator):
        return cfm.estimator
    if not next(cfm.estimator.parameters()).is_cuda:
        return None
    cfm.estimator = GraphedEstimator(cfm.estimator)
    return cfm.estimator


def uninstall(s3gen: Any) -> None:
    cfm = s3gen.flow.decoder
    if isinstance(cfm.estimator, GraphedEstimator):
        cfm.estimator = cfm.estimator.inner
