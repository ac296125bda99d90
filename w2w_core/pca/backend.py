"""Array modules for the PCA: NumPy blocks on CPU, CuPy blocks on GPU, one code path.

Every algorithm in this package takes an array module `xp` and writes its
math as `xp.<function>`; the block kernels convert each block they receive
with `xp.asarray`. CuPy is imported only when asked for, so a machine without
it (or without a GPU) gets a `BackendUnavailableError` that says what to
install, never an ImportError from deep inside a fit.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from w2w_core.errors import BackendUnavailableError, InputError

BACKENDS = ("numpy", "cupy")


def _cupy() -> ModuleType:
    """CuPy, checked to see at least one GPU; `BackendUnavailableError` otherwise."""
    try:
        import cupy
    except ImportError as err:
        raise BackendUnavailableError(
            "backend='cupy' needs CuPy, which is not installed: install it with "
            "`pip install cupy-cuda12x` (the `gpu` extra) on a machine with an NVIDIA GPU, "
            "or use backend='numpy'"
        ) from err
    try:
        n_devices = cupy.cuda.runtime.getDeviceCount()
    except Exception as err:  # CUDA runtime errors have no common base
        raise BackendUnavailableError(
            f"backend='cupy': CuPy is installed but CUDA found no usable GPU ({err}); "
            "check the driver with `nvidia-smi`, or use backend='numpy'"
        ) from err
    if n_devices < 1:
        raise BackendUnavailableError(
            "backend='cupy': CuPy is installed but this machine has no GPU; use backend='numpy'"
        )
    return cupy


def array_module(backend: str) -> ModuleType:
    """The array module for `backend` ("numpy" or "cupy")."""
    if backend == "numpy":
        return np
    if backend == "cupy":
        return _cupy()
    raise InputError(f"unknown PCA backend {backend!r}: choose one of {', '.join(BACKENDS)}")


def array_module_of(array: Any) -> ModuleType:
    """The module an array belongs to: CuPy for device arrays, NumPy for everything else."""
    if type(array).__module__.split(".")[0] == "cupy":
        return _cupy()
    return np


def to_numpy(array: Any) -> np.ndarray:
    """A host (NumPy) copy of a NumPy or CuPy array."""
    if type(array).__module__.split(".")[0] == "cupy":
        return array.get()
    return np.asarray(array)
