"""Write the tiny seed inputs of `make fuzz` for safetensors (gguf and pth reuse their test fixtures).

    python3 tools/gen_fuzz_seeds.py      # writes tests/fixtures/fuzz/
"""
import os
import numpy as np
from safetensors.numpy import save_file

OUT = "tests/fixtures/fuzz"
os.makedirs(OUT, exist_ok=True)
save_file({"a.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.ones(4, dtype=np.float16)},
          OUT + "/small.safetensors", metadata={"format": "pt"})
save_file({"x": np.zeros((1, 2, 1), dtype=np.int64), "y": np.array([1, 0], dtype=np.bool_)}, OUT + "/ints.safetensors")
