"""How an identity is fine-tuned: every setting of a Dreambooth-LoRA run, and what it returns.

Light on purpose (NumPy and dataclasses only): the CLI takes its option
defaults from these fields without importing torch.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from w2w_core.errors import InputError
from w2w_core.lora.layout import LoraLayout, LoraSpec
from w2w_core.world.prompts import CLASS_PROMPT, INSTANCE_PROMPT

TRAINERS = ("batched", "single")  # the variants in w2w_core/finetune/, one module each
# Fields added after stores were trained, with the value those stores were trained with: a record leaves
# such a field out at that value, so an older store's record and its rows' config hashes stay valid.
TORCH_ADAM_EPS = 1e-8  # torch.optim.AdamW's default eps: every store before the adam_eps field was trained with it
ADDED_FIELDS: dict[str, Any] = {"adam_eps": TORCH_ADAM_EPS}


@dataclass(frozen=True)
class FinetuneConfig:
    """One identity's Dreambooth-LoRA run (paper Sec. 3.1), the same for every identity of a dataset."""

    steps: int = 200  # optimisation steps (measured: 200 keep identity fidelity, ~19 s on 2 CPU cores)
    learning_rate: float = 1e-2  # rank-1 factors of a tiny model take a large step size
    images_per_step: int = 10  # the identity's images in each step (all of them are reused every step)
    instance_prompt: str = INSTANCE_PROMPT  # binds the identity to the rare token "sks"
    class_prompt: str = CLASS_PROMPT  # prompt of the prior-preservation images
    prior_weight: float = 0.0  # weight of the prior-preservation loss; 0 turns it off
    n_class_images: int = 10  # class images the base model generates for prior preservation
    seed: int = 0  # noise, timesteps and class images
    adam_eps: float = TORCH_ADAM_EPS  # AdamW's eps; larger damps the steps of factors the images barely
    # drive, which otherwise wander as fine-tune noise (measured: docs/benchmarks.md, "Fine-tune noise by recipe")
    trainer: str = "batched"  # which variant trains (TRAINERS): K identities per step, or one per run
    lora: LoraSpec = field(default_factory=LoraSpec)

    def __post_init__(self) -> None:
        if self.steps < 1 or self.images_per_step < 1:
            raise InputError(f"steps and images_per_step must be positive, got {self.steps} and "
                             f"{self.images_per_step}")
        if not self.learning_rate > 0:
            raise InputError(f"learning_rate must be positive, got {self.learning_rate}")
        if not self.adam_eps > 0:
            raise InputError(f"adam_eps must be positive, got {self.adam_eps}")
        if self.trainer not in TRAINERS:
            raise InputError(f"unknown trainer {self.trainer!r}: choose one of {', '.join(TRAINERS)}")

    def record(self) -> dict[str, Any]:
        """The fields a store records, without an added field at the value older stores were trained with."""
        return {k: v for k, v in asdict(self).items() if not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}


@dataclass(frozen=True)
class FinetuneResult:
    """One trained identity: θ and how its run went."""

    vector: np.ndarray  # θ, flattened in layout order
    layout: LoraLayout
    final_loss: float  # mean loss over the last 10% of steps
    steps: int
    seconds: float
