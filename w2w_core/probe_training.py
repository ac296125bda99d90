"""Training and held-out evaluation of the probe; `python -m w2w_core.probe_training` retrains it.

The probe learns from renders of train identities with three losses on one
trunk:
  - attributes: binary cross-entropy on the 10 world attributes;
  - identity: CosFace over the train identities, s * (cos(e, w_y) - m)
    (Wang et al. 2018), which pulls renders of one identity together on the
    unit sphere;
  - parameters: the unit embedding linearly regresses the identity's
    standardised face parameters, so the embedding encodes *what makes a
    face this face* and transfers to identities never seen in training.
Augmentation (shift/scale, Gaussian blur, noise, colour jitter) makes it
robust to the blurrier, noisier images a tiny diffusion model generates.
Evaluation is on held-out identities (seed % 10 == 9), never trained on.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from w2w_core.probe import ASSET_DIR, Probe, ProbeConfig, embed_images, images_to_input, predict_attributes, save_probe
from w2w_core.world import ATTRIBUTES, attribute_vector, heldout_seeds, make_identity, render_identities, train_seeds


@dataclass(frozen=True)
class ProbeTrainConfig:
    """How the shipped probe is trained (defaults = the shipped weights)."""

    seed: int = 0                   # torch and batch-order seed
    n_identities: int = 2000        # train identities (classes of the identity loss)
    images_per_identity: int = 16   # renders per train identity (nuisance variation)
    steps: int = 1200               # optimiser steps
    batch: int = 128                # images per step
    lr: float = 3e-3                # AdamW peak learning rate (one-cycle schedule)
    weight_decay: float = 1e-4      # AdamW weight decay
    cosface_scale: float = 16.0     # s of the CosFace logits
    cosface_margin: float = 0.2     # m subtracted from the true-class cosine
    param_weight: float = 1.0       # weight of the parameter-regression loss
    id_weight: float = 1.0          # weight of the CosFace identity loss
    blur_sigmas: tuple[float, ...] = (0.0, 0.5, 0.8, 1.1)  # Gaussian blur levels drawn per image
    max_noise: float = 0.08         # largest additive noise std (in [-1, 1] units)
    probe: ProbeConfig = field(default_factory=ProbeConfig)  # architecture
    eval_identities: int = 200      # held-out identities for the metrics
    eval_images: int = 5            # renders per identity per side of the retrieval test


# ---------------------------------------------------------------- augmentation

def _gaussian_kernel(sigma: float) -> torch.Tensor:
    r = np.arange(-2, 3, dtype=np.float32)
    k = np.exp(-(r ** 2) / (2 * sigma ** 2))
    return torch.from_numpy(k / k.sum())


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable 5-tap Gaussian blur of [N, 3, H, W] (edges replicated)."""
    if sigma <= 0:
        return x
    k = _gaussian_kernel(sigma)
    x = F.pad(x, (2, 2, 2, 2), mode="replicate")
    x = F.conv2d(x, k.view(1, 1, 1, 5).repeat(3, 1, 1, 1), groups=3)
    return F.conv2d(x, k.view(1, 1, 5, 1).repeat(3, 1, 1, 1), groups=3)


def augment(x: torch.Tensor, cfg: ProbeTrainConfig, gen: torch.Generator) -> torch.Tensor:
    """Random shift/scale, blur level, colour jitter and noise, drawn per image."""
    n = len(x)
    rand = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    theta = torch.zeros(n, 2, 3)
    scale = 1 + (rand(n) - 0.5) * 0.1
    theta[:, 0, 0] = theta[:, 1, 1] = scale
    theta[:, :, 2] = (rand(n, 2) - 0.5) * 0.15                 # about +-1.2 px
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    level = torch.randint(len(cfg.blur_sigmas), (n,), generator=gen)
    x = torch.stack([blur(x, s) for s in cfg.blur_sigmas])[level, torch.arange(n)]
    gain = 1 + (rand(n, 3, 1, 1) - 0.5) * 0.12
    offset = (rand(n, 3, 1, 1) - 0.5) * 0.12
    x = x * gain + offset
    noise = rand(n, 1, 1, 1) * cfg.max_noise * (rand(n, 1, 1, 1) < 0.6)
    return (x + noise * torch.randn(x.shape, generator=gen)).clamp(-1, 1)


def degrade(images: np.ndarray, blur_sigma: float = 0.8, noise_std: float = 0.04, seed: int = 0) -> np.ndarray:
    """uint8 renders blurred and noised like a tiny diffusion model's samples (noise in [0, 1] units)."""
    x = blur(images_to_input(images, images.shape[1]), blur_sigma)
    gen = torch.Generator().manual_seed(seed)
    x = x + 2 * noise_std * torch.randn(x.shape, generator=gen)
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).numpy()


# ---------------------------------------------------------------- data

