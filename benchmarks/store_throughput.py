"""Weight store throughput on the local S3 server, against raw s3fs put/get of the same bytes.

Run:  python -m benchmarks.store_throughput [--rows 256] [--params 100000] [--batch 32]
                                            [--codecs zstd,none] [--repeat 2]

Starts `rclone serve s3` on 127.0.0.1 with a temp folder, writes a LoRA-like
float32 matrix batch by batch through WeightStore.write_rows (which also
writes the per-row metadata, reads the rows back and compares them before
marking them done), reads it back with read_rows, and runs verify(). The
baseline puts and gets the same bytes with s3fs, one object per batch (what
the store writes) and as one object. MB are 10^6 bytes of float32 payload.
"""
from __future__ import annotations

import tempfile
import time
import uuid

import numpy as np

from benchmarks.harness import lora_like_rows, parse, parser
from storage.weight_store import StoreSpec, WeightStore, batches


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def store_run(data: np.ndarray, batch: int, codec: str, options: dict) -> dict[str, float]:
    layout = {"keys": ["w"], "shapes": [[data.shape[1]]], "n_params": data.shape[1]}
    url = f"s3://bench/{uuid.uuid4().hex[:8]}"
    store = WeightStore.create(StoreSpec(url, batch, codec=codec, storage_options=options),
                               layout, {}, [], data.shape[0])
    rows = batches(*data.shape[:1], batch)
    n = len(rows[0])
    write = timed(lambda: [store.write_rows(r, data[r.start:r.stop], [0.0] * len(r), [0] * len(r), "b")
                           for r in rows])
    read = timed(lambda: [store.read_rows(r) for r in rows])
    verify = timed(store.verify)
    assert store.counts()["done"] == data.shape[0] and n == batch
    np.testing.assert_array_equal(store.read_rows(rows[-1]), data[rows[-1].start:rows[-1].stop])
    return {"write": write, "read": read, "verify": verify}


def raw_run(data: np.ndarray, batch: int, fs) -> dict[str, float]:
    """The same bytes put and got with s3fs (`fs`), one object per batch and as one object."""
    prefix = f"bench/raw-{uuid.uuid4().hex[:8]}"
    blocks = [data[r.start:r.stop].tobytes() for r in batches(data.shape[0], batch)]
    put = timed(lambda: [fs.pipe(f"{prefix}/c{i}", b) for i, b in enumerate(blocks)])
    get = timed(lambda: [fs.cat(f"{prefix}/c{i}") for i in range(len(blocks))])
    whole = data.tobytes()
    put1 = timed(lambda: fs.pipe(f"{prefix}/all", whole))
    get1 = timed(lambda: fs.cat(f"{prefix}/all"))
    return {"put": put, "get": get, "put1": put1, "get1": get1}


def arguments():
    p = parser(__doc__)
    p.add_argument("--rows", type=int, default=256)
    p.add_argument("--params", type=int, default=100_000)
    p.add_argument("--batch", type=int, default=32, help="rows per chunk = batch size")
    p.add_argument("--codecs", default="zstd,none")
    p.add_argument("--repeat", type=int, default=2, help="best of this many runs")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    import s3fs

    from storage.s3 import S3Server, storage_options_for

    data = lora_like_rows(args.rows, args.params)
    mb = data.nbytes / 1e6
    with tempfile.TemporaryDirectory() as root, S3Server(root, buckets=("bench",)) as server:
        options = storage_options_for(server.config)
        fs = s3fs.S3FileSystem(**options)
        raw = [raw_run(data, args.batch, fs) for _ in range(args.repeat)]
        best_raw = {k: min(r[k] for r in raw) for k in raw[0]}
        print(f"{args.rows} x {args.params} float32 = {mb:.1f} MB, batch {args.batch} rows "
              f"({mb / -(-args.rows // args.batch):.1f} MB per batch), rclone serve s3 on 127.0.0.1\n")
        print(f"{'path':<44}{'MB/s':>8}{'vs raw':>8}")
        print(f"{'raw s3fs put, one object per batch':<44}{mb / best_raw['put']:>8.0f}{'1.00':>8}")
        print(f"{'raw s3fs get, one object per batch':<44}{mb / best_raw['get']:>8.0f}{'1.00':>8}")
        print(f"{'raw s3fs put, one object':<44}{mb / best_raw['put1']:>8.0f}")
        print(f"{'raw s3fs get, one object':<44}{mb / best_raw['get1']:>8.0f}")
        for codec in args.codecs.split(","):
            runs = [store_run(data, args.batch, codec, options) for _ in range(args.repeat)]
            best = {k: min(r[k] for r in runs) for k in runs[0]}
            print(f"{'store write_rows (+read-back, status) ' + codec:<44}{mb / best['write']:>8.0f}"
                  f"{best_raw['put'] / best['write']:>8.2f}")
            print(f"{'store read_rows ' + codec:<44}{mb / best['read']:>8.0f}{best_raw['get'] / best['read']:>8.2f}")
            print(f"{'store verify ' + codec:<44}{mb / best['verify']:>8.0f}{best_raw['get'] / best['verify']:>8.2f}")


if __name__ == "__main__":
    main()
