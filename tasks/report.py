"""The pictures and numbers at the end of `w2w run`: what the dataset and the space hold.

Each row of report.png is one identity model: dataset rows show the
identity's training renders beside what its stored LoRA generates and what
its projection onto the w2w space generates; sampled rows are new identity
models drawn from the space (paper Sec. 4.1). Plain functions first (usable
without Prefect), then the thin Prefect task.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.files import write_atomic
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.config import ReportConfig
from w2w_core import world
from w2w_core.base_model import BaseModel, load_base_model
from w2w_core.evaluate import fidelity_percentiles, identity_centroids
from w2w_core.generate import generate_with_lora
from w2w_core.lora.layout import LoraLayout
from w2w_core.probe import embed_images, load_probe
from w2w_core.space import Space, project, reconstruct, sample


def _generate(base: BaseModel, vector: np.ndarray, layout: LoraLayout, n: int, seed: int) -> np.ndarray:
    return generate_with_lora(base, vector.astype(np.float32), layout, world.INSTANCE_PROMPT, n, seed=seed)


def dataset_rows(base: BaseModel, store: WeightStore, space: Space, config: ReportConfig) -> dict[str, np.ndarray]:
    """Training renders, images from the stored LoRA and from its projection onto the space."""
    rows = store.done_rows()[: config.n_dataset_rows]
    layout = LoraLayout.from_dict(store.layout)
    seeds = store.identity_seeds(rows)
    vectors = store.read_rows(rows).astype(np.float32)
    projected = np.asarray(reconstruct(space, project(space, vectors)), np.float32)
    n = config.images_per_model
    return {
        "training": np.stack([world.render_identity(world.make_identity(int(s)), n, base.image_size) for s in seeds]),
        "lora": np.stack([_generate(base, v, layout, n, config.seed) for v in vectors]),
        "space": np.stack([_generate(base, v, layout, n, config.seed) for v in projected]),
    }


def sampled_rows(base: BaseModel, layout: LoraLayout, space: Space, config: ReportConfig) -> np.ndarray:
    vectors = sample(space, config.n_samples, np.random.default_rng(config.seed))
    return np.stack([_generate(base, v, layout, config.images_per_model, config.seed) for v in vectors])


def fidelity(images: dict[str, np.ndarray]) -> dict[str, float]:
    """Mean probe rank percentile of each generated set against the training renders (1.0: perfect)."""
    probe = load_probe()

    def centroids(per_model: np.ndarray) -> np.ndarray:  # [models, images, H, W, 3] -> [models, E]
        return identity_centroids(embed_images(probe, per_model.reshape(-1, *per_model.shape[2:])), len(per_model))

    reference = centroids(images["training"])
    return {name: float(fidelity_percentiles(centroids(images[name]), reference).mean()) for name in ("lora", "space")}


def figure(images: dict[str, np.ndarray], samples: np.ndarray, space: Space):
    """One labelled picture: a row per identity model, and the explained variance of the space."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    strips = [(f"identity {i}: training | LoRA | space", np.concatenate([images[k][i] for k in ("training", "lora", "space")]))
              for i in range(len(images["training"]))]
    strips += [(f"sampled identity {i}", samples[i]) for i in range(len(samples))]
    fig, axes = plt.subplots(len(strips) + 1, 1, figsize=(9, 1.3 * len(strips) + 3))
    for axis, (title, strip) in zip(axes, strips):
        axis.imshow(np.concatenate(list(strip), axis=1), interpolation="nearest")
        axis.set_title(title, fontsize=8, loc="left")
        axis.axis("off")
    axes[-1].plot(np.arange(1, space.k + 1), np.cumsum(space.explained_variance_ratio), marker="o")
    axes[-1].set(xlabel="components", ylabel="cumulative explained variance", ylim=(0, 1))
    fig.tight_layout()
    return fig


def write_report(store_url: str, out: Path, config: ReportConfig) -> dict:
    """report.png and report.json in `out`, from the store's done rows and its fitted space."""
    base, store, space = load_base_model(), WeightStore.open(store_url, read_only=True), load_space(store_url)
    images = dataset_rows(base, store, space, config)
    samples = sampled_rows(base, LoraLayout.from_dict(store.layout), space, config)
    buffer = io.BytesIO()
    figure(images, samples, space).savefig(buffer, format="png", dpi=110)
    write_atomic(out / "report.png", buffer.getvalue())
    summary = {"store": store_url, "counts": store.counts(), "k": space.k,
               "explained_variance": float(space.explained_variance_ratio.sum()),
               "fidelity_rank_percentile": fidelity(images), "report": str(out / "report.png")}
    write_atomic(out / "report.json", json.dumps(summary, indent=2).encode())
    return summary


# ---- Prefect task -------------------------------------------------------------------------------

@task(name="write-report", cache_policy=NO_CACHE)
def write_report_task(store_url: str, out: str, config: ReportConfig) -> dict:
    return write_report(store_url, Path(out), config)
