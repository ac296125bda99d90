"""The `batched` trainer: K identities in one forward and backward pass, each with its own rank-1 LoRA.

Every targeted linear layer of the frozen, shared UNet adds each sample's own
identity's factors (w2w_core/lora/batched.py; paper Sec. 3.1, one LoRA per
identity). The loss is the sum
of the identities' own losses, so identity k's gradient is exactly the one it
would get alone; AdamW is elementwise, so the identities never mix. Each
identity starts from the shared init and draws its images, noise and
timesteps from its own generator seeded with `config.seed`, in the same order
as the `single` trainer: it gets the same θ whether it trains alone or in a
batch. An identity whose loss turns non-finite is dropped with its error; the
others go on.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from w2w_core.base_model import BaseModel
from w2w_core.errors import TrainingDivergedError, W2WError
from w2w_core.finetune.config import FinetuneConfig, FinetuneResult
from w2w_core.finetune.objective import class_latents, encode_images, encode_prompt, noisy_inputs
from w2w_core.lora.adapter import ADAPTER, attach_lora, lora_state_dict
from w2w_core.lora.batched import BatchedLora
from w2w_core.lora.layout import LoraLayout


@dataclass
class _Identity:
    """One identity's data, random stream and running record."""

    latents: torch.Tensor
    generator: torch.Generator
    losses: list[float] = field(default_factory=list)
    error: W2WError | None = None


@dataclass(frozen=True)
class _Draw:
    """One step's samples of one identity: noisy latents, timesteps, targets, and which are prior images."""

    noisy: torch.Tensor
    t: torch.Tensor
    noise: torch.Tensor
    n_instance: int


def shared_init(base: BaseModel, config: FinetuneConfig) -> tuple[LoraLayout, dict[str, torch.Tensor]]:
    """The layout and the shared initial factors every identity starts from (peft's seeded init)."""
    unet = base.pipe.unet
    layout = attach_lora(unet, config.lora, base.model_id, base.model_hash)
    try:
        init = {k: v.detach().clone() for k, v in lora_state_dict(unet).items()}
    finally:
        unet.delete_adapters(ADAPTER)
    return layout, init


def draw(base: BaseModel, identity: _Identity, prior: torch.Tensor | None, images_per_step: int) -> _Draw:
    """The step's samples of one identity, drawn in the `single` trainer's order from its generator."""
    pipe, g = base.pipe, identity.generator
    n = min(images_per_step, len(identity.latents))
    index = torch.randperm(len(identity.latents), generator=g)[:n]
    noisy, t, noise = noisy_inputs(pipe, identity.latents[index], g)
    if prior is None:
        return _Draw(noisy, t, noise, n)
    prior_index = torch.randperm(len(prior), generator=g)[:n]
    p_noisy, p_t, p_noise = noisy_inputs(pipe, prior[prior_index], g)
    return _Draw(torch.cat([noisy, p_noisy]), torch.cat([t, p_t]), torch.cat([noise, p_noise]), n)


def identity_losses(base: BaseModel, lora: BatchedLora, draws: dict[int, _Draw], texts: tuple[torch.Tensor, ...],
                    prior_weight: float) -> dict[int, torch.Tensor]:
    """One UNet pass over every identity's samples; each identity's own loss (instance + prior)."""
    instance_text, class_text = texts
    order = sorted(draws)
    stops = np.cumsum([len(draws[k].t) for k in order])
    lora.segments = [(k, int(stop) - len(draws[k].t), int(stop)) for k, stop in zip(order, stops)]
    text = torch.cat([_texts(draws[k], instance_text, class_text) for k in order])
    prediction = base.pipe.unet(torch.cat([draws[k].noisy for k in order]), torch.cat([draws[k].t for k in order]),
                                text).sample
    losses, start = {}, 0
    for k in order:
        d, stop = draws[k], start + len(draws[k].t)
        pred, noise = prediction[start:stop], d.noise
        loss = F.mse_loss(pred[: d.n_instance], noise[: d.n_instance])
        if len(d.t) > d.n_instance:
            loss = loss + prior_weight * F.mse_loss(pred[d.n_instance:], noise[d.n_instance:])
        losses[k], start = loss, stop
    return losses


