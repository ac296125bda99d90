"""The `invert-images` flow: images into identity models of a store's w2w space (paper Sec. 3.4)."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from prefect import flow

from flows.names import inversion_run
from tasks.credentials import refuse_secrets_in_parameters
from tasks.inversion import invert_images_task
from w2w_core.inversion.config import InversionConfig


@flow(name="invert-images", flow_run_name=inversion_run)
def invert_images(paths: Sequence[str], store_url: str, out: str, config: InversionConfig = InversionConfig(),
                  mask_paths: Sequence[str | None] | None = None,
                  storage_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One LoRA file and its coefficients per image, under `out`."""
    refuse_secrets_in_parameters(storage_options)
    return invert_images_task(list(paths), store_url, out, config, mask_paths, storage_options)
