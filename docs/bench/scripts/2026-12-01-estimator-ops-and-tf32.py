"""Ad-hoc (H200): where one estimator call's GPU time goes, by op; and what TF32 would do to
S3Gen's waveform and time (TF32 is not used by the service)."""
import json, sys, time
from pathlib import Path
import torch
from torch.profiler import profile, ProfilerActivity
from chatterbox_shim.engines.chatterbox import ChatterboxEngine, SPEECH_VOCAB_LIMIT
from chatterbox_shim.engines import s3gen_graphs
from chatterbox_shim.voices import load_allowlist
from chatterbox_shim.logs import configure_logging
configure_logging("WARNING")
engine = ChatterboxEngine(Path(sys.argv[1]), load_allowlist(Path(sys.argv[2])), device="cuda", s3gen_graphs=False, decode_path="reference")
engine.load()
model = engine.model
ref = engine._conds[engine.first_voice()].gen
est = model.s3gen.flow.decoder.estimator
report = {}
frames = 832
kw = dict(x=torch.randn(2, 80, frames, device="cuda"), mask=torch.ones(2, 1, frames, device="cuda"),
          mu=torch.randn(2, 80, frames, device="cuda"), t=torch.full((2,), 0.5, device="cuda"),
          spks=torch.randn(2, 80, device="cuda"), cond=torch.randn(2, 80, frames, device="cuda"))
with torch.inference_mode():
    est(**kw); torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA, ProfilerActivity.CPU]) as p:
        est(**kw); torch.cuda.synchronize()
    ops = []
    for e in sorted(p.key_averages(), key=lambda e: e.device_time_total, reverse=True)[:25]:
        ops.append({"op": e.key[:90], "calls": e.count, "device_ms": e.device_time_total / 1000})
    report["ops_832_frames"] = ops
    kernels = [e for e in p.events() if e.device_type.name == "CUDA"]
    report["kernels_832"] = len(kernels)
    report["kernel_device_ms_832"] = sum(e.device_time for e in kernels) / 1000
    by_kernel = {}
    for e in kernels:
        by_kernel.setdefault(e.name[:80], [0, 0.0]); by_kernel[e.name[:80]][0] += 1; by_kernel[e.name[:80]][1] += e.device_time / 1000
    report["top_kernels_832"] = sorted(([k, v[0], round(v[1], 3)] for k, v in by_kernel.items()), key=lambda r: -r[2])[:20]

def s3gen_run(tokens, seed):
    torch.manual_seed(seed); torch.cuda.synchronize(); s = time.perf_counter()
    wav, _ = model.s3gen.inference(speech_tokens=tokens, ref_dict=ref)
    torch.cuda.synchronize(); return wav, time.perf_counter() - s

rows = []
for i, n in enumerate([60, 150, 300, 445]):
    tokens = torch.randint(0, SPEECH_VOCAB_LIMIT, (n,), generator=torch.Generator().manual_seed(i)).cuda()
    row = {"tokens": n}
    s3gen_run(tokens, i)
    base, row["fp32_s"] = s3gen_run(tokens, i)
    row["wav_absmax"] = float(base.abs().max())
    torch.backends.cuda.matmul.allow_tf32 = True
    s3gen_run(tokens, i)
    tf, row["tf32_matmul_s"] = s3gen_run(tokens, i)
    torch.backends.cuda.matmul.allow_tf32 = False
    row["tf32_matmul_max_abs_diff"] = float((tf - base).abs().max())
    torch.backends.cudnn.allow_tf32 = False
    s3gen_run(tokens, i)
    nc, row["no_tf32_conv_s"] = s3gen_run(tokens, i)
    torch.backends.cudnn.allow_tf32 = True
    row["no_tf32_conv_max_abs_diff"] = float((nc - base).abs().max())
    rows.append(row); print(row, flush=True)
report["tf32_rows"] = rows
print(json.dumps({k: v for k, v in report.items() if k != "tf32_rows"}, indent=1))
Path(sys.argv[3]).write_text(json.dumps(report, indent=1))