def _texts(d: _Draw, instance_text: torch.Tensor, class_text: torch.Tensor | None) -> torch.Tensor:
    n_prior = len(d.t) - d.n_instance
    parts = [instance_text[: d.n_instance]] + ([class_text[:n_prior]] if n_prior else [])
    return torch.cat(parts)


def train(base: BaseModel, image_sets: Sequence[np.ndarray], config: FinetuneConfig, progress: bool = True,
          on_step: Callable[[int, int], None] | None = None) -> list[FinetuneResult | W2WError]:
    """Train every identity of `image_sets` together; one outcome per identity, in order."""
    started = time.time()
    pipe = base.pipe
    identities = [_prepare(base, images, config) for images in image_sets]
    prior = (class_latents(pipe, config.class_prompt, config.n_class_images, config.seed)
             if config.prior_weight > 0 else None)
    width = config.images_per_step  # no identity draws more instance or prior images per step
    texts = (encode_prompt(pipe, config.instance_prompt, width),
             encode_prompt(pipe, config.class_prompt, width) if prior is not None else None)
    pipe.unet.requires_grad_(False)
    layout, init = shared_init(base, config)
    lora = BatchedLora(pipe.unet, layout, init, len(identities))
    try:
        _optimise(base, lora, identities, prior, texts, config, progress, on_step)
    finally:
        lora.remove()
    seconds = (time.time() - started) / max(1, len(identities))
    vectors = lora.vectors()
    return [i.error if i.error is not None else
            FinetuneResult(vectors[k], layout, _final_loss(i.losses), config.steps, seconds)
            for k, i in enumerate(identities)]


def _prepare(base: BaseModel, images: np.ndarray, config: FinetuneConfig) -> _Identity:
    """Encode one identity's images; an identity whose images are unusable carries its error."""
    generator = torch.Generator().manual_seed(config.seed)
    try:
        return _Identity(encode_images(base.pipe, images), generator)
    except W2WError as error:
        return _Identity(torch.zeros(0), generator, error=error)


def _optimise(base: BaseModel, lora: BatchedLora, identities: list[_Identity], prior: torch.Tensor | None,
              texts: tuple[torch.Tensor, ...], config: FinetuneConfig, progress: bool,
              on_step: Callable[[int, int], None] | None = None) -> None:
    optimizer = torch.optim.AdamW(lora.parameters(), lr=config.learning_rate, eps=config.adam_eps,
                                  weight_decay=0.0)
    bar = tqdm(range(config.steps), desc=f"finetune x{len(identities)}", disable=not progress, leave=False)
    for step in bar:
        active = {k: i for k, i in enumerate(identities) if i.error is None}
        if not active:
            return
        draws = {k: draw(base, i, prior, config.images_per_step) for k, i in active.items()}
        losses = identity_losses(base, lora, draws, texts, config.prior_weight)
        total = []
        for k, loss in losses.items():
            if torch.isfinite(loss):
                active[k].losses.append(loss.item())
                total.append(loss)
            else:
                active[k].error = TrainingDivergedError(
                    f"fine-tune loss became {loss.item()} at step {step}; lower learning_rate "
                    f"(now {config.learning_rate}) and check the images. Nothing was kept.")
        if total:
            optimizer.zero_grad()
            torch.stack(total).sum().backward()
            optimizer.step()
        bar.set_postfix(loss=f"{np.mean([i.losses[-1] for i in active.values() if i.losses]):.4f}")
        if on_step is not None:  # every identity has taken step + 1 steps (a dropped one counts as done)
            on_step((step + 1) * len(identities), config.steps * len(identities))


def _final_loss(losses: list[float]) -> float:
    """Mean loss over the last 10% of steps (as the `single` trainer reports it)."""
    return float(np.mean(losses[-max(1, len(losses) // 10):]))
