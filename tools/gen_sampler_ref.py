"""Reference trajectories for the flow samplers (tests/fixtures/sampler_ref.safetensors).

The UniPC update is diffusers' UniPCMultistepScheduler (Wan's FlowUniPCMultistepScheduler is a copy of it
for flow matching: order 2, bh2, predict_x0, lower_order_final); its sigmas are replaced by Wan's schedule
from schedules.json so the run is exactly Wan's. The "model" is a fixed element-wise function of (x, sigma)
that the C test evaluates the same way:  v = 0.5 * x - 0.3 * sin(x) + sigma.
"""
import json, sys
import numpy as np, torch
from diffusers import UniPCMultistepScheduler
from safetensors.numpy import save_file

def model(x, sigma):
    return 0.5 * x - 0.3 * torch.sin(x) + sigma

def run(kind, sigmas, n=64):
    x = (torch.sin(torch.arange(n, dtype=torch.float32) * 0.37) * 1.5).reshape(1, 4, n // 4)
    steps = len(sigmas) - 1
    if kind == "euler":
        for i in range(steps):
            v = model(x, float(sigmas[i]))
            x = x + v * (float(sigmas[i + 1]) - float(sigmas[i]))
        return x.flatten().numpy()
    sch = UniPCMultistepScheduler(num_train_timesteps=1000, solver_order=2, prediction_type="flow_prediction",
                                  use_flow_sigmas=True, flow_shift=1.0, predict_x0=True, solver_type="bh2",
                                  lower_order_final=True, final_sigmas_type="zero")
    sch.set_timesteps(steps)
    sch.sigmas = torch.tensor(sigmas, dtype=torch.float32)
    sch.timesteps = (torch.tensor(sigmas[:-1], dtype=torch.float64) * 1000).to(torch.int64)
    for i, t in enumerate(sch.timesteps):
        v = model(x, float(sigmas[i]))
        x = sch.step(v, t, x).prev_sample
    return x.flatten().numpy()

sched = json.load(open(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/schedules.json"))
wan = sched["wan_unipc_50_shift5"]["sigmas"]
flux = sched["flux_dev_28_seq1024"]
out = {
    "x0": (torch.sin(torch.arange(64, dtype=torch.float32) * 0.37) * 1.5).numpy(),
    "unipc_wan50": run("unipc", wan), "euler_wan50": run("euler", wan),
    "unipc_flux28": run("unipc", flux), "euler_flux28": run("euler", flux),
    "unipc_short4": run("unipc", [0.9, 0.6, 0.3, 0.1, 0.0]),
}
save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}, "tests/fixtures/sampler_ref.safetensors")
print({k: float(np.abs(v).mean()) for k, v in out.items()})
