"""Check the shipped demo models against the C loaders: each component through `diffsynth forward` on the
same inputs as PyTorch (rel L2), then whole pictures: the Python sampler of tools/train_demo.py vs
`diffsynth flux` for the same prompt and seed.

    python3 tools/demo_check.py flux|wan
"""
import os, subprocess, sys, tempfile
import numpy as np, torch
from safetensors.numpy import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_demo as T

BIN = "build/diffsynth"
tmp = tempfile.mkdtemp()


def forward(weights, inputs):
    io, out = os.path.join(tmp, "io.safetensors"), os.path.join(tmp, "out.safetensors")
    save_file({k: np.ascontiguousarray(v, dtype=np.float32) for k, v in inputs.items()}, io)
    subprocess.run([BIN, "forward", "--weights", weights, "--inputs", io, "--output", out], check=True)
    return load_file(out)


def rel(a, b):
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


@torch.no_grad()
def flux():
    te, vae = T.TextEncoders(), T.load_flux_vae()
    cap = "a red circle on the left"
    ids = torch.tensor([te.t5_ids(cap)])
    o = forward(os.path.join(T.M, "flux_t5xxl.safetensors"), {"input_ids": ids.numpy()})
    print("t5   rel L2 %.2e" % rel(o["last_hidden_state"], te.t5(ids)[0].numpy()))
    ci = te.clip_tok([cap], padding="max_length", max_length=T.CLIP_LEN, truncation=True, return_tensors="pt")["input_ids"]
    o = forward(os.path.join(T.M, "flux_clip_l.safetensors"), {"input_ids": ci.numpy()})
    print("clip rel L2 %.2e (pooled)" % rel(o["pooled"], te.clip(ci).pooler_output.numpy()))
    z = torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 + 0.1
    o = forward(os.path.join(T.M, "flux_vae.safetensors"), {"z": z.numpy()})
    print("vae  rel L2 %.2e (decode)" % rel(o["decoded"], vae.decode(z).sample.numpy()))
    if os.path.exists(os.path.join(T.WORK, "flux_dit.pt")):
        dit = T.load_flux_dit()
        txt, vec = te([cap])
        x = torch.randn(1, 16, 64, generator=torch.Generator().manual_seed(1))
        img_ids, txt_ids = T.ids(4, 4, T.T5_LEN)
        t = torch.tensor([0.75])
        o = forward(os.path.join(T.M, "flux_dit.safetensors"), {"img": x.numpy(), "img_ids": img_ids[None].numpy(),
                    "txt": txt.numpy(), "txt_ids": txt_ids[None].numpy(), "timesteps": t.numpy(), "y": vec.numpy()})
        print("dit  rel L2 %.2e" % rel(o["out"], T.dit_v(dit, x, t, txt, vec).numpy()))


@torch.no_grad()
def wan():
    te, sc = T.WanText(), T.wan_scale()
    cap = "a green triangle moving left"
    ids = torch.tensor([te.sp.encode(cap) + [1]])
    o = forward(os.path.join(T.M, "wan_umt5.safetensors"), {"input_ids": ids.numpy(), "attention_mask": np.ones(ids.shape)})
    print("umt5 rel L2 %.2e" % rel(o["last_hidden_state"], te(cap)[None].numpy()))
    vae = T.load_bf16(T.wan_vae_model(), os.path.join(T.WORK, "wan_vae.pt"))
    z = torch.randn(1, 16, 2, 8, 8, generator=torch.Generator().manual_seed(0))
    raw = z / sc[1].view(1, 16, 1, 1, 1) + sc[0].view(1, 16, 1, 1, 1)   # the C forward takes the raw latent
    o = forward(os.path.join(T.M, "wan_vae.safetensors"), {"z": raw.numpy()})
    print("vae  rel L2 %.2e (decode)" % rel(o["decoded"], vae.decode(z, sc).numpy()))
    if os.path.exists(os.path.join(T.WORK, "wan_dit.pt")):
        dit = T.load_bf16(T.wan_dit_model(), os.path.join(T.WORK, "wan_dit.pt"), "ema")
        x = torch.randn(1, 16, 2, 8, 8, generator=torch.Generator().manual_seed(1))
        t = torch.tensor([750.0])
        o = forward(os.path.join(T.M, "wan_dit.safetensors"), {"x": x[0].numpy(), "t": t.numpy(), "context": te(cap).numpy()})
        print("dit  rel L2 %.2e" % rel(o["out"], T.wan_v(dit, x, t, [te(cap)])[0].numpy()))


if __name__ == "__main__":
    {"flux": flux, "wan": wan}[sys.argv[1]]()
