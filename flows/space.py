"""The `fit-space` flow: fit the w2w space on the weight store and save it beside the weights."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from prefect import flow

from flows.names import space_run
from storage.format import SPACE_GROUP
from storage.read_config import ReadConfig
from tasks.credentials import refuse_secrets_in_parameters
from tasks.space import fit_space_task, fit_summary, save_space_task
from w2w_core.pca import PCAConfig


@flow(name="fit-space", flow_run_name=space_run)
def fit_space(store_url: str, config: PCAConfig | None = None, read: ReadConfig = ReadConfig(),
              storage_options: Mapping[str, Any] | None = None, space_url: str | None = None,
              components_dtype: str = "float32") -> dict[str, Any]:
    """Fit the space (`config`: k components, PCA route; None: w2w_core.space.default_k of the done rows)
    on the store's done rows and save it.

    read: how the store is read (block size, a Dask scheduler for the kernels, numpy or cupy).
    storage_options: leave None to take S3 credentials from the AWS_* environment (Prefect
    records flow parameters, so secrets passed here would be stored with the run).
    space_url: where to save the space; None: the `space/` group of the store.
    components_dtype: "float16" stores the components in half the bytes (the shipped zoo's space).
    """
    refuse_secrets_in_parameters(storage_options)
    space = fit_space_task(store_url, config, storage_options, read)
    where = save_space_task(space, space_url or store_url, storage_options, None if space_url else SPACE_GROUP,
                            components_dtype)
    return fit_summary(space, where)
