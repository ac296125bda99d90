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

    python -m benchmarks.inversion --heldout 24
    python -m benchmarks.inversion --heldout 24 --m 50,200,all --steps 400
"""
from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from benchmarks.harness import (
    heldout_models,
    models_id_score,
    parse,
    parser,
    print_table,
    recorded_finetune_config,
    reference_centroids,
    set_threads,
    write_json,
    zoo_with_space,
)
from tasks.config import PicturesConfig
from w2w_core.evaluate import Reader, renders
from w2w_core.inversion.config import InversionConfig

STYLES = ("photo", "painting")


def invert_timed(base, space, layout, images: np.ndarray, config) -> tuple[np.ndarray, float]:
    """The inverted models [n, d] and the seconds per image."""
    from w2w_core.inversion.optimise import invert

    started = time.perf_counter()
    vectors = np.stack([r.vector for r in invert(base, space, layout, images, config, progress=False)])
    return vectors, (time.perf_counter() - started) / len(images)


def arguments():
    p = parser(__doc__)
    p.add_argument("--zoo", default=None, help="store with or without a space (default: the embedded zoo)")
    p.add_argument("--heldout", type=int, default=24, help="held-out identities inverted")
    p.add_argument("--m", default="default", help="components optimised, comma-separated ('default': the recipe's)")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (default: the recipe's, "
                   f"{InversionConfig.steps})")
    p.add_argument("--images", type=int, default=PicturesConfig.images_per_model, help="images per model")
    p.add_argument("--clamp", type=float, default=InversionConfig.clamp,
                   help="clamp coefficients to this many training stds")
    p.add_argument("--prior-weight", type=float, default=InversionConfig.prior_weight,
                   help="prior preservation weight (0: off)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write every number here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from storage.space_store import load_space
    from storage.weight_store import WeightStore
    from tasks.models import base_model_for
    from w2w_core.finetune.trainer import finetune_identities
    from w2w_core.lora.layout import LoraLayout

    set_threads(args.threads)
    zoo = zoo_with_space(args.zoo)
    space, reader = load_space(zoo), Reader.load()
    held, rows, seeds = heldout_models(zoo, args.heldout)
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
        single = np.stack([r.vector for r in finetune_identities(base, [im[None] for im in inputs], finetune,
                                                                 progress=False)])
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
        print_style(results, style)
    write_json(args.json, results)


def print_style(results: dict, style: str) -> None:
    row, multi = results["styles"][style], results["multi_image"]
    print(f"\nzoo: {results['models']} models, k={results['k']}; {results['heldout']} held-out identities, one {style} "
          f"each; render ceiling {results['render_ceiling']:.3f}")
    rows = [("multi-image LoRA (all renders)", f"{multi:.3f}", "1.00", "", ""),
            ("1-image LoRA", f"{row['single_image']:.3f}", f"{row['single_image'] / multi:.2f}", "", "")]
    rows += [(f"w2w inversion, m={m}", f"{r['id_score']:.3f}", f"{r['id_score'] / multi:.2f}",
              f"{r['seconds_per_image_alone']:.1f}", f"{r['seconds_per_image_batched']:.1f}")
             for m, r in row["w2w"].items()]
    print_table(["model", "ID score", "vs multi-image", "s/image alone", "s/image batched"], rows)


if __name__ == "__main__":
    main()