def _train_data(cfg: ProbeTrainConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Renders uint8 [M, S, S, 3], identity labels [M], attributes [M, A], standardised params [M, P]."""
    ids = [make_identity(s) for s in train_seeds(cfg.n_identities)]
    images = render_identities(ids, cfg.images_per_identity, cfg.probe.image_size, variation_seed=1)
    k = cfg.images_per_identity
    labels = np.repeat(np.arange(len(ids)), k)
    attrs = np.repeat(np.stack([attribute_vector(i) for i in ids]), k, axis=0).astype(np.float32)
    params = np.stack([i.params.to_array() for i in ids])
    params = (params - params.mean(0)) / (params.std(0) + 1e-6)
    return images.reshape(-1, *images.shape[2:]), labels, attrs, np.repeat(params, k, axis=0)


class _TrainingHeads(nn.Module):
    """Heads used only in training: CosFace class centres and the parameter regressor."""

    def __init__(self, embed_dim: int, n_classes: int, n_params: int):
        super().__init__()
        self.centres = nn.Parameter(torch.randn(n_classes, embed_dim) * 0.1)
        self.params = nn.Linear(embed_dim, n_params)


def _losses(probe, heads, x, y, a, p, cfg) -> dict[str, torch.Tensor]:
    logits, z = probe.forward_raw(x)
    e = F.normalize(z, dim=1)
    cos = e @ F.normalize(heads.centres, dim=1).T
    cos = cos - cfg.cosface_margin * F.one_hot(y, cos.shape[1])   # CosFace: s (cos - m) on the true class
    return {
        "attr": F.binary_cross_entropy_with_logits(logits, a),
        "id": F.cross_entropy(cfg.cosface_scale * cos, y),
        "param": F.mse_loss(heads.params(e), p),
    }


def train_probe(config: ProbeTrainConfig = ProbeTrainConfig(), progress: bool = True) -> tuple[Probe, dict]:
    """Train a probe from scratch; returns it (eval mode) and its held-out metrics."""
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    start = time.perf_counter()
    images, labels, attrs, params = _train_data(config)
    probe = Probe(config.probe)
    heads = _TrainingHeads(config.probe.embed_dim, config.n_identities, params.shape[1])
    opt = torch.optim.AdamW([*probe.parameters(), *heads.parameters()], lr=config.lr,
                            weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=config.lr, total_steps=config.steps, pct_start=0.15)
    probe.train()
    order, history = np.empty(0, dtype=int), []
    bar = tqdm(range(config.steps), disable=not progress, desc="probe")
    for _ in bar:
        if len(order) < config.batch:
            order = np.concatenate([order, rng.permutation(len(images))])
        idx, order = order[:config.batch], order[config.batch:]
        x = augment(images_to_input(images[idx], config.probe.image_size), config, gen)
        parts = _losses(probe, heads, x, torch.from_numpy(labels[idx]), torch.from_numpy(attrs[idx]),
                        torch.from_numpy(params[idx]), config)
        loss = parts["attr"] + config.id_weight * parts["id"] + config.param_weight * parts["param"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        history.append(loss.item())
        bar.set_postfix({k: f"{v.item():.3f}" for k, v in parts.items()})
    probe.eval()
    metrics = heldout_metrics(probe, config.eval_identities, config.eval_images)
    metrics["train_seconds"] = time.perf_counter() - start
    window = max(1, min(10, len(history) // 4))
    metrics["loss_first"], metrics["loss_last"] = float(np.mean(history[:window])), float(np.mean(history[-window:]))
    metrics["config"] = asdict(config)
    return probe, metrics


# ---------------------------------------------------------------- evaluation

def retrieval_scores(query: np.ndarray, gallery: np.ndarray) -> tuple[float, float]:
    """Top-1 accuracy and mean rank percentile of row i of `query` finding row i of `gallery`.

    Rank percentile of i = fraction of the other identities j whose gallery
    entry is less similar (cosine) to query i than its own entry is.
    """
    q = query / np.linalg.norm(query, axis=1, keepdims=True)
    g = gallery / np.linalg.norm(gallery, axis=1, keepdims=True)
    sim = q @ g.T
    own = np.diag(sim)
    n = len(sim)
    below = (sim < own[:, None]).sum(1) / (n - 1)
    return float((sim.argmax(1) == np.arange(n)).mean()), float(below.mean())


def heldout_metrics(probe: Probe, n_identities: int = 200, n_images: int = 5,
                    degrade_images: bool = False, embed=None) -> dict:
    """Attribute accuracy and identity retrieval on held-out identities (renders A vs renders B).

    `embed` (images -> [N, E]) replaces the probe embedding, for baselines.
    """
    ids = [make_identity(s) for s in heldout_seeds(n_identities)]
    side_a = render_identities(ids, n_images, probe.config.image_size, variation_seed=101)
    side_b = render_identities(ids, n_images, probe.config.image_size, variation_seed=202)
    flat_a, flat_b = side_a.reshape(-1, *side_a.shape[2:]), side_b.reshape(-1, *side_b.shape[2:])
    if degrade_images:
        flat_a, flat_b = degrade(flat_a, seed=1), degrade(flat_b, seed=2)
    embed = embed or (lambda im: embed_images(probe, im))
    mean_a = embed(flat_a).reshape(n_identities, n_images, -1).mean(1)
    mean_b = embed(flat_b).reshape(n_identities, n_images, -1).mean(1)
    top1, pct = retrieval_scores(mean_a, mean_b)
    truth = np.repeat(np.stack([attribute_vector(i) for i in ids]), n_images, axis=0)
    acc = (predict_attributes(probe, flat_a) == truth).mean(0)
    return {"attribute_accuracy": dict(zip(ATTRIBUTES, acc.round(4).tolist())),
            "mean_attribute_accuracy": float(acc.mean()),
            "retrieval_top1": top1, "retrieval_rank_percentile": pct,
            "n_identities": n_identities, "n_images": n_images, "degraded": degrade_images}


def main() -> None:
    """Retrain the shipped probe into w2w_core/assets/probe/ and print its held-out metrics."""
    import json

    torch.set_num_threads(1)
    probe, metrics = train_probe(ProbeTrainConfig())
    save_probe(probe, ASSET_DIR)
    metrics["degraded_metrics"] = heldout_metrics(probe, degrade_images=True)
    (ASSET_DIR / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if k != "config"}, indent=2))


if __name__ == "__main__":
    main()
