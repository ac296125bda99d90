"""Bar: one identity fine-tunes in <= 30 s; its LoRA's images look like it (probe rank percentile).

For each held-out identity: fine-tune on its 10 renders, generate images with
the instance prompt, and rank the identity's own training images among all
identities' by probe-embedding similarity (1.0 = closer to itself than to
every other identity). Baseline in the same run: the base model with the same
prompt and seeds, which knows no identity (expected ~0.5).

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m benchmarks.identity_fidelity --n-identities 50
"""
from __future__ import annotations

import numpy as np

from benchmarks.harness import parse, parser, set_threads
from w2w_core.evaluate import fidelity_percentiles, identity_centroids
from w2w_core.finetune.config import FinetuneConfig


def arguments():
    p = parser(__doc__, raw=True)
    p.add_argument("--n-identities", type=int, default=50)
    p.add_argument("--steps", type=int, default=FinetuneConfig.steps)
    p.add_argument("--n-generated", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--model", default=None, help="diffusers model folder (default: the embedded one)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    set_threads(args.threads)
    import torch

    from w2w_core import world
    from w2w_core.base_model import load_base_model
    from w2w_core.finetune.trainer import finetune_identity
    from w2w_core.generate import generate_images, generate_with_lora
    from w2w_core.probe import embed_images, load_probe

    base, probe = load_base_model(args.model), load_probe()
    seeds = world.heldout_seeds(args.n_identities)
    train_images, lora_images, base_images, seconds = [], [], [], []
    for i, seed in enumerate(seeds):
        images = world.render_identity(world.make_identity(seed), 10, base.image_size)
        result = finetune_identity(base, images, FinetuneConfig(steps=args.steps), progress=False)
        seconds.append(result.seconds)
        train_images.append(images)
        lora_images.append(generate_with_lora(base, result.vector, result.layout, world.INSTANCE_PROMPT,
                                              args.n_generated, seed=seed))
        base_images.append(generate_images(base, world.INSTANCE_PROMPT, args.n_generated, seed=seed))
        print(f"identity {i + 1}/{len(seeds)} seed {seed}: {result.seconds:.1f} s, loss {result.final_loss:.4f}",
              flush=True)
    n = len(seeds)

    def centroids(images: list[np.ndarray]) -> np.ndarray:
        return identity_centroids(embed_images(probe, np.concatenate(images)), n)

    references = centroids(train_images)
    rows = {
        "w2w LoRA (instance prompt)": fidelity_percentiles(centroids(lora_images), references),
        "baseline: base model, same prompt": fidelity_percentiles(centroids(base_images), references),
    }
    print(f"\nfine-tune: {np.mean(seconds):.1f} s per identity (max {np.max(seconds):.1f}), {args.steps} steps, "
          f"{torch.get_num_threads()} threads")
    print(f"{'model':36s} {'mean rank pct':>14s} {'share >= 0.9':>13s}")
    for name, pct in rows.items():
        print(f"{name:36s} {pct.mean():14.3f} {np.mean(pct >= 0.9):13.3f}")
    lora, baseline = (p.mean() for p in rows.values())
    print(f"ratio LoRA / baseline mean rank percentile: {lora / baseline:.2f}")


if __name__ == "__main__":
    main()
