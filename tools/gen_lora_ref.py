#!/usr/bin/env python3
"""Make the LoRA test fixtures: one LoRA for the tiny FLUX DiT (every linear layer) and the tiny CLIP-L
(attention and MLP), saved in three namings, and the outputs PyTorch computes with it applied.

    python3 tools/gen_lora_ref.py        # from the repository root; writes tests/fixtures/lora_*

The LoRA is made in diffusers naming (separate q / k / v, each with its own A), rank 4, and applied with
PEFT to diffusers' FluxTransformer2DModel (weights: tests/fixtures/flux_dev_dit converted by
tools/flux_to_diffusers.py) and to transformers' CLIPTextModel; those forwards give the references.
The same update is then written as
  lora_flux_peft.safetensors   diffusers save_lora_weights: "transformer." / "text_encoder." keys,
                               lora_A / lora_B, lora_alpha 8 (scale 2) only in the adapter metadata
  lora_flux_kohya.safetensors  kohya: lora_unet_<BFL name, dots as _> (fused qkv / linear1: down stacks
                               the parts' A, up is block diagonal), lora_te1_*, alpha = rank / 2
                               (final_layer: alpha = rank)
  lora_flux_bfl.safetensors    ComfyUI / BFL: diffusion_model.<BFL name>.lora_A / lora_B, no alpha
Every stored tensor is bf16 and the three files hold exactly the same update (the scale factors
between them are powers of two). diffusers' own kohya converter must load the kohya file to the same
output, which checks the kohya naming independently of our loader.
"""
import json
import os
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flux_to_diffusers import DOUBLE, DOUBLE_SPLIT, SINGLE, SINGLE_SPLIT, TOP, convert  # noqa: E402

FX = "tests/fixtures/"
RANK, ALPHA = 4, 8.0              # PEFT scale alpha / r = 2
FLUX_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
                "ff.net.0.proj", "ff.net.2", "ff_context.net.0.proj", "ff_context.net.2", "norm1.linear",
                "norm1_context.linear", "proj_mlp", "proj_out", "norm.linear", "norm_out.linear", "x_embedder",
                "context_embedder", "linear_1", "linear_2"]
CLIP_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def bf16(t):
    return t.to(torch.bfloat16).float()


def flux_model():
    from diffusers import FluxTransformer2DModel
    sd = {k: v.float() for k, v in load_file(FX + "flux_dev_dit.weights.safetensors").items()}
    m = FluxTransformer2DModel(in_channels=64, num_layers=1, num_single_layers=2, attention_head_dim=128,
                               num_attention_heads=2, joint_attention_dim=80, pooled_projection_dim=96,
                               guidance_embeds=True, axes_dims_rope=(16, 56, 56)).float().eval()
    m.load_state_dict(convert(sd), strict=True)
    return m


def flux_run(m, scale=1.0):
    io = load_file(FX + "flux_dev_dit.io.safetensors")
    with torch.no_grad():
        return m(hidden_states=io["img"], encoder_hidden_states=io["txt"], pooled_projections=io["y"],
                 timestep=io["timesteps"], img_ids=io["img_ids"][0], txt_ids=io["txt_ids"][0],
                 guidance=io["guidance"], joint_attention_kwargs={"scale": scale}).sample, io["out"]


def clip_model():
    from transformers import CLIPTextConfig, CLIPTextModel
    sd = {k: v.float() for k, v in load_file(FX + "clip_l.weights.safetensors").items()}
    cfg = CLIPTextConfig(vocab_size=1000, hidden_size=128, intermediate_size=512, num_hidden_layers=3,
                         num_attention_heads=2, max_position_embeddings=77, hidden_act="quick_gelu",
                         eos_token_id=999, bos_token_id=998, pad_token_id=999)
    m = CLIPTextModel(cfg).float().eval()
    m.load_state_dict(sd, strict=True)   # transformers 5 has no "text_model." level in the module names
    return m


def clip_run(m):
    io = load_file(FX + "clip_l.io.safetensors")
    with torch.no_grad():
        o = m(input_ids=io["input_ids"].long(), output_hidden_states=True)
    return o.last_hidden_state, o.pooler_output, io["last_hidden_state"]


