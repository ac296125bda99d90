"""A team's own identities: a manifest table with one row per identity, checked before any training.

Columns: `id` (a string, unique), `images` (a folder or glob of that identity's
images inside the manifest's folder, local or s3://: relative to that folder, or
an absolute path or URL that lies within it), and
any number of binary attribute columns, 0/1 or CelebA's -1/1. The prompts
(`FinetuneConfig.instance_prompt` / `class_prompt`) say what concept the
images show, so dogs or cars go through the same flow as faces.

`parse_manifest` turns the table's rows (dicts, as CSV, JSON Lines or Parquet
give them) into a `Manifest`, or raises one error listing the first problems
with their row numbers. `ManifestSource` serves it to a dataset; the bytes of
the images come from a reader the caller hands in (storage/identity_files.py).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from w2w_core.errors import InputError
from w2w_core.identities.source import IdentityRecord
from w2w_core.image_files import decode_images

ID_COLUMN, IMAGES_COLUMN = "id", "images"
MAX_LISTED = 10  # problems listed one by one in the error; the rest are counted
# booleans match too: True == 1 and False == 0 (bool is an int), so they need no entries of their own
_TRUE, _FALSE = {1, "1", "1.0", "true", "True"}, {0, -1, "0", "-1", "0.0", "-1.0", "false", "False"}

ImageReader = Callable[[str], list[tuple[str, bytes]]]  # images location -> [(file name, bytes)], sorted


@dataclass(frozen=True)
class ManifestEntry:
    identity_id: str
    images: str  # folder or glob, as written in the manifest
    labels: np.ndarray  # bool [n_attributes]


@dataclass(frozen=True)
class Manifest:
    location: str  # where the table was read from (credentials masked)
    attribute_names: tuple[str, ...]
    entries: tuple[ManifestEntry, ...]


def _label(value: Any) -> bool | None:
    """True / False for 1 and 0 or -1 (as numbers, strings or booleans); None for anything else."""
    value = value.item() if hasattr(value, "item") else value  # NumPy scalars from Parquet readers
    if isinstance(value, float) and not math.isnan(value) and value in (0.0, 1.0, -1.0):
        value = int(value)
    key = value.strip() if isinstance(value, str) else value
    if isinstance(key, (int, bool, str)) and key in _TRUE:
        return True
    if isinstance(key, (int, bool, str)) and key in _FALSE:
        return False
    return None


def _row_problems(number: int, row: Mapping[str, Any], attributes: Sequence[str], seen: dict[str, int]) -> list[str]:
    problems = []
    identity = row.get(ID_COLUMN)
    missing = identity is None or (isinstance(identity, float) and math.isnan(identity))
    identity = "" if missing else str(identity).strip()
    if not identity:
        problems.append(f"row {number}: empty {ID_COLUMN}")
    elif identity in seen:
        problems.append(f"row {number}: duplicate id {identity!r} (first in row {seen[identity]})")
    else:
        seen[identity] = number
    images = row.get(IMAGES_COLUMN)
    if images is None or not str(images).strip():
        problems.append(f"row {number} ({identity or 'no id'}): empty {IMAGES_COLUMN}")
    bad = [f"{name}={row.get(name)!r}" for name in attributes if _label(row.get(name)) is None]
    if bad:
        problems.append(f"row {number} ({identity or 'no id'}): labels outside {{0, 1, -1}}: {', '.join(bad[:3])}")
    return problems


def parse_manifest(location: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> Manifest:
    """The manifest's entries in row order; one InputError naming the first problems if any."""
    columns = [str(c).strip() for c in columns]
    missing = [c for c in (ID_COLUMN, IMAGES_COLUMN) if c not in columns]
    if missing:
        raise InputError(f"the manifest {location} has no {' or '.join(repr(c) for c in missing)} column "
                         f"(columns: {', '.join(columns) or 'none'}); it needs {ID_COLUMN!r}, {IMAGES_COLUMN!r} "
                         "and any attribute columns")
    if not rows:
        raise InputError(f"the manifest {location} lists no identities")
    attributes = tuple(c for c in columns if c not in (ID_COLUMN, IMAGES_COLUMN))
    seen: dict[str, int] = {}
    problems = [p for number, row in enumerate(rows, start=1) for p in _row_problems(number, row, attributes, seen)]
    if problems:
        more = f"; ... and {len(problems) - MAX_LISTED} more" if len(problems) > MAX_LISTED else ""
        raise InputError(f"the manifest {location} has {len(problems)} problem(s): "
                         + "; ".join(problems[:MAX_LISTED]) + more)
    entries = tuple(ManifestEntry(str(row[ID_COLUMN]).strip(), str(row[IMAGES_COLUMN]).strip(),
                                  np.array([_label(row[name]) for name in attributes], dtype=bool))
                    for row in rows)
    return Manifest(location, attributes, entries)


@dataclass(frozen=True)
class ManifestSource:
    """The identities of a manifest, in its row order; images through `read_images`."""

    manifest: Manifest
    read_images: ImageReader
    log: Callable[[str], None] = print  # where warnings go (mixed image sizes)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        return self.manifest.attribute_names

    @property
    def n_identities(self) -> int:
        return len(self.manifest.entries)

    def identity_id(self, index: int) -> str:
        return self.manifest.entries[index].identity_id

    def record(self, index: int) -> IdentityRecord:
        entry = self.manifest.entries[index]
        return IdentityRecord(entry.identity_id, entry.labels)

    def images(self, index: int, size: int) -> np.ndarray:
        entry = self.manifest.entries[index]
        files = self.read_images(entry.images)
        if not files:
            raise InputError(f"identity {entry.identity_id!r}: no images in {entry.images}")
        return decode_images(files, size, f"identity {entry.identity_id!r}", self.log)

    def description(self) -> dict[str, Any]:
        return manifest_description(self.manifest.location)


def manifest_description(location: str) -> dict[str, Any]:
    """What decides a manifest store's rows: the manifest (where, which columns), not the images' bytes."""
    return {"source": "manifest", "manifest": location, "columns": {"id": ID_COLUMN, "images": IMAGES_COLUMN}}
