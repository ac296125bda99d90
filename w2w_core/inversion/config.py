"""How an image is inverted: the settings of the optimisation over the space's coefficients (light: no torch)."""
from __future__ import annotations

from dataclasses import dataclass

from w2w_core.errors import InputError
from w2w_core.world.prompts import INSTANCE_PROMPT


@dataclass(frozen=True)
class InversionConfig:
    """The reference recipe by default (Adam lr 0.1, 400 steps); options measured in docs/benchmarks.md."""

    m: int | None = None  # leading components optimised (None: all of the space's, at most 10,000)
    steps: int = 400  # optimisation steps (out-of-distribution images: the reference uses 800)
    learning_rate: float = 0.1  # Adam step size on β (the reference: 0.1; 1.0 for out-of-distribution)
    samples_per_step: int = 1  # noise draws of the image per step (the reference: 1)
    clamp: float | None = None  # keep |β_i - mean_i| within this many training stds (None: no clamp, as the reference)
    prompt: str = INSTANCE_PROMPT
    seed: int = 0  # noise and timesteps

    def __post_init__(self) -> None:
        if self.steps < 1 or self.samples_per_step < 1 or not self.learning_rate > 0:
            raise InputError(f"steps and samples_per_step must be >= 1 and learning_rate > 0; got {self.steps}, "
                             f"{self.samples_per_step}, {self.learning_rate}")
        if self.m is not None and self.m < 1 or self.clamp is not None and not self.clamp > 0:
            raise InputError(f"m must be >= 1 and clamp > 0; got m={self.m}, clamp={self.clamp}")
