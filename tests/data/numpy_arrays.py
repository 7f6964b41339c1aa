"""Writes numpy_arrays.npz for tests/numpy_interop.rs: arrays of the dtypes NumPy
users save, compressed as np.savez_compressed writes them.

Provenance: run once with NumPy 2.x (the venv of ../shared/bench/setup.sh):

    /tmp/refenv/bin/python tests/data/numpy_arrays.py
"""
import pathlib

import numpy as np

x = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7.0
np.savez_compressed(
    pathlib.Path(__file__).with_name("numpy_arrays.npz"),
    x64=x,
    x32=x.astype(np.float32),
    lengths=np.array([3, 1], dtype=np.int64),
    mask=np.array([[True, False], [False, True]]),
)
