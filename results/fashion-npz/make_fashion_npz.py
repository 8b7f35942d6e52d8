"""Write Fashion-MNIST, split as the `fashion-mnist` spec splits it (seed 0), as a plain .npz.

The rows in this folder test the package on images it has no preset for: through `npz:`,
Fashion-MNIST gets the generic `images` preset, not its own. Usage:

    python results/fashion-npz/make_fashion_npz.py /tmp/fashion_npz.npz
    python -m hashnet_lite reproduce --data npz:/tmp/fashion_npz.npz --bits 32 \
        --methods HashNet DHN DPSH DSH CSQ ITQ LSH --out results/fashion-npz
"""
import sys

import numpy as np

from hashnet_lite import load_data

data = load_data("fashion-mnist", seed=0)
arrays = {}
for part in ("train", "query", "database"):
    dataset = getattr(data, part)
    arrays[f"x_{part}"] = dataset.x[dataset.index][:, 0]  # (N, 28, 28) uint8
    arrays[f"y_{part}"] = getattr(data, f"y_{part}").argmax(1)  # class ids
np.savez(sys.argv[1], **arrays)
