"""Bars (issue 12): single-image inversion into the zoo's space against Dreambooth-LoRA baselines.

From one render of each held-out identity (never in the zoo), and from one
painting of it (out of distribution), three models are made:

  w2w          the space's coefficients optimised on the one image (the reference recipe by default)
  1-image      a rank-1 LoRA fine-tuned on the same one image (the zoo's recipe)
  multi-image  the identity's own fine-tune on all its renders (the held-out store's row)

Each model's images (the same noise for all) are scored by the probe against
other renders of the identity (new position, light and background): the ID
score, a mean cosine, with the render ceiling beside it (renders of the
identity against those same other renders). Seconds per image: w2w inversion
of one image alone and of all of them batched.

    python benchmarks/inversion.py --heldout 24
    python benchmarks/inversion.py --heldout 24 --m 50,200,all --steps 400
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.editing import (
    Reader,
    heldout_store,
    recorded_finetune_config,
    zoo_with_space,
)

STYLES = ("photo", "painting")


def renders(seeds: list[int], n: int, style: str = "photo", variation_seed: int = 0) -> np.ndarray:
    from w2w_core import world

    return np.stack([world.render_identity(world.make_identity(s), n, 32, style, variation_seed) for s in seeds])


def id_scores(reader: Reader, images: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per model: the mean cosine of its images' probe embeddings to its identity's reference centroid."""
    from w2w_core.evaluate import centroid_cosines

    return centroid_cosines(reader.read(images)[1], reference)


def models_id_score(reader: Reader, base, vectors: np.ndarray, layout, pictures, reference: np.ndarray) -> float:
    """The mean ID score of the models `vectors`: their images against their identities' reference centroids."""
    from tasks.models import model_images

    return float(id_scores(reader, model_images(base, vectors, layout, pictures), reference).mean())


def reference_centroids(reader: Reader, seeds: list[int], n: int) -> tuple[np.ndarray, float]:
    """Unit centroids of other renders of each identity (variation 1), and the render ceiling: renders with
    yet other nuisance (variation 2) scored against them."""
    from benchmarks.sampling import centroids as unit_centroids

    centroids = unit_centroids(reader.read(renders(seeds, n, variation_seed=1))[1])
    return centroids, float(id_scores(reader, renders(seeds, n, variation_seed=2), centroids).mean())


def invert_timed(base, space, layout, images: np.ndarray, config) -> tuple[np.ndarray, float]:
    """The inverted models [n, d] and the seconds per image."""
    from w2w_core.inversion.optimise import invert

    started = time.perf_counter()
    vectors = np.stack([r.vector for r in invert(base, space, layout, images, config, progress=False)])
    return vectors, (time.perf_counter() - started) / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default=None, help="store with or without a space (default: the embedded zoo)")
    parser.add_argument("--heldout", type=int, default=24, help="held-out identities inverted")
    parser.add_argument("--m", default="default", help="components optimised, comma-separated ('default': the recipe's)")
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the recipe's)")
    parser.add_argument("--images", type=int, default=4, help="images per model")
    parser.add_argument("--clamp", type=float, default=None, help="clamp coefficients to this many training stds")
    parser.add_argument("--prior-weight", type=float, default=0.0, help="prior preservation weight (0: off)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write every number here")
    args = parser.parse_args()
    import torch

    from storage.space_store import load_space
    from storage.weight_store import WeightStore
    from tasks.config import ZOO_DIR, PicturesConfig
    from tasks.models import base_model_for
    from w2w_core.finetune.trainer import finetune_identities
    from w2w_core.inversion.config import InversionConfig
    from w2w_core.lora.layout import LoraLayout

    torch.set_num_threads(args.threads)
    zoo = zoo_with_space(args.zoo or str(ZOO_DIR), ROOT / "runs")
    space, reader = load_space(zoo), Reader()
    held = WeightStore.open(heldout_store(zoo, ROOT / "runs" / "heldout-store", args.heldout), read_only=True)
    rows = held.done_rows()[: args.heldout]
    seeds = [int(s) for s in held.identity_seeds(rows)]
    layout = LoraLayout.from_dict(held.layout)
    base, pictures = base_model_for(layout), PicturesConfig(images_per_model=args.images, seed=3)
    finetune = recorded_finetune_config(WeightStore.open(zoo, read_only=True).train_config["finetune"])
    reference, ceiling = reference_centroids(reader, seeds, args.images)

    def score(vectors: np.ndarray) -> float:
        return models_id_score(reader, base, vectors, layout, pictures, reference)

    results = {"models": len(space.row_ids), "k": space.k, "heldout": len(rows), "render_ceiling": ceiling,
               "clamp": args.clamp, "prior_weight": args.prior_weight,
               "multi_image": score(held.read_rows(rows).astype(np.float32)), "styles": {}}
    for style in STYLES:
        inputs = renders(seeds, 1, style)[:, 0]
        single = np.stack([r.vector for r in finetune_identities(base, [im[None] for im in inputs], finetune, progress=False)])
        row = {"single_image": score(single), "w2w": {}}
        for m in args.m.split(","):
            config = InversionConfig(m=None if m == "default" else (space.k if m == "all" else int(m)))
            config = replace(config, clamp=args.clamp, prior_weight=args.prior_weight,
                             **({} if args.steps is None else {"steps": args.steps}))
            vectors, batched_seconds = invert_timed(base, space, layout, inputs, config)
            _, alone_seconds = invert_timed(base, space, layout, inputs[:1], config)
            row["w2w"][m] = {"id_score": score(vectors), "seconds_per_image_batched": batched_seconds,
                             "seconds_per_image_alone": alone_seconds}
        results["styles"][style] = row
        print_table(results, style)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


def print_table(results: dict, style: str) -> None:
    row, multi = results["styles"][style], results["multi_image"]
    print(f"\nzoo: {results['models']} models, k={results['k']}; {results['heldout']} held-out identities, one {style} each; "
          f"render ceiling {results['render_ceiling']:.3f}")
    print("| model | ID score | vs multi-image | s/image alone | s/image batched |")
    print("|---|---:|---:|---:|---:|")
    print(f"| multi-image LoRA (all renders) | {multi:.3f} | 1.00 | | |")
    print(f"| 1-image LoRA | {row['single_image']:.3f} | {row['single_image'] / multi:.2f} | | |")
    for m, r in row["w2w"].items():
        print(f"| w2w inversion, m={m} | {r['id_score']:.3f} | {r['id_score'] / multi:.2f} | "
              f"{r['seconds_per_image_alone']:.1f} | {r['seconds_per_image_batched']:.1f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
