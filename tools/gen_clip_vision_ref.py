"""Reference fixtures of tests/test_clip_vision.c (run from the repository root):

    python3 tools/gen_clip_vision_ref.py

A tiny random-weight CLIP vision tower with the architecture of the open-clip ViT-H/14 that Wan2.1 I2V
uses (pre-norm blocks, ln_pre, exact GELU, class token, learned positions, 224 px, patch 14 -> 257
tokens), but 32 wide, 3 layers. The head count is not stored in checkpoints; diffsynth.h uses one head
below width 64, so the references use one head, and clip_fea_h2 repeats clip_fea with two heads (same
weights) for a test that sets the count by hand. The model is open_clip's own VisionTransformer; its weights
are written in three namings:

    clip_vision_hf.weights.safetensors        transformers CLIPVisionModelWithProjection names, as in
                                              ComfyUI's clip_vision_h.safetensors (vision_model.*)
    clip_vision_wan.weights.pth               Wan2.1's own module names (visual.transformer.N.attn.to_qkv,
                                              visual.pre_norm, ...) saved with torch.save like
                                              models_clip_open-clip-xlm-roberta-large-vit-huge-14.pth
    clip_vision_openclip.weights.safetensors  open_clip names (visual.transformer.resblocks.N.attn.in_proj_weight)

Weights are bf16; the references are computed from exactly those values in f32. Wan's preprocessing
(CLIPModel.visual) is reproduced step by step: F.interpolate(bicubic, align_corners=False) of the [-1, 1]
image to 224x224, then x*0.5+0.5, then Normalize(CLIP mean, std). clip_fea is the output of all blocks
but the last (use_31_block=True: transformer[:-1]), before ln_post. The same numbers are checked against
transformers' CLIPVisionModel (hidden_states[-2]) loaded from the hf naming.

clip_vision.io.safetensors:
    image [1,3,52,260] in [-1,1]       clip_fea [1,257,32]      last_hidden_state [1,257,32] (all blocks, no ln_post)
                                       clip_fea_h2 [1,257,32] (two heads)
    resize_src [3,40,50]  resize_down [3,17,23]  resize_up [3,61,89]   (F.interpolate bicubic, align_corners=False)
"""
import os
import torch
import torch.nn.functional as F
import torchvision.transforms as T
from safetensors.torch import save_file
import open_clip.transformer as oct
import transformers

OUT = "tests/fixtures"
MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
D, HEADS, LAYERS, PATCH, SIZE, MLP_RATIO, OUT_DIM = 32, 1, 3, 14, 224, 2.0, 16

torch.manual_seed(1234)
vit = oct.VisionTransformer(image_size=SIZE, patch_size=PATCH, width=D, layers=LAYERS, heads=HEADS,
                            mlp_ratio=MLP_RATIO, output_dim=OUT_DIM, act_layer=torch.nn.GELU).eval()

# randomise: norm scales around 1, non-zero biases, unit-ish activations; then round to bf16
with torch.no_grad():
    for name, p in vit.named_parameters():
        if name.startswith("ln_") or ".ln_" in name:
            p.copy_(1 + 0.2 * torch.randn_like(p) if name.endswith("weight") else 0.1 * torch.randn_like(p))
        elif name.endswith("bias"):
            p.copy_(0.1 * torch.randn_like(p))
        elif name in ("class_embedding", "positional_embedding"):
            p.copy_(0.5 * torch.randn_like(p))
        elif name == "proj":
            p.copy_(torch.randn_like(p) / D ** 0.5)
        else:   # [N, K, ...] weights
            p.copy_(torch.randn_like(p) / (p[0].numel() ** 0.5))
        p.copy_(p.to(torch.bfloat16).float())
oc = {k: v.detach().clone() for k, v in vit.state_dict().items()}
assert "conv1.bias" not in oc, "patch embedding has no bias in pre-norm ViTs"


# --- the three namings --------------------------------------------------------------------------
def to_openclip(sd):
    return {"visual." + k: v for k, v in sd.items()}


