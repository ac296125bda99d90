"""The w2w space over the weight store: fit it, save it beside the weights, plot it.

Plain functions first (usable without Prefect), then the thin Prefect tasks.
"""
from __future__ import annotations

import io
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

from storage.boundary import redact_url
from storage.dask_matrix import ZarrRowMatrix
from storage.files import write_atomic
from storage.format import SPACE_GROUP
from storage.read_config import ReadConfig
from storage.space_store import save_space
from w2w_core.pca import PassRecord, PCAConfig, fit_pca, planned_passes
from w2w_core.space import Space, default_k, space_from_fit


def _pass_reporter(total: int, log: Callable[[str], None]) -> tuple[Callable[[PassRecord], None], tqdm]:
    """One tqdm bar over the passes, and one log line per finished pass."""
    bar = tqdm(total=total, desc="space fit", unit="pass")

    def report(record: PassRecord) -> None:
        bar.update(1)
        rate = record.bytes_read / max(record.seconds, 1e-9) / 1e9
        log(f"pass {record.index}/{total} {record.label}: {record.seconds:.1f} s, "
            f"{record.bytes_read / 1e9:.2f} GB read ({rate:.2f} GB/s)")

    return report, bar


def fit_space_from_store(store_url: str, config: PCAConfig | None, storage_options: Mapping[str, Any] | None = None,
                         read: ReadConfig = ReadConfig(), log: Callable[[str], None] = print) -> Space:
    """Fit the space on the done rows of the store at `store_url`; config None: default_k of those rows."""
    started = time.perf_counter()
    with ZarrRowMatrix(store_url, storage_options, read) as matrix:
        config = config or PCAConfig(k=default_k(matrix.n_rows))
        total = planned_passes(config, matrix)
        log(f"fitting k={config.k} on {matrix!r}: at most {total} passes")
        report, bar = _pass_reporter(total, log)
        try:
            fit = fit_pca(matrix, config, on_pass=report)
        finally:
            bar.close()
        fit_config = {
            **config.as_dict(), "method": fit.method, "backend": read.backend, "store_url": redact_url(store_url),
            "n_rows": matrix.n_rows, "n_params": matrix.n_cols, "seconds": time.perf_counter() - started,
            "passes": [{"label": r.label, "seconds": r.seconds, "bytes_read": r.bytes_read}
                       for r in fit.passes],
        }
        return space_from_fit(fit, matrix.row_ids, fit_config)


def fit_summary(space: Space, where: str) -> dict[str, Any]:
    """The headline numbers of a fit: where it went, its size, how long it took, what it explains."""
    return {
        "space_url": redact_url(where), "k": space.k, "method": space.fit_config["method"],
        "n_rows": len(space.row_ids), "n_params": space.n_params, "passes": len(space.fit_config["passes"]),
        "seconds": round(space.fit_config["seconds"], 3),
        "explained_variance": float(space.explained_variance_ratio.sum()),
    }


def space_plot(space: Space) -> bytes:
    """PNG bytes: cumulative explained variance and singular values against component index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    index = np.arange(1, space.k + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(index, np.cumsum(space.explained_variance_ratio))
    left.set(xlabel="components k", ylabel="cumulative explained variance", ylim=(0, 1),
             title=f"{space.k} components, {len(space.row_ids)} rows")
    left.grid(alpha=0.3)
    right.semilogy(index, space.singular_values)
    right.set(xlabel="component", ylabel="singular value", title="spectrum")
    right.grid(alpha=0.3, which="both")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    return buffer.getvalue()


def write_space_plot(space: Space, path: Path) -> Path:
    return write_atomic(path, space_plot(space))


# ---- Prefect tasks ------------------------------------------------------------------------------

@task(name="fit-space", cache_policy=NO_CACHE)
def fit_space_task(store_url: str, config: PCAConfig | None, storage_options: Mapping[str, Any] | None = None,
                   read: ReadConfig = ReadConfig()) -> Space:
    """Fit the space over the store's done rows, logging every pass to the Prefect run log."""
    return fit_space_from_store(store_url, config, storage_options, read, get_run_logger().info)


@task(name="save-space", cache_policy=NO_CACHE)
def save_space_task(space: Space, url: str, storage_options: Mapping[str, Any] | None = None,
                    group: str | None = SPACE_GROUP, components_dtype: str = "float32") -> str:
    """Write the space as a zarr group (`space/` under the store by default); returns its URL."""
    return save_space(space, url, storage_options, group, components_dtype)
