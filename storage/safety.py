"""Stores other people wrote: refuse an array whose codecs could run code when a chunk is decoded.

A zarr array's metadata names its codecs; numcodecs' Pickle (and object arrays
that hold arbitrary Python objects) unpickle chunk bytes, which runs whatever
code the writer put there. Before any chunk of a store, space or direction set
is read, the metadata documents of its arrays are read as plain JSON (zarr v3
`zarr.json`, zarr v2 `.zarray`) and anything but plain numbers, booleans and
UTF-8 strings is refused. So are the copies of every array's document in the
group's consolidated metadata (v3: `consolidated_metadata` inside the group's
`zarr.json`; v2: `.zmetadata`): zarr opens a group through those copies when
they are there, so a codec declared only there is decoded just the same.
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


def _consolidated(fs: fsspec.AbstractFileSystem, root: str) -> dict[str, dict[str, Any]]:
    """Array path -> the copy of its metadata document in the group's consolidated metadata (v3 and v2).

    A document that is not JSON is skipped: zarr cannot open the group through it either, so nothing in it
    gets decoded (saying that it is damaged is the opener's business)."""
    arrays: dict[str, dict[str, Any]] = {}
    root = root.rstrip("/")
    _v3_arrays(_json_object(fs, f"{root}/zarr.json"), "", arrays)
    for key, document in _mapping(_json_object(fs, f"{root}/.zmetadata").get("metadata")).items():
        if isinstance(document, Mapping) and key.endswith(".zarray"):
            arrays[key.rsplit("/", 1)[0] if "/" in key else key] = dict(document)
    return arrays


def _json_object(fs: fsspec.AbstractFileSystem, path: str) -> dict[str, Any]:
    """The JSON object in the file at `path`; {} if there is none or it is not a JSON object."""
    if not fs.exists(path):
        return {}
    try:
        document = json.loads(fs.cat_file(path))
    except ValueError:  # not UTF-8, or not JSON
        return {}
    return _mapping(document)


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, Mapping) else {}


def _v3_arrays(group: Mapping[str, Any], prefix: str, arrays: dict[str, dict[str, Any]]) -> None:
    """The arrays of a v3 group document's consolidated metadata, nested groups' own included."""
    for name, document in _mapping(_mapping(group.get("consolidated_metadata")).get("metadata")).items():
        if not isinstance(document, Mapping):
            continue
        if document.get("node_type") == "array":
            arrays[f"{prefix}{name}"] = dict(document)
        else:
            _v3_arrays(document, f"{prefix}{name}/", arrays)


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
        for name, document in sorted(_consolidated(fs, root).items()):
            reason = unsafe_reason(document)
            if reason:
                raise StorageError(f"refusing {redact_url(url)}: its consolidated metadata says its array {name!r} "
                                   f"could run code when read ({reason}); w2w reads numbers and strings only")