def to_wan(sd):
    o = {"visual.patch_embedding.weight": sd["conv1.weight"],
         "visual.cls_embedding": sd["class_embedding"].reshape(1, 1, D),
         "visual.pos_embedding": sd["positional_embedding"].unsqueeze(0),
         "visual.pre_norm.weight": sd["ln_pre.weight"], "visual.pre_norm.bias": sd["ln_pre.bias"],
         "visual.post_norm.weight": sd["ln_post.weight"], "visual.post_norm.bias": sd["ln_post.bias"],
         "visual.head": sd["proj"]}
    ren = {"ln_1": "norm1", "attn.in_proj_weight": "attn.to_qkv.weight", "attn.in_proj_bias": "attn.to_qkv.bias",
           "attn.out_proj": "attn.proj", "ln_2": "norm2", "mlp.c_fc": "mlp.0", "mlp.c_proj": "mlp.2"}
    for k, v in sd.items():
        if k.startswith("transformer.resblocks."):
            i, rest = k[len("transformer.resblocks."):].split(".", 1)
            for a, b in ren.items():
                if rest.startswith(a):
                    rest = b + rest[len(a):]
                    break
            o["visual.transformer.%s.%s" % (i, rest)] = v
    o["log_scale"] = torch.tensor(2.6592)   # the real file also holds the text tower and this scalar
    return o


def to_hf(sd):
    o = {"vision_model.embeddings.class_embedding": sd["class_embedding"],
         "vision_model.embeddings.patch_embedding.weight": sd["conv1.weight"],
         "vision_model.embeddings.position_embedding.weight": sd["positional_embedding"],
         "vision_model.pre_layrnorm.weight": sd["ln_pre.weight"], "vision_model.pre_layrnorm.bias": sd["ln_pre.bias"],
         "vision_model.post_layernorm.weight": sd["ln_post.weight"], "vision_model.post_layernorm.bias": sd["ln_post.bias"],
         "visual_projection.weight": sd["proj"].t().contiguous()}
    for i in range(LAYERS):
        s, d = "transformer.resblocks.%d." % i, "vision_model.encoder.layers.%d." % i
        q, k, v = sd[s + "attn.in_proj_weight"].chunk(3, 0)
        qb, kb, vb = sd[s + "attn.in_proj_bias"].chunk(3, 0)
        o.update({d + "self_attn.q_proj.weight": q, d + "self_attn.k_proj.weight": k, d + "self_attn.v_proj.weight": v,
                  d + "self_attn.q_proj.bias": qb, d + "self_attn.k_proj.bias": kb, d + "self_attn.v_proj.bias": vb,
                  d + "self_attn.out_proj.weight": sd[s + "attn.out_proj.weight"], d + "self_attn.out_proj.bias": sd[s + "attn.out_proj.bias"],
                  d + "layer_norm1.weight": sd[s + "ln_1.weight"], d + "layer_norm1.bias": sd[s + "ln_1.bias"],
                  d + "layer_norm2.weight": sd[s + "ln_2.weight"], d + "layer_norm2.bias": sd[s + "ln_2.bias"],
                  d + "mlp.fc1.weight": sd[s + "mlp.c_fc.weight"], d + "mlp.fc1.bias": sd[s + "mlp.c_fc.bias"],
                  d + "mlp.fc2.weight": sd[s + "mlp.c_proj.weight"], d + "mlp.fc2.bias": sd[s + "mlp.c_proj.bias"]})
    return {k: v.contiguous() for k, v in o.items()}


def bf16(sd):
    return {k: v.to(torch.bfloat16).contiguous() for k, v in sd.items()}


# --- Wan's preprocessing (CLIPModel.visual) and the tower up to the penultimate block -------------
torch.manual_seed(99)
image = (torch.rand(1, 3, 52, 260) * 2 - 1).float()
# a smooth ramp on top of the noise, so the interpolation is not all high frequency
image = (0.6 * image + 0.4 * torch.linspace(-1, 1, 260).view(1, 1, 1, 260) * torch.linspace(1, -1, 52).view(1, 1, 52, 1)).clamp(-1, 1)
pix = F.interpolate(image.clone(), size=(SIZE, SIZE), mode="bicubic", align_corners=False)
pix = T.Normalize(mean=MEAN, std=STD)(pix.mul_(0.5).add_(0.5))

