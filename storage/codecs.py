"""Named codec choices for the weight matrix.

A name in `StoreSpec.codec` maps to a zarr v3 compressor chain. Every chain
ends with a CRC32C checksum codec so a chunk whose bytes changed on disk fails
to decode instead of returning wrong numbers; the per-row checksum in the
store (see weight_store.py) covers what a chunk checksum cannot (a valid but
stale or foreign chunk).

The default was chosen by measurement (benchmarks/store_codecs.py): LoRA
weights are full-mantissa floats, so byte-level compressors gain little; the
byte shuffle in Blosc groups the exponent bytes and is the only thing that
buys a useful ratio at a speed above disk and network rates.
"""
from __future__ import annotations

from zarr.codecs import BloscCodec, Crc32cCodec, ZstdCodec

from w2w_core.errors import InputError

DEFAULT_CODEC = "blosc-lz4"


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
