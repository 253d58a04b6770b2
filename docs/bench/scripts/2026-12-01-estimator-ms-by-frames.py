"""Scratch: GPU time of one estimator call (graph replay) against frames, fp32 vs TF32 convs off."""
import json, sys, time
from pathlib import Path
import torch
from chatterbox_shim.engines.chatterbox import ChatterboxEngine
from chatterbox_shim.engines import s3gen_graphs
from chatterbox_shim.voices import load_allowlist
from chatterbox_shim.logs import configure_logging
configure_logging("WARNING")
engine = ChatterboxEngine(Path(sys.argv[1]), load_allowlist(Path(sys.argv[2])), device="cuda", s3gen_graphs=False, decode_path="reference")
engine.load()
est = engine.model.s3gen.flow.decoder.estimator
ref = engine._conds[engine.first_voice()].gen
rows = {"prompt_frames": int(ref["prompt_feat"].shape[1])}
for frames in (256, 512, 768, 1024, 1280):
    kw = dict(x=torch.randn(2, 80, frames, device="cuda"), mask=torch.ones(2, 1, frames, device="cuda"),
              mu=torch.randn(2, 80, frames, device="cuda"), t=torch.full((2,), 0.5, device="cuda"),
              spks=torch.randn(2, 80, device="cuda"), cond=torch.randn(2, 80, frames, device="cuda"))
    with torch.inference_mode():
        est(**kw); est(**kw)
        g = torch.cuda.CUDAGraph()
        with s3gen_graphs._capturable_decoder(), torch.cuda.graph(g):
            est(**kw)
        g.replay(); torch.cuda.synchronize(); s = time.perf_counter()
        for _ in range(20): g.replay()
        torch.cuda.synchronize(); rows[frames] = (time.perf_counter() - s) / 20 * 1000
    del g
print(json.dumps(rows)); Path(sys.argv[3]).write_text(json.dumps(rows))