def add_lora(model, targets, gen):
    """PEFT adapter with seeded bf16-representable A, B sized so that scale * B A is ~30% of W."""
    from peft import LoraConfig, inject_adapter_in_model
    cfg = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=targets, init_lora_weights=False)
    inject_adapter_in_model(cfg, model)
    for name, mod in model.named_modules():
        if hasattr(mod, "lora_A") and "default" in mod.lora_A:
            w = mod.base_layer.weight
            s = (0.3 * w.std().item() / (ALPHA / RANK) / RANK ** 0.5) ** 0.5
            with torch.no_grad():
                mod.lora_A["default"].weight.copy_(bf16(torch.randn(mod.lora_A["default"].weight.shape, generator=gen) * s))
                mod.lora_B["default"].weight.copy_(bf16(torch.randn(mod.lora_B["default"].weight.shape, generator=gen) * s))
    return cfg


def peft_state(model):
    from peft.utils import get_peft_model_state_dict
    return {k: v.detach().clone() for k, v in get_peft_model_state_dict(model).items()}


def to_bfl(sd):
    """diffusers-named LoRA (A, B per module, scale 2) -> {BFL module: (down, up)} with scale 1.
    Fused BFL layers stack the parts' A along the rank and put their B on the block diagonal."""
    have = {k.rsplit(".lora_", 1)[0] for k in sd}
    out, used = {}, set()

    def put(bfl_name, parts):
        a, b = zip(*[(sd[p + ".lora_A.weight"], sd[p + ".lora_B.weight"] * 2.0) for p in parts])
        out[bfl_name] = (a[0], b[0]) if len(parts) == 1 else (torch.cat(a, 0), torch.block_diag(*b))
        used.update(parts)

    for bfl_name, d in TOP.items():
        if d in have:
            put(bfl_name, [d])
    for kind, dkind, plain, split in (("double_blocks", "transformer_blocks", DOUBLE, DOUBLE_SPLIT),
                                      ("single_blocks", "single_transformer_blocks", SINGLE, SINGLE_SPLIT)):
        for i in sorted({int(m.split(".")[1]) for m in have if m.startswith(dkind + ".")}):
            for bfl_name, d in plain.items():
                if f"{dkind}.{i}.{d}" in have:
                    put(f"{kind}.{i}.{bfl_name}", [f"{dkind}.{i}.{d}"])
            for bfl_name, ds in split.items():
                parts = [f"{dkind}.{i}.{d}" for d in ds]
                if all(p in have for p in parts):
                    put(f"{kind}.{i}.{bfl_name}", parts)
    if "norm_out.linear" in have:      # diffusers (scale, shift) -> BFL (shift, scale)
        put("final_layer.adaLN_modulation.1", ["norm_out.linear"])
        a, b = out["final_layer.adaLN_modulation.1"]
        h = b.shape[0] // 2
        out["final_layer.adaLN_modulation.1"] = (a, torch.cat([b[h:], b[:h]], 0))
    assert used == have, sorted(have - used)
    return out


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    fm = flux_model()
    base, ref_base = flux_run(fm)
    print(f"flux base vs fixture: {rel(base, ref_base):.2e}")
    assert rel(base, ref_base) < 1e-5
    flux_cfg = add_lora(fm, FLUX_TARGETS, gen)
    flux_sd = peft_state(fm)
    out1, _ = flux_run(fm, 1.0)
    out05, _ = flux_run(fm, 0.5)
    print(f"flux lora changes out by {rel(out1, base):.3f} (scale 1), {rel(out05, base):.3f} (scale 0.5)")

    cm = clip_model()
    last0, _, ref_last = clip_run(cm)
    print(f"clip base vs fixture: {rel(last0, ref_last):.2e}")
    assert rel(last0, ref_last) < 1e-5
    clip_cfg = add_lora(cm, CLIP_TARGETS, gen)
    clip_sd = {"text_model." + k: v for k, v in peft_state(cm).items()}   # the names CLIP LoRAs use
    clip_last, clip_pooled, _ = clip_run(cm)
    print(f"clip lora changes last_hidden_state by {rel(clip_last, last0):.3f}")

    bf = lambda t: t.to(torch.bfloat16).contiguous()
    # diffusers / PEFT naming, written by diffusers itself
    from diffusers import FluxPipeline
    from peft import get_peft_model_state_dict  # noqa: F401  (PEFT is what made the state dicts)
    with tempfile.TemporaryDirectory() as td:
        FluxPipeline.save_lora_weights(td, transformer_lora_layers={k: bf(v) for k, v in flux_sd.items()},
                                       text_encoder_lora_layers={k: bf(v) for k, v in clip_sd.items()},
                                       transformer_lora_adapter_metadata=flux_cfg.to_dict(),
                                       text_encoder_lora_adapter_metadata=clip_cfg.to_dict(),
                                       weight_name="l.safetensors")
        with safe_open(os.path.join(td, "l.safetensors"), "pt") as f:
            peft_file = {k: f.get_tensor(k) for k in f.keys()}
            peft_meta = f.metadata()
    meta = json.loads(peft_meta["lora_adapter_metadata"])
    assert meta.get("transformer.lora_alpha") == ALPHA and meta.get("text_encoder.lora_alpha") == ALPHA, meta.keys()
    # keep the metadata small: the alphas and ranks are what a loader reads
    keep = {k: v for k, v in meta.items() if k.rsplit(".", 1)[-1] in ("r", "lora_alpha", "use_rslora", "alpha_pattern", "rank_pattern")}
    save_file(peft_file, FX + "lora_flux_peft.safetensors",
              metadata={"format": "pt", "lora_adapter_metadata": json.dumps(keep, sort_keys=True)})

    # kohya: scale alpha / rank = 1/2, so up = 2 * (scale-1 B)
    bfl = to_bfl(flux_sd)
    kohya, comfy = {}, {}
    for name, (a, b) in bfl.items():
        k = "lora_unet_" + name.replace(".", "_")
        f = 1.0 if name.startswith("final_layer") else 2.0   # diffusers' converter ignores final_layer alphas
        kohya[k + ".lora_down.weight"] = bf(a)
        kohya[k + ".lora_up.weight"] = bf(b * f)
        kohya[k + ".alpha"] = torch.tensor(a.shape[0] / f, dtype=torch.bfloat16)
        comfy["diffusion_model." + name + ".lora_A.weight"] = bf(a)
        comfy["diffusion_model." + name + ".lora_B.weight"] = bf(b)
    for k, v in clip_sd.items():      # text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight
        mod, ab = k.rsplit(".lora_", 1)
        kk = "lora_te1_" + mod.replace(".", "_")
        if ab.startswith("A"):
            kohya[kk + ".lora_down.weight"] = bf(v)
            kohya[kk + ".alpha"] = torch.tensor(RANK / 2.0, dtype=torch.bfloat16)
        else:
            kohya[kk + ".lora_up.weight"] = bf(v * 4.0)
    save_file(kohya, FX + "lora_flux_kohya.safetensors", metadata={"ss_network_module": "networks.lora_flux"})
    save_file(comfy, FX + "lora_flux_bfl.safetensors")

    # independent check of the kohya naming: diffusers' own kohya converter (its single-block split sizes
    # are FLUX.1's 3072 / 12288, replaced by the tiny model's) loads the file into a fresh model
    import inspect
    import diffusers.loaders.lora_conversion_utils as lcu
    src = inspect.getsource(lcu._convert_kohya_flux_lora_to_diffusers)
    src = src.replace("dims=[3072, 3072, 3072, 12288]", "dims=[256, 256, 256, 1024]")
    assert "dims=[256, 256, 256, 1024]" in src
    ns = dict(lcu.__dict__)
    exec(src, ns)
    k_sd = ns["_convert_kohya_flux_lora_to_diffusers"](
        {k: v.float() for k, v in load_file(FX + "lora_flux_kohya.safetensors").items()})
    fm2 = flux_model()
    k_sd = {k[len("transformer."):] if k.startswith("transformer.") else k: v   # top-level layers come unprefixed
            for k, v in k_sd.items() if not k.startswith("text_encoder")}
    fm2.load_lora_adapter(k_sd, adapter_name="k", prefix=None)
    outk, _ = flux_run(fm2, 1.0)
    print(f"flux: diffusers loading the kohya file vs PEFT reference: {rel(outk, out1):.2e}")
    assert rel(outk, out1) < 1e-5

    save_file({"flux_out": out1.contiguous(), "flux_out_half": out05.contiguous(),
               "clip_last_hidden_state": clip_last.contiguous(), "clip_pooled": clip_pooled.contiguous()},
              FX + "lora_ref.safetensors",
              metadata={"note": "outputs of tests/fixtures/flux_dev_dit and clip_l on their io inputs with "
                                "lora_flux_* applied (user scale 1; flux_out_half: 0.5), by PEFT"})
    for f in ("lora_flux_peft", "lora_flux_kohya", "lora_flux_bfl", "lora_ref"):
        print(f"{FX}{f}.safetensors: {os.path.getsize(FX + f + '.safetensors')} bytes")


if __name__ == "__main__":
    main()
