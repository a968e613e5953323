#!/usr/bin/env python3
"""Convert a PyTorch state-dict checkpoint (.pth / .pt) to safetensors, keeping names and dtypes.
   Used to make a safetensors copy of a .pth fixture:  tools/pth_to_safetensors.py IN.pth OUT.safetensors"""
import sys
import torch
from safetensors.torch import save_file

def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sd = torch.load(sys.argv[1], map_location="cpu", weights_only=True)
    if "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    save_file({k: v.contiguous() for k, v in sd.items() if isinstance(v, torch.Tensor)}, sys.argv[2])

if __name__ == "__main__":
    main()