with torch.no_grad():
    x = vit._embeds(pix)                         # conv1, class token, + positions, ln_pre
    for blk in vit.transformer.resblocks[:-1]:   # Wan: transformer[:-1](x) (use_31_block)
        x = blk(x)
    clip_fea = x.clone()
    last = vit.transformer.resblocks[-1](x)      # Wan: transformer(x), no post_norm

    vit2 = oct.VisionTransformer(image_size=SIZE, patch_size=PATCH, width=D, layers=LAYERS, heads=2,
                                 mlp_ratio=MLP_RATIO, output_dim=OUT_DIM, act_layer=torch.nn.GELU).eval()
    vit2.load_state_dict(oc)
    x2 = vit2._embeds(pix)
    for blk in vit2.transformer.resblocks[:-1]:
        x2 = blk(x2)
    clip_fea_h2 = x2.clone()

    # the same numbers through transformers' CLIPVisionModel (what ComfyUI runs on clip_vision_h)
    cfg = transformers.CLIPVisionConfig(hidden_size=D, intermediate_size=int(D * MLP_RATIO), num_hidden_layers=LAYERS,
                                        num_attention_heads=HEADS, image_size=SIZE, patch_size=PATCH, hidden_act="gelu",
                                        layer_norm_eps=1e-5, projection_dim=OUT_DIM)
    hf = transformers.CLIPVisionModelWithProjection(cfg).eval()
    missing, unexpected = hf.load_state_dict(to_hf(oc), strict=False)
    assert not unexpected and all("position_ids" in m for m in missing), (missing, unexpected)
    ho = hf(pixel_values=pix, output_hidden_states=True)
    e1 = (ho.hidden_states[-2] - clip_fea).abs().max().item()
    e2 = (ho.last_hidden_state - last).abs().max().item()
    print("open_clip vs transformers: penultimate %.3g, last %.3g (max abs)" % (e1, e2))
    assert e1 < 1e-4 and e2 < 1e-4

# --- the resize on its own -------------------------------------------------------------------------
torch.manual_seed(7)
rsrc = torch.randn(1, 3, 40, 50)
rdown = F.interpolate(rsrc, size=(17, 23), mode="bicubic", align_corners=False)
rup = F.interpolate(rsrc, size=(61, 89), mode="bicubic", align_corners=False)

os.makedirs(OUT, exist_ok=True)
save_file(bf16(to_hf(oc)), OUT + "/clip_vision_hf.weights.safetensors", metadata={"format": "pt"})
save_file(bf16(to_openclip(oc)), OUT + "/clip_vision_openclip.weights.safetensors", metadata={"format": "pt"})
torch.save(bf16(to_wan(oc)), OUT + "/clip_vision_wan.weights.pth")
save_file({"image": image.contiguous(), "clip_fea": clip_fea.contiguous(), "clip_fea_h2": clip_fea_h2.contiguous(),
           "last_hidden_state": last.contiguous(), "resize_src": rsrc[0].contiguous(),
           "resize_down": rdown[0].contiguous(), "resize_up": rup[0].contiguous()},
          OUT + "/clip_vision.io.safetensors",
          metadata={"component": "clip-vision", "notes": "open-clip ViT (Wan2.1 I2V image encoder) 32 wide, 1 head (clip_fea_h2: 2 heads), 3 layers, "
                    "patch 14, 224 px, exact GELU; clip_fea = Wan CLIPModel.visual (use_31_block), see tools/gen_clip_vision_ref.py"})
for f in ("clip_vision_hf.weights.safetensors", "clip_vision_openclip.weights.safetensors", "clip_vision_wan.weights.pth", "clip_vision.io.safetensors"):
    print("%-42s %7d bytes" % (f, os.path.getsize(OUT + "/" + f)))
