"""The one way in to fine-tuning: pick the variant named by `FinetuneConfig.trainer`, run it.

Every variant module has `train(base, image_sets, config, progress, on_step)`, which
returns one outcome per identity: its FinetuneResult, or the W2WError that
ended that identity (its images unusable, its loss diverged) while the others
went on. `on_step(done, total)` is called after every optimisation step with
the identity-steps done so far (identities x steps in all): how a caller shows
progress somewhere else, such as the store a watching command reads.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType

import numpy as np

from w2w_core.base_model import BaseModel
from w2w_core.errors import W2WError
from w2w_core.finetune import batched, single
from w2w_core.finetune.config import FinetuneConfig, FinetuneResult

VARIANTS: dict[str, ModuleType] = {"batched": batched, "single": single}
StepCallback = Callable[[int, int], None]  # (identity-steps done, identity-steps in all)


def finetune_identities(base: BaseModel, image_sets: Sequence[np.ndarray], config: FinetuneConfig,
                        progress: bool = True, on_step: StepCallback | None = None) -> list[FinetuneResult | W2WError]:
    """Train one rank-1 LoRA per identity (uint8 [N, H, W, 3] images each) with `config.trainer`."""
    return VARIANTS[config.trainer].train(base, image_sets, config, progress, on_step)


def finetune_identity(base: BaseModel, images: np.ndarray, config: FinetuneConfig,
                      progress: bool = True) -> FinetuneResult:
    """Train one identity; raise its error if it failed."""
    [outcome] = finetune_identities(base, [images], config, progress)
    if isinstance(outcome, W2WError):
        raise outcome
    return outcome
