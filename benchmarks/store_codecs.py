"""Which codec for the weight matrix? Ratio and speed on LoRA-like float32 rows.

Run:  python benchmarks/store_codecs.py [--rows 64] [--params 99648]

LoRA-like data: rank-1 adapters on attention projections of SD-sized widths.
lora_A starts kaiming-uniform (bound 1/sqrt(fan_in)) and drifts a little in
training; lora_B starts at zero and grows small Gaussian values. Both are
full-mantissa floats, which is why general-purpose compressors barely help.
Each codec writes and reads the same matrix through zarr in memory (no disk
or network in the way), so the numbers are the codec's own cost.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import zarr
from zarr.storage import MemoryStore

from storage.codecs import CODEC_NAMES, compressors_for

WIDTHS = (320, 640, 1280, 768)


def lora_like_rows(n_rows: int, n_params: int, seed: int = 0) -> np.ndarray:
    """`n_rows` flattened rank-1 LoRA vectors of `n_params` values."""
    rng = np.random.default_rng(seed)
    rows = np.empty((n_rows, n_params), dtype=np.float32)
    start, m = 0, 0
    while start < n_params:
        fan_in = WIDTHS[m % len(WIDTHS)]
        fan_out = WIDTHS[(m + 1) % len(WIDTHS)]
        a = min(fan_in, n_params - start)
        bound = 1.0 / np.sqrt(fan_in)
        rows[:, start:start + a] = rng.uniform(-bound, bound, (1, a)) + rng.normal(0, 1e-3, (n_rows, a))
        start += a
        b = min(fan_out, n_params - start)
        rows[:, start:start + b] = rng.normal(0, 2e-3, (n_rows, b))
        start += b
        m += 1
    return rows


def measure(name: str, data: np.ndarray, checksum: bool) -> dict:
    store = MemoryStore()
    arr = zarr.create_array(
        store, shape=data.shape, chunks=(data.shape[0], data.shape[1]), dtype=data.dtype,
        compressors=compressors_for(name, data.dtype.itemsize, checksum=checksum), fill_value=0,
    )
    t0 = time.perf_counter()
    arr[:] = data
    t1 = time.perf_counter()
    back = arr[:]
    t2 = time.perf_counter()
    assert np.array_equal(back, data)
    stored = sum(len(v) for k, v in store._store_dict.items() if "/c" in k or k.startswith("c/"))
    mb = data.nbytes / 1e6
    return {"codec": name + ("+crc32c" if checksum else ""), "ratio": data.nbytes / stored,
            "write": mb / (t1 - t0), "read": mb / (t2 - t1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=64)
    parser.add_argument("--params", type=int, default=99_648)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    for dtype in ("float32", "float16"):
        data = lora_like_rows(args.rows, args.params).astype(dtype)
        print(f"\n{dtype}: {args.rows} x {args.params} ({data.nbytes / 1e6:.1f} MB)")
        print(f"{'codec':<22}{'ratio':>8}{'write MB/s':>12}{'read MB/s':>12}")
        for name in CODEC_NAMES:
            for checksum in ((False, True) if name == "none" else (True,)):
                runs = [measure(name, data, checksum) for _ in range(args.repeat)]
                best = {k: max(r[k] for r in runs) for k in ("write", "read")}
                print(f"{runs[0]['codec']:<22}{runs[0]['ratio']:>8.3f}"
                      f"{best['write']:>12.0f}{best['read']:>12.0f}")


if __name__ == "__main__":
    main()
