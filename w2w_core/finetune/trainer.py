"""The one way in to fine-tuning: pick the variant named by `FinetuneConfig.trainer`, run it.

Every variant module has `train(base, image_sets, config, progress)`, which
returns one outcome per identity: its FinetuneResult, or the W2WError that
ended that identity (its images unusable, its loss diverged) while the others
went on.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType

import numpy as np

from w2w_core.base_model import BaseModel
from w2w_core.errors import W2WError
from w2w_core.finetune import batched, single
from w2w_core.finetune.config import FinetuneConfig, FinetuneResult

VARIANTS: dict[str, ModuleType] = {"batched": batched, "single": single}


def finetune_identities(base: BaseModel, image_sets: Sequence[np.ndarray], config: FinetuneConfig,
                        progress: bool = True) -> list[FinetuneResult | W2WError]:
    """Train one rank-1 LoRA per identity (uint8 [N, H, W, 3] images each) with `config.trainer`."""
    return VARIANTS[config.trainer].train(base, image_sets, config, progress)


def finetune_identity(base: BaseModel, images: np.ndarray, config: FinetuneConfig,
                      progress: bool = True) -> FinetuneResult:
    """Train one identity; raise its error if it failed."""
    [outcome] = finetune_identities(base, [images], config, progress)
    if isinstance(outcome, W2WError):
        raise outcome
    return outcome
