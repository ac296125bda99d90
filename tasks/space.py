"""Prefect tasks around the w2w space: fit it over the store, save it next to the weights."""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from storage.boundary import redact_url
from storage.dask_matrix import ReadConfig, ZarrRowMatrix
from storage.space_store import save_space
from w2w_core.pca import PCAConfig, PassRecord, fit_pca, planned_passes
from w2w_core.space import Space, space_from_fit


def _pass_reporter(total: int, log: Callable[[str], None]) -> tuple[Callable[[PassRecord], None], tqdm]:
    """One tqdm bar over the passes, and one log line per finished pass."""
    bar = tqdm(total=total, desc="space fit", unit="pass")

    def report(record: PassRecord) -> None:
        bar.update(1)
        rate = record.bytes_read / max(record.seconds, 1e-9) / 1e9
        log(f"pass {record.index}/{total} {record.label}: {record.seconds:.1f} s, "
            f"{record.bytes_read / 1e9:.2f} GB read ({rate:.2f} GB/s)")

    return report, bar


def fit_space_from_store(store_url: str, config: PCAConfig, backend: str = "numpy",
                         storage_options: Mapping[str, Any] | None = None, read: ReadConfig = ReadConfig(),
                         log: Callable[[str], None] = print) -> Space:
    """Fit the space on the done rows of the store at `store_url` (usable without Prefect)."""
    started = time.perf_counter()
    with ZarrRowMatrix(store_url, storage_options, backend, read) as matrix:
        total = planned_passes(config, matrix)
        log(f"fitting k={config.k} on {matrix!r}: at most {total} passes")
        report, bar = _pass_reporter(total, log)
        try:
            fit = fit_pca(matrix, config, on_pass=report)
        finally:
            bar.close()
        fit_config = {
            **config.as_dict(), "method": fit.method, "backend": backend, "store_url": redact_url(store_url),
            "n_rows": matrix.n_rows, "n_params": matrix.n_cols, "seconds": time.perf_counter() - started,
            "passes": [{"label": r.label, "seconds": r.seconds, "bytes_read": r.bytes_read}
                       for r in fit.passes],
        }
        return space_from_fit(fit, matrix.row_ids, fit_config)


@task(name="fit-space", cache_policy=NO_CACHE)
def fit_space_task(store_url: str, config: PCAConfig, backend: str = "numpy",
                   storage_options: Mapping[str, Any] | None = None,
                   read: ReadConfig = ReadConfig()) -> Space:
    """Fit the space over the store's done rows, logging every pass to the Prefect run log."""
    logger = get_run_logger()
    return fit_space_from_store(store_url, config, backend, storage_options, read, logger.info)


@task(name="save-space", cache_policy=NO_CACHE)
def save_space_task(space: Space, url: str, storage_options: Mapping[str, Any] | None = None,
                    group: str | None = "space") -> str:
    """Write the space as a zarr group (`space/` under the store by default); returns its URL."""
    return save_space(space, url, storage_options, group)
