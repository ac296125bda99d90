"""Stores other people wrote: refuse an array whose codecs could run code when a chunk is decoded.

A zarr array's metadata names its codecs; numcodecs' Pickle (and object arrays
that hold arbitrary Python objects) unpickle chunk bytes, which runs whatever
code the writer put there. Before any chunk of a store, space or direction set
is read, the metadata documents of its arrays are read as plain JSON (zarr v3
`zarr.json`, zarr v2 `.zarray`) and anything but plain numbers, booleans and
UTF-8 strings is refused.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import fsspec

from storage.boundary import redact_url, storage_errors
from w2w_core.errors import StorageError

UNSAFE_CODECS = ("pickle", "msgpack", "json2", "jsonpickle", "object")  # names that decode to Python objects
SAFE_OBJECT_CODECS = ("vlen-utf8", "vlen-bytes", "vlen_utf8", "vlen_bytes")


def _documents(fs: fsspec.AbstractFileSystem, root: str, name: str) -> list[dict[str, Any]]:
    docs = []
    for document in ("zarr.json", ".zarray"):
        path = f"{root.rstrip('/')}/{name}/{document}"
        if fs.exists(path):
            docs.append(json.loads(fs.cat_file(path)))
    return docs


def _codec_names(document: Mapping[str, Any]) -> list[str]:
    """Every codec, filter and compressor a v3 or v2 array document names (lower case)."""
    entries = list(document.get("codecs") or []) + list(document.get("filters") or [])
    compressor = document.get("compressor")
    entries += [compressor] if compressor else []
    names = []
    for entry in entries:
        names.append(str(entry.get("name") or entry.get("id") or "").lower())
        for inner in (entry.get("configuration") or {}).get("codecs", []) or []:  # sharding's inner chain
            names.append(str(inner.get("name") or inner.get("id") or "").lower())
    return names


def unsafe_reason(document: Mapping[str, Any]) -> str | None:
    """Why decoding this array could run code, or None if it holds only numbers and strings."""
    codecs = _codec_names(document)
    bad = [c for c in codecs if any(word in c for word in UNSAFE_CODECS)]
    if bad:
        return (f"it declares the codec {bad[0]!r}, which unpickles (or otherwise builds Python objects from) "
                "chunk bytes")
    dtype = str(document.get("data_type") or document.get("dtype") or "")
    if dtype in ("|O", "O", "object") and not any(c in SAFE_OBJECT_CODECS for c in codecs):
        return "it is an object array without a string codec"
    return None


def check_arrays_are_safe(url: str, names: Iterable[str], storage_options: Mapping[str, Any] | None) -> None:
    """Refuse the group at `url` if any of its arrays `names` declares a code-running codec."""
    with storage_errors(url, "read the arrays' metadata", storage_options):
        fs, root = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
        for name in names:
            for document in _documents(fs, root, name):
                reason = unsafe_reason(document)
                if reason:
                    raise StorageError(f"refusing {redact_url(url)}: its array {name!r} could run code when read "
                                       f"({reason}); w2w reads numbers and strings only")
