"""A manifest of identity images on any fsspec URL: read the table, list and read each identity's images.

The manifest is CSV, JSON Lines or Parquet (by extension), local or s3://.
An identity's `images` is a folder (every image file directly inside it) or a
glob; a relative one is taken from the manifest's folder and may not leave it
(`../` out of it, or a symlink pointing outside, is refused). An absolute path
or URL follows the same rule: it may name a place inside the manifest's folder,
never outside it (a manifest someone hands you must not read /home/... or
another bucket).
"""
from __future__ import annotations

import csv
import io
import json
import posixpath
from collections.abc import Mapping
from typing import Any

import fsspec

from storage.boundary import redact_url, storage_errors
from storage.s3 import resolve_storage_options
from w2w_core.errors import InputError
from w2w_core.identities.manifest import ImageReader, Manifest, parse_manifest
from w2w_core.image_files import check_file_size

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
_GLOB = set("*?[")


def _table(name: str, data: bytes) -> tuple[list[str], list[dict[str, Any]]]:
    """(columns, rows) of a CSV, JSON Lines or Parquet file's bytes."""
    suffix = name.lower().rsplit(".", 1)[-1]
    if suffix == "csv":
        reader = csv.DictReader(io.StringIO(data.decode("utf-8-sig")))
        return list(reader.fieldnames or []), list(reader)
    if suffix in ("jsonl", "ndjson"):
        rows = [json.loads(line) for line in data.decode("utf-8").splitlines() if line.strip()]
        if not all(isinstance(r, dict) for r in rows):
            raise ValueError("every line must be a JSON object")
        return list(dict.fromkeys(k for r in rows for k in r)), rows
    if suffix == "parquet":
        import pyarrow.parquet as pq

        table = pq.read_table(io.BytesIO(data))
        return list(table.column_names), table.to_pylist()
    raise InputError(f"the manifest {name} is not a .csv, .jsonl or .parquet file")


def read_manifest(url: str, storage_options: Mapping[str, Any] | None = None) -> Manifest:
    """The checked manifest at `url`; a clear error if it is missing, unreadable or malformed."""
    options = resolve_storage_options(url, storage_options) or {}
    with storage_errors(url, "read the manifest", options):
        fs, path = fsspec.core.url_to_fs(url, **options)
        if not fs.isfile(path):
            raise InputError(f"no manifest at {redact_url(url)}")
        data = fs.cat_file(path)
    try:
        columns, rows = _table(path, data)
    except InputError:
        raise
    except Exception as err:  # csv, json and pyarrow each raise their own
        raise InputError(f"the manifest {redact_url(url)} could not be parsed: {type(err).__name__}: {err}") from err
    return parse_manifest(redact_url(url), columns, rows)


def _inside(root: str, location: str, path: str | None = None) -> str:
    """A relative `location` joined to `root` (or an absolute one's `path`); refused if it is out of `root`."""
    joined = posixpath.normpath(posixpath.join(root, location if path is None else path))
    if joined != root and not joined.startswith(root.rstrip("/") + "/"):
        raise InputError(f"images location {redact_url(location)!r} leaves the manifest's folder {root}: refused "
                         "(a manifest may only point inside its own folder)")
    return joined


def image_reader(manifest_url: str, storage_options: Mapping[str, Any] | None = None) -> ImageReader:
    """Reads an identity's images: [(file name, bytes)] sorted by name, for a folder or a glob.

    Relative locations are taken from the manifest's folder; a URL (s3://...) or an
    absolute path must lie inside that folder too, on the manifest's own file system.
    """
    options = resolve_storage_options(manifest_url, storage_options) or {}
    fs, manifest_path = fsspec.core.url_to_fs(manifest_url, **options)
    root = posixpath.dirname(manifest_path)

    def read(location: str) -> list[tuple[str, bytes]]:
        with storage_errors(manifest_url, f"read the images of {location!r}", options):
            files = _image_files(fs, _inside(root, location, _absolute_path(fs, location)), location, root)
            for f in files:  # every size before any file is read: a huge file costs nothing
                check_file_size(posixpath.relpath(f, root), fs.size(f))
            return [(posixpath.basename(f), fs.cat_file(f)) for f in files]

    return read


def _absolute_path(fs: fsspec.AbstractFileSystem, location: str) -> str | None:
    """The path on `fs` that an absolute path or URL names (None for a relative location); refused if it is on
    another file system than the manifest's."""
    if "://" not in location and not location.startswith("/"):
        return None
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    if fsspec.utils.get_protocol(location) not in protocols:
        raise InputError(f"images location {redact_url(location)!r} is on another file system than the manifest: "
                         "refused (a manifest may only point inside its own folder)")
    return fs._strip_protocol(location)


def _image_files(fs: fsspec.AbstractFileSystem, path: str, location: str, root: str | None) -> list[str]:
    """Image files of a folder or glob, sorted; with `root` (a relative location), local links are checked."""
    if _GLOB & set(path):
        found = fs.glob(path)
    elif fs.isdir(path):
        found = fs.ls(path, detail=False)
    elif fs.exists(path):
        raise InputError(f"images location {location!r} is a file, not a folder or a glob")
    else:
        raise InputError(f"images folder {location!r} does not exist")
    images = sorted(f for f in found if f.lower().endswith(IMAGE_SUFFIXES))
    if root is not None:
        _check_links(fs, images, root, location)
    return [f for f in images if fs.isfile(f)]


def _check_links(fs: fsspec.AbstractFileSystem, files: list[str], root: str, location: str) -> None:
    """Local files only: a symlink may not point out of the manifest's folder, nor loop."""
    if "file" not in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        return
    import os

    real_root = os.path.realpath(root)
    for f in files:
        try:
            target = os.path.realpath(f, strict=True)
        except OSError as err:
            raise InputError(f"images of {location!r}: {posixpath.basename(f)} is a broken or looping link") from err
        if target != real_root and not target.startswith(real_root + os.sep):
            raise InputError(f"images of {location!r}: {posixpath.basename(f)} links outside the manifest's folder")
