"""The w2w space on disk: a zarr v3 group `space/` next to the weights (or at any URL).

Arrays (with xarray dimension names, so `xarray.open_zarr(url, group="space")`
works too): mean, std [param]; components [param, component]; singular_values,
explained_variance_ratio, coef_mean, coef_std [component]; row_ids [row].
The fit settings are JSON in the group's attributes. `load_space` needs only
zarr and NumPy: a notebook can load a space without Prefect or Dask.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import zarr
from zarr.codecs import ZstdCodec

from storage.boundary import is_s3, redact_url, storage_errors
from storage.format import SPACE_GROUP
from storage.s3 import ensure_bucket, resolve_storage_options
from storage.safety import check_arrays_are_safe
from w2w_core.errors import InputError, StorageError
from w2w_core.space import Space

SPACE_FORMAT = 1
PARAM, COMPONENT, ROW = "param", "component", "row"
_DIMS = {"mean": (PARAM,), "std": (PARAM,), "components": (PARAM, COMPONENT),
         "singular_values": (COMPONENT,), "explained_variance_ratio": (COMPONENT,),
         "coef_mean": (COMPONENT,), "coef_std": (COMPONENT,), "row_ids": (ROW,)}
COMPONENTS_PER_CHUNK = 32  # loading the first k components reads only ceil(k / 32) column chunks


def space_url(url: str, group: str | None = SPACE_GROUP) -> str:
    """Where the space of the store at `url` lives (`group=None`: at `url` itself)."""
    return url if not group else f"{url.rstrip('/')}/{group}"


def _chunks(name: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    if name == "components":
        rows = max(1, min(shape[0], 2**22 // COMPONENTS_PER_CHUNK))  # about 16 MiB per chunk
        return rows, max(1, min(shape[1], COMPONENTS_PER_CHUNK))
    return (max(1, min(shape[0], 2**22)),)


def _refuse_to_overwrite_other_data(target: str, options: Mapping[str, Any] | None) -> None:
    """Saving replaces the group at `target`: make sure that group is an old space, not the weights."""
    try:
        existing = zarr.open_group(target, mode="r", storage_options=options)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return
    except (zarr.errors.ContainsArrayError, zarr.errors.NodeTypeValidationError):
        existing = None
    if existing is None or ("w2w_space_format" not in existing.attrs and any(True for _ in existing)):
        raise StorageError(f"{redact_url(target)} holds a zarr group that is not a w2w space; refusing to "
                           "replace it (save the space to its own group, e.g. the default `space/`)")


def save_space(space: Space, url: str, storage_options: Mapping[str, Any] | None = None,
               group: str | None = SPACE_GROUP, components_dtype: str = "float32") -> str:
    """Write `space` to `url`/`group` (replacing a space already there); returns where it went.

    components_dtype "float16" halves the biggest array (what the shipped zoo uses: its space must fit
    in the package); loading always gives float32 components.
    """
    if components_dtype not in ("float32", "float16"):
        raise InputError(f"components_dtype must be float32 or float16, got {components_dtype!r}")
    target = space_url(url, group)
    options = resolve_storage_options(target, storage_options)
    try:
        attrs = {"w2w_space_format": SPACE_FORMAT, "fit_config": json.loads(json.dumps(space.fit_config))}
    except (TypeError, ValueError) as err:
        raise InputError(f"the space's fit_config must be JSON-able to be saved: {err}") from err
    if is_s3(target):
        ensure_bucket(target, options)
    with storage_errors(target, "save the w2w space", options):
        _refuse_to_overwrite_other_data(target, options)
        root = zarr.open_group(target, mode="w", zarr_format=3, storage_options=options)
        for name, dims in _DIMS.items():
            data = np.ascontiguousarray(getattr(space, name))
            data = data.astype(components_dtype) if name == "components" else data
            array = root.create_array(name, shape=data.shape, dtype=data.dtype,
                                      chunks=_chunks(name, data.shape), compressors=[ZstdCodec(level=3)],
                                      dimension_names=dims)
            array[...] = data
        root.attrs.update(attrs)  # last: a space without its attributes is an unfinished write
    return target


def load_space(url: str, storage_options: Mapping[str, Any] | None = None,
               group: str | None = SPACE_GROUP, k: int | None = None) -> Space:
    """Read the space at `url`/`group`; with `k`, only its first k components (fewer bytes read)."""
    source = space_url(url, group)
    options = resolve_storage_options(source, storage_options)
    check_arrays_are_safe(source, _DIMS, options)
    with storage_errors(source, "load the w2w space", options):
        try:
            root = zarr.open_group(source, mode="r", storage_options=options)
        except (FileNotFoundError, zarr.errors.GroupNotFoundError) as err:
            raise StorageError(f"no w2w space at {redact_url(source)}: fit one first "
                               "(`w2w space fit STORE_URL --k K`)") from err
        version = root.attrs.get("w2w_space_format")
        if version is None or int(version) > SPACE_FORMAT:
            raise StorageError(f"{redact_url(source)} is not a w2w space this version reads "
                               f"(w2w_space_format={version!r}); was its save interrupted?")
        total = root["components"].shape[1]
        if k is not None and not 1 <= k <= total:
            raise InputError(f"the space at {redact_url(source)} has {total} components; asked for k={k}")
        k = total if k is None else k
        fields = {name: root[name][...] for name in _DIMS if name != "components"}
        for name, dims in _DIMS.items():
            if dims == (COMPONENT,):
                fields[name] = fields[name][:k]
        components = np.asarray(root["components"][:, :k], dtype=np.float32)
        fit_config = dict(root.attrs["fit_config"])
    return Space(components=components, fit_config=fit_config, **fields)
