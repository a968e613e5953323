"""diffusers -> original checkpoint key layouts for the demo models (the layouts the C loaders read).

flux_dit_to_bfl: FluxTransformer2DModel -> BFL flux1-*.safetensors keys (fused qkv, single-block linear1,
                 final-layer modulation in (shift, scale) order).
flux_vae_to_ldm: AutoencoderKL -> BFL ae.safetensors / LDM keys (mid attention linears as 1x1 convs, decoder
                 levels numbered from the full resolution).
"""
import torch


def flux_dit_to_bfl(sd):
    o, used = {}, set()

    def get(k):
        used.add(k)
        return sd[k]

    def lin(dst, src):
        o[dst + ".weight"] = get(src + ".weight")
        o[dst + ".bias"] = get(src + ".bias")

    cat = lambda *k: torch.cat([get(x) for x in k], 0)
    lin("img_in", "x_embedder")
    lin("txt_in", "context_embedder")
    lin("time_in.in_layer", "time_text_embed.timestep_embedder.linear_1")
    lin("time_in.out_layer", "time_text_embed.timestep_embedder.linear_2")
    if "time_text_embed.guidance_embedder.linear_1.weight" in sd:   # dev; schnell has no guidance_in
        lin("guidance_in.in_layer", "time_text_embed.guidance_embedder.linear_1")
        lin("guidance_in.out_layer", "time_text_embed.guidance_embedder.linear_2")
    lin("vector_in.in_layer", "time_text_embed.text_embedder.linear_1")
    lin("vector_in.out_layer", "time_text_embed.text_embedder.linear_2")
    for k in ("weight", "bias"):   # diffusers AdaLayerNormContinuous chunks (scale, shift); BFL (shift, scale)
        s = get("norm_out.linear." + k)
        h = s.shape[0] // 2
        o["final_layer.adaLN_modulation.1." + k] = torch.cat([s[h:], s[:h]], 0)
    lin("final_layer.linear", "proj_out")
    i = 0
    while f"transformer_blocks.{i}.norm1.linear.weight" in sd:
        b, d = f"transformer_blocks.{i}.", f"double_blocks.{i}."
        lin(d + "img_mod.lin", b + "norm1.linear")
        lin(d + "txt_mod.lin", b + "norm1_context.linear")
        for k in ("weight", "bias"):
            o[d + "img_attn.qkv." + k] = cat(*(b + f"attn.to_{x}.{k}" for x in "qkv"))
            o[d + "txt_attn.qkv." + k] = cat(*(b + f"attn.add_{x}_proj.{k}" for x in "qkv"))
        o[d + "img_attn.norm.query_norm.scale"] = get(b + "attn.norm_q.weight")
        o[d + "img_attn.norm.key_norm.scale"] = get(b + "attn.norm_k.weight")
        o[d + "txt_attn.norm.query_norm.scale"] = get(b + "attn.norm_added_q.weight")
        o[d + "txt_attn.norm.key_norm.scale"] = get(b + "attn.norm_added_k.weight")
        lin(d + "img_attn.proj", b + "attn.to_out.0")
        lin(d + "txt_attn.proj", b + "attn.to_add_out")
        lin(d + "img_mlp.0", b + "ff.net.0.proj")
        lin(d + "img_mlp.2", b + "ff.net.2")
        lin(d + "txt_mlp.0", b + "ff_context.net.0.proj")
        lin(d + "txt_mlp.2", b + "ff_context.net.2")
        i += 1
    i = 0
    while f"single_transformer_blocks.{i}.norm.linear.weight" in sd:
        b, d = f"single_transformer_blocks.{i}.", f"single_blocks.{i}."
        lin(d + "modulation.lin", b + "norm.linear")
        for k in ("weight", "bias"):
            o[d + "linear1." + k] = cat(*(b + f"attn.to_{x}.{k}" for x in "qkv"), b + "proj_mlp." + k)
        o[d + "norm.query_norm.scale"] = get(b + "attn.norm_q.weight")
        o[d + "norm.key_norm.scale"] = get(b + "attn.norm_k.weight")
        lin(d + "linear2", b + "proj_out")
        i += 1
    assert used == set(sd), set(sd) - used
    return o


def flux_vae_to_ldm(sd, levels):
    o = {}

    def res(dst, src):
        for k in ("norm1", "conv1", "norm2", "conv2"):
            for t in ("weight", "bias"):
                o[f"{dst}.{k}.{t}"] = sd[f"{src}.{k}.{t}"]
        if src + ".conv_shortcut.weight" in sd:
            o[dst + ".nin_shortcut.weight"] = sd[src + ".conv_shortcut.weight"]
            o[dst + ".nin_shortcut.bias"] = sd[src + ".conv_shortcut.bias"]

    for c in ("encoder", "decoder"):
        for t in ("weight", "bias"):
            for k in ("conv_in", "conv_out"):
                o[f"{c}.{k}.{t}"] = sd[f"{c}.{k}.{t}"]
            o[f"{c}.norm_out.{t}"] = sd[f"{c}.conv_norm_out.{t}"]
        res(f"{c}.mid.block_1", f"{c}.mid_block.resnets.0")
        res(f"{c}.mid.block_2", f"{c}.mid_block.resnets.1")
        a = f"{c}.mid_block.attentions.0."
        for t in ("weight", "bias"):
            o[f"{c}.mid.attn_1.norm.{t}"] = sd[a + "group_norm." + t]
        for dst, src in (("q", "to_q"), ("k", "to_k"), ("v", "to_v"), ("proj_out", "to_out.0")):
            o[f"{c}.mid.attn_1.{dst}.weight"] = sd[a + src + ".weight"][:, :, None, None]
            o[f"{c}.mid.attn_1.{dst}.bias"] = sd[a + src + ".bias"]
    for i in range(levels):
        j = 0
        while f"encoder.down_blocks.{i}.resnets.{j}.conv1.weight" in sd:
            res(f"encoder.down.{i}.block.{j}", f"encoder.down_blocks.{i}.resnets.{j}")
            j += 1
        if f"encoder.down_blocks.{i}.downsamplers.0.conv.weight" in sd:
            for t in ("weight", "bias"):
                o[f"encoder.down.{i}.downsample.conv.{t}"] = sd[f"encoder.down_blocks.{i}.downsamplers.0.conv.{t}"]
        u, j = levels - 1 - i, 0   # diffusers numbers the decoder levels from the lowest resolution
        while f"decoder.up_blocks.{i}.resnets.{j}.conv1.weight" in sd:
            res(f"decoder.up.{u}.block.{j}", f"decoder.up_blocks.{i}.resnets.{j}")
            j += 1
        if f"decoder.up_blocks.{i}.upsamplers.0.conv.weight" in sd:
            for t in ("weight", "bias"):
                o[f"decoder.up.{u}.upsample.conv.{t}"] = sd[f"decoder.up_blocks.{i}.upsamplers.0.conv.{t}"]
    assert len(o) == len(sd), (len(o), len(sd))
    return o
