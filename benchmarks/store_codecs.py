"""Which codec for the weight matrix? Ratio and speed on LoRA-like float32 rows.

Run:  python -m benchmarks.store_codecs [--rows 64] [--params 99648]

LoRA-like data (benchmarks.harness.lora_like_rows): rank-1 adapters on attention
projections of SD-sized widths, full-mantissa floats, which is why general-purpose
compressors barely help. Each codec writes and reads the same matrix through zarr in memory (no disk
or network in the way), so the numbers are the codec's own cost.
"""
from __future__ import annotations

import time

import numpy as np

from benchmarks.harness import lora_like_rows, parse, parser


def measure(name: str, data: np.ndarray, checksum: bool) -> dict:
    import zarr
    from zarr.storage import MemoryStore

    from storage.codecs import compressors_for

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


def arguments():
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=64)
    p.add_argument("--params", type=int, default=99_648)
    p.add_argument("--repeat", type=int, default=3)
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from storage.codecs import CODEC_NAMES

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
