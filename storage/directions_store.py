"""Attribute directions on disk: a zarr v3 group `directions/` beside the store's `space/`.

Arrays (with xarray dimension names): vectors [attribute, component] (unit rows
in the space's first m coefficients), unit [attribute] (the strength-1 step),
names [attribute]. Attributes: how they were fit (m, method, debias set and
mode), how unit was calibrated (null: the raw unit) and the fingerprint of
the space they belong to. Needs only zarr and NumPy.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from storage.boundary import is_s3, redact_url, storage_errors
from storage.s3 import ensure_bucket, resolve_storage_options
from storage.safety import check_arrays_are_safe
from w2w_core.directions import Directions
from w2w_core.errors import StorageError, StoreNotFoundError

DIRECTIONS_GROUP = "directions"
DIRECTIONS_FORMAT = 1
ATTRIBUTE, COMPONENT = "attribute", "component"


def directions_url(url: str, group: str | None = DIRECTIONS_GROUP) -> str:
    return url if not group else f"{url.rstrip('/')}/{group}"


def save_directions(directions: Directions, url: str, storage_options: Mapping[str, Any] | None = None,
                    group: str | None = DIRECTIONS_GROUP) -> str:
    """Write `directions` to `url`/`group` (replacing directions already there); returns where."""
    target = directions_url(url, group)
    options = resolve_storage_options(target, storage_options)
    if is_s3(target):
        ensure_bucket(target, options)
    with storage_errors(target, "save the directions", options):
        _refuse_to_replace_other_data(target, options)
        root = zarr.open_group(target, mode="w", zarr_format=3, storage_options=options)
        arrays = {"vectors": (directions.vectors.astype(np.float64), (ATTRIBUTE, COMPONENT)),
                  "unit": (directions.unit.astype(np.float64), (ATTRIBUTE,)),
                  "names": (np.array(directions.names, dtype=object), (ATTRIBUTE,))}
        for name, (data, dims) in arrays.items():
            kind = str if data.dtype == object else data.dtype
            array = root.create_array(name, shape=data.shape, dtype=kind, chunks=data.shape or (1,),
                                      compressors=[ZstdCodec(level=3)] if kind is not str else "auto",
                                      dimension_names=dims)
            array[...] = data
        root.attrs.update({"w2w_directions_format": DIRECTIONS_FORMAT, "m": directions.m,
                           "method": directions.method, "debias": list(directions.debias),
                           "debias_mode": directions.debias_mode, "space_fingerprint": directions.space_fingerprint,
                           "calibration": directions.calibration})
    return target


def load_directions(url: str, storage_options: Mapping[str, Any] | None = None,
                    group: str | None = DIRECTIONS_GROUP) -> Directions:
    """Read the directions at `url`/`group`."""
    source = directions_url(url, group)
    options = resolve_storage_options(source, storage_options)
    check_arrays_are_safe(source, ("vectors", "unit", "names"), options)
    with storage_errors(source, "load the directions", options):
        try:
            root = zarr.open_group(source, mode="r", storage_options=options)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as err:
            raise StoreNotFoundError(f"no attribute directions at {redact_url(source)}: fit them first "
                                     "(`w2w directions fit STORE`)") from err
        if root.attrs.get("w2w_directions_format") != DIRECTIONS_FORMAT:
            raise StorageError(f"{redact_url(source)} is not a w2w directions group this version reads")
        attrs = dict(root.attrs)
        return Directions(names=tuple(str(n) for n in root["names"][...]), vectors=root["vectors"][...],
                          unit=root["unit"][...], m=int(attrs["m"]), method=attrs["method"],
                          debias=tuple(attrs["debias"]), debias_mode=attrs["debias_mode"],
                          space_fingerprint=attrs["space_fingerprint"], calibration=attrs.get("calibration"))


def _refuse_to_replace_other_data(target: str, options: Mapping[str, Any] | None) -> None:
    try:
        existing = zarr.open_group(target, mode="r", storage_options=options)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return
    if "w2w_directions_format" not in existing.attrs and any(True for _ in existing):
        raise StorageError(f"{redact_url(target)} holds a zarr group that is not w2w directions; "
                           "refusing to replace it")
