"""The prebuilt decode kernels (engines/kernels/t3_decode.cu), each against torch's ops on random
data of T3's shapes, and the loader's refusals. The kernel checks need a CUDA device and the built
fatbin (`make kernels`); on the CPU only the refusals run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from chatterbox_shim.engines.cuda_kernels import (
    DecodeKernels,
    KernelsUnavailableError,
    default_fatbin,
    integer,
    pointer,
    real,
)

CUDA = torch.cuda.is_available()
gpu = pytest.mark.skipif(not CUDA, reason="the kernels run on a CUDA device")
HIDDEN, INTER, HEADS, DIM, MAX_LEN = 1024, 4096, 16, 64, 512
EPS = 1e-5
BOUND = 1e-5  # relative to the largest magnitude: only the order of the sums differs


def _relative(got: torch.Tensor, want: torch.Tensor) -> float:
    return float((got - want).abs().max() / want.abs().max())


def test_a_missing_fatbin_is_refused_naming_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "t3_decode.fatbin"
    with pytest.raises(KernelsUnavailableError, match=r"no prebuilt kernels at .*t3_decode\.fatbin"):
        DecodeKernels(missing)


@gpu
def test_a_corrupt_fatbin_is_refused(tmp_path: Path) -> None:
    torch.zeros(1, device="cuda")
    corrupt = tmp_path / "t3_decode.fatbin"
    corrupt.write_bytes(b"\x7fELF not a fatbin" * 64)
    with pytest.raises(KernelsUnavailableError, match=r"loading t3_decode\.fatbin"):
        DecodeKernels(corrupt)


@pytest.fixture(scope="module")
def kernels() -> DecodeKernels:
    if not CUDA:
        pytest.skip("the kernels run on a CUDA device")
    torch.zeros(1, device="cuda")
    return DecodeKernels(default_fatbin())


def _run(kernels: DecodeKernels, name: str, grid: tuple[int, int, int], block: int, shared: int, args: list) -> None:
    launch = kernels.launch_of(name, grid, block, shared, args)
    kernels.run(launch, torch.cuda.current_stream().cuda_stream)
    torch.cuda.synchronize()


def _norm(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS))


@gpu
@pytest.mark.parametrize(("k", "n"), [(HIDDEN, HIDDEN), (INTER, HIDDEN)])
def test_the_residual_gemv_adds_the_product(kernels: DecodeKernels, k: int, n: int) -> None:
    torch.manual_seed(0)
    w, x_in, x = torch.randn(n, k, device="cuda"), torch.randn(2, k, device="cuda"), torch.randn(2, n, device="cuda")
    want = x + x_in @ w.t()
    _run(kernels, "t3_resid", (n // (4 // (k // 1024)), 1, 1), 128, 0,
         [pointer(w.data_ptr()), pointer(x_in.data_ptr()), integer(k), integer(n), pointer(x.data_ptr())])  # fmt: skip
    assert _relative(x, want) <= BOUND


@gpu
def test_the_gate_up_gemv_normalises_and_gives_silu_times_up(kernels: DecodeKernels) -> None:
    torch.manual_seed(1)
    w, x = torch.randn(2 * INTER, HIDDEN, device="cuda") / 32, torch.randn(2, HIDDEN, device="cuda")
    norm_w, act = torch.rand(HIDDEN, device="cuda") + 0.5, torch.zeros(2, INTER, device="cuda")
    gate_up = _norm(x, norm_w) @ w.t()
    want = F.silu(gate_up[:, :INTER]) * gate_up[:, INTER:]
    _run(kernels, "t3_gate_up", (INTER // 4, 1, 1), 128, 0,
         [pointer(w.data_ptr()), pointer(x.data_ptr()), pointer(norm_w.data_ptr()), real(EPS), integer(HIDDEN),
          integer(INTER), pointer(act.data_ptr())])  # fmt: skip
    assert _relative(act, want) <= BOUND


@gpu
def test_the_head_normalises_then_projects(kernels: DecodeKernels) -> None:
    torch.manual_seed(2)
    vocab = 8194  # not a multiple of the block's four rows: the tail is guarded
    w, x = torch.randn(vocab, HIDDEN, device="cuda") / 32, torch.randn(2, HIDDEN, device="cuda")
    norm_w, logits = torch.rand(HIDDEN, device="cuda") + 0.5, torch.full((2, vocab), 7.0, device="cuda")
    want = _norm(x, norm_w) @ w.t()
    _run(kernels, "t3_head", (-(-vocab // 4), 1, 1), 128, 0,
         [pointer(w.data_ptr()), pointer(x.data_ptr()), pointer(norm_w.data_ptr()), real(EPS), integer(HIDDEN),
          integer(vocab), pointer(logits.data_ptr())])  # fmt: skip
    assert _relative(logits, want) <= BOUND


def _rotate(t: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = t.shape[-1] // 2
    return t * cos + torch.cat((-t[..., half:], t[..., :half]), dim=-1) * sin


@gpu
def test_qkv_rotates_scales_q_and_writes_keys_and_values_at_the_position(kernels: DecodeKernels) -> None:
    torch.manual_seed(3)
    w, x = torch.randn(3 * HIDDEN, HIDDEN, device="cuda") / 32, torch.randn(2, HIDDEN, device="cuda")
    norm_w = torch.rand(HIDDEN, device="cuda") + 0.5
    angles = torch.rand(MAX_LEN, DIM, device="cuda") * 6
    cos, sin = angles.cos().contiguous(), angles.sin().contiguous()
    cache = torch.zeros(2, 2, HEADS, MAX_LEN, DIM, device="cuda")
    q = torch.zeros(2, HIDDEN, device="cuda")
    position = torch.tensor([137], device="cuda")
    qkv = (_norm(x, norm_w) @ w.t()).view(2, 3, HEADS, DIM)
    want_q = _rotate(qkv[:, 0], cos[137], sin[137]) * 0.125
    want_k = _rotate(qkv[:, 1], cos[137], sin[137])
    _run(kernels, "t3_qkv", (3 * HIDDEN // 2 // 4, 1, 1), 128, 0,
         [pointer(w.data_ptr()), pointer(x.data_ptr()), pointer(norm_w.data_ptr()), real(EPS), integer(HIDDEN),
          pointer(q.data_ptr()), pointer(cache.data_ptr()), pointer(position.data_ptr()), pointer(cos.data_ptr()),
          pointer(sin.data_ptr()), real(0.125), integer(MAX_LEN)])  # fmt: skip
    assert _relative(q.view(2, HEADS, DIM), want_q) <= BOUND
    assert _relative(cache[0, :, :, 137], want_k) <= BOUND
    assert _relative(cache[1, :, :, 137], qkv[:, 2]) <= BOUND
    untouched = torch.ones(MAX_LEN, dtype=torch.bool)
    untouched[137] = False
    assert cache[:, :, :, untouched].abs().max() == 0


LONG = 1385  # the served static cache: positions past the 512 the kernel loads before waiting


@gpu
@pytest.mark.parametrize(
    ("at", "max_len"),
    [(0, MAX_LEN), (63, MAX_LEN), (64, MAX_LEN), (300, MAX_LEN), (MAX_LEN - 1, MAX_LEN), (511, LONG), (600, LONG),
     (LONG - 1, LONG)],
)  # fmt: skip
def test_attention_reads_the_cache_up_to_the_position_only(kernels: DecodeKernels, at: int, max_len: int) -> None:
    torch.manual_seed(4 + at)
    cache = torch.randn(2, 2, HEADS, max_len, DIM, device="cuda")
    cache[:, :, :, at + 1 :] = float("nan")  # never read: a NaN would show in the output
    q = torch.randn(2, HEADS, DIM, device="cuda") * 0.125
    out = torch.zeros(2, HIDDEN, device="cuda")
    position = torch.tensor([at], device="cuda")
    keys, values = cache[0, :, :, : at + 1], cache[1, :, :, : at + 1]
    probs = torch.softmax(q[:, :, None] @ keys.transpose(2, 3), dim=-1)
    want = (probs @ values)[:, :, 0].reshape(2, HIDDEN)
    _run(kernels, "t3_attend", (HEADS, 2, 1), 512, max_len * 4,
         [pointer(q.data_ptr()), pointer(cache.data_ptr()), pointer(position.data_ptr()), integer(HEADS),
          integer(max_len), pointer(out.data_ptr())])  # fmt: skip
    assert not out.isnan().any()
    assert _relative(out, want) <= BOUND


def test_the_kernels_builder_is_the_devel_image_of_the_pinned_cuda() -> None:
    """The image compiles the kernels with the same CUDA release its runtime is based on."""
    from chatterbox_shim.pins import pins

    cuda = pins()["cuda"]
    assert cuda["devel_image"] == cuda["base_image"].replace("-base-", "-devel-")
    assert f":{cuda['version']}." in cuda["devel_image"]
