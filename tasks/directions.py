"""Attribute directions over a store: the training models' coefficients, the fit, saving it beside the space.

Plain functions first (usable without Prefect), then the thin Prefect tasks.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from storage.boundary import redact_url
from storage.dask_matrix import ZarrRowMatrix
from storage.directions_store import DIRECTIONS_GROUP, save_directions
from storage.read_config import ReadConfig
from storage.space_store import load_space
from storage.weight_store import WeightStore
from w2w_core.directions import Directions, DirectionsConfig, directions_summary, fit_directions
from w2w_core.errors import InputError
from w2w_core.space import Space, project


def training_coefficients(store_url: str, space: Space, storage_options: Mapping[str, Any] | None = None,
                          read: ReadConfig = ReadConfig()) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """β [N, k] of the rows the space was fit on, streamed block by block, with their labels bool [N, A]."""
    position = {int(r): i for i, r in enumerate(space.row_ids)}
    coefficients = np.full((len(position), space.k), np.nan)
    with ZarrRowMatrix(store_url, storage_options, read) as matrix:
        ids = matrix.row_ids

        def kernel(block: np.ndarray, start: int, stop: int) -> np.ndarray:
            return project(space, np.asarray(block, dtype=np.float32))

        def combine(start: int, stop: int, coef: np.ndarray) -> None:
            for j, row in enumerate(ids[start:stop]):
                if int(row) in position:
                    coefficients[position[int(row)]] = coef[j]

        matrix.pass_over_rows(kernel, combine)
    if np.isnan(coefficients).any():
        raise InputError(f"rows the space was fit on are no longer done in {redact_url(store_url)}: "
                         "refit the space (`w2w space fit`), then the directions")
    store = WeightStore.open(store_url, storage_options, read_only=True)
    return coefficients, store.identities(space.row_ids)[1], store.attribute_names


def fit_directions_from_store(store_url: str, config: DirectionsConfig = DirectionsConfig(),
                              storage_options: Mapping[str, Any] | None = None,
                              read: ReadConfig = ReadConfig()) -> Directions:
    """Directions of every attribute of the store, in the first m components of its space."""
    space = load_space(store_url, storage_options)
    coefficients, labels, names = training_coefficients(store_url, space, storage_options, read)
    return fit_directions(coefficients, labels, names, space, config)


# ---- Prefect tasks ------------------------------------------------------------------------------

@task(name="fit-directions", cache_policy=NO_CACHE)
def fit_directions_task(store_url: str, config: DirectionsConfig, storage_options: Mapping[str, Any] | None = None,
                        read: ReadConfig = ReadConfig()) -> Directions:
    directions = fit_directions_from_store(store_url, config, storage_options, read)
    get_run_logger().info(directions_line(directions_summary(directions)))
    return directions


def directions_line(summary: Mapping[str, Any]) -> str:
    """The fit in one readable line (the summary dict itself goes into the report, not the console)."""
    debias = f", debiased against {'/'.join(summary['debias'])}" if summary["debias"] else ""
    return (f"directions: {len(summary['attributes'])} attributes ({', '.join(summary['attributes'])}) in "
            f"{summary['m']} components by {summary['method']}{debias}; largest |cosine| between two: "
            f"{summary['max_abs_cosine_between']:.2f}")


@task(name="save-directions", cache_policy=NO_CACHE)
def save_directions_task(directions: Directions, store_url: str,
                         storage_options: Mapping[str, Any] | None = None) -> str:
    return save_directions(directions, store_url, storage_options, DIRECTIONS_GROUP)
