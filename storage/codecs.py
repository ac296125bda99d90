"""Named codec choices for the weight matrix.

A name in `StoreSpec.codec` maps to a zarr v3 compressor chain. Every chain
ends with a CRC32C checksum codec so a chunk whose bytes changed on disk fails
to decode instead of returning wrong numbers; the per-row checksum in the
store (see weight_store.py) covers what a chunk checksum cannot (a valid but
stale or foreign chunk).

The default was chosen by measurement (benchmarks/store_codecs.py, and
benchmarks/store_throughput.py on the local S3 server): LoRA weights are
full-mantissa floats, so no codec buys much. Zstd level 1 stores float32
rows in 6 % less space (Blosc-LZ4 with byte shuffle 4-5 %, Blosc-Zstd 10 %
but at half Zstd's speed), encodes at ~500 MB/s and decodes at ~1 GB/s per
core: faster than object storage delivers, so reads through S3 cost the same
as uncompressed ones while moving fewer bytes.
"""
from __future__ import annotations

from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from w2w_core.errors import InputError

DEFAULT_CODEC = "zstd"


def _chain(name: str, itemsize: int) -> list:
    if name == "none":
        return []
    if name == "zstd":
        return [ZstdCodec(level=1)]
    if name == "blosc-lz4":
        return [BloscCodec(cname="lz4", clevel=5, shuffle="shuffle", typesize=itemsize)]
    if name == "blosc-zstd":
        return [BloscCodec(cname="zstd", clevel=3, shuffle="shuffle", typesize=itemsize)]
    raise InputError(
        f"unknown store codec {name!r}: choose one of {', '.join(CODEC_NAMES)}"
    )


CODEC_NAMES = ("none", "zstd", "blosc-lz4", "blosc-zstd")


def compressors_for(name: str, itemsize: int, checksum: bool = True) -> list:
    """The zarr compressor chain for codec `name` on items of `itemsize` bytes."""
    chain = _chain(name, itemsize)
    return chain + [Crc32cCodec()] if checksum else chain
