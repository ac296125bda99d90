"""Issue 12 (the paper's Fig. 9 and 10): how directions, edits and inversion change with the number of models.

For each N, a space is fit on the zoo's first N trained models (in memory, the
same PCA as `w2w space fit`, k = default_k(N) = min(1000, N - 1)) and directions on the same
models (least squares, default m = N/5). Per N:

  entanglement  |cos| in weight space between the directions of correlated attributes
                (male-beard, young-bald, male-bald): the paper finds it falls as N grows
  edits         flip and preservation rates of held-out identities edited towards the value
                they lack at `--strength` (the probe reads them; w2w_core.evaluate's scores, as
                benchmarks/editing.py's)
  inversion     ID score of w2w inversion from one render of each held-out identity against
                other renders of it (as benchmarks/inversion.py does), beside two baselines
                that do not depend on N, measured in the same run: a LoRA fine-tuned on that
                one render with the zoo's recipe, and the identity's multi-image LoRA

    python -m benchmarks.scaling --n 100,300,1000,3000 --heldout 12 --plots docs/plots
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from benchmarks.harness import (
    EDITED,
    heldout_models,
    models_id_score,
    parse,
    parser,
    recorded_finetune_config,
    reference_centroids,
    set_threads,
    write_json,
)
from tasks.config import PicturesConfig
from w2w_core.evaluate import Reader, flip_rates, preserved_rate, renders, weight_space_cosines
from w2w_core.inversion.config import InversionConfig

PAIRS = (("male", "beard"), ("young", "bald"), ("male", "bald"))
INVERSION_BASELINES = {"multi_image_lora": "multi-image LoRA", "bar": "the bar: 90 % of multi-image",
                       "single_image_lora": "1-image LoRA", "render_ceiling": "render ceiling"}


def subset_space(weights: np.ndarray, rows: np.ndarray):
    """The space of the first N rows, fit in memory with the store's PCA (k = default_k(N))."""
    from w2w_core.pca import PCAConfig
    from w2w_core.pca.fit import fit_pca
    from w2w_core.pca.operator import ArrayMatrix
    from w2w_core.space import default_k, space_from_fit

    config = PCAConfig(k=default_k(len(rows)))
    return space_from_fit(fit_pca(ArrayMatrix(weights, row_ids=rows), config), rows, config.as_dict())


def edit_rates(ctx: dict, space, directions, strength: float) -> dict[str, float]:
    """Mean over the edited attributes of the flip rate and the preservation of the others."""
    from tasks.models import model_images
    from w2w_core.directions import edit

    names, flips, kept = list(directions.names), [], []
    for attribute in EDITED:
        a = names.index(attribute)
        targets = ~ctx["before"][:, a]
        edited = np.stack([edit(theta, space, directions, {attribute: strength if t else -strength})
                           for theta, t in zip(ctx["thetas"], targets)])
        read, _ = ctx["reader"].read(model_images(ctx["base"], edited, ctx["layout"], ctx["pictures"]))
        flips.append(flip_rates(read[None, :, a], ctx["before"][:, a])[0])
        kept.append(preserved_rate(read, ctx["before"], a))
    return {"flip": float(np.mean(flips)), "preserved": float(np.mean(kept))}


def inversion_score(ctx: dict, space) -> float:
    from w2w_core.inversion.optimise import invert

    results = invert(ctx["base"], space, ctx["layout"], ctx["inputs"], InversionConfig(steps=ctx["steps"]),
                     progress=False)
    return _score(ctx, np.stack([r.vector for r in results]))


def _score(ctx: dict, vectors: np.ndarray) -> float:
    return models_id_score(ctx["reader"], ctx["base"], vectors, ctx["layout"], ctx["pictures"], ctx["reference"])


def inversion_baselines(ctx: dict, finetune) -> dict[str, float]:
    """ID scores of the multi-image LoRAs (the held-out rows) and of 1-image LoRAs on the same inputs."""
    from w2w_core.finetune.trainer import finetune_identities

    single = finetune_identities(ctx["base"], [image[None] for image in ctx["inputs"]], finetune, progress=False)
    return {"multi_image_lora": _score(ctx, ctx["thetas"]),
            "single_image_lora": _score(ctx, np.stack([r.vector for r in single]))}


def arguments():
    p = parser(__doc__)
    p.add_argument("--zoo", default=None, help="store of trained models (default: the embedded zoo)")
    p.add_argument("--n", default="100,300,900", help="numbers of models, comma-separated")
    p.add_argument("--heldout", type=int, default=12, help="held-out identities edited and inverted")
    p.add_argument("--strength", type=float, default=4.0, help="edit strength towards the lacking value")
    p.add_argument("--steps", type=int, default=InversionConfig.steps, help="inversion steps")
    p.add_argument("--images", type=int, default=PicturesConfig.images_per_model, help="images per model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write every number here")
    p.add_argument("--plots", default=None, help="folder for one PNG per curve (entanglement, edits, inversion)")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from storage.weight_store import WeightStore
    from tasks.config import ZOO_DIR
    from tasks.models import base_model_for, model_images
    from w2w_core.directions import fit_directions
    from w2w_core.lora.layout import LoraLayout
    from w2w_core.space import project

    set_threads(args.threads)
    zoo = args.zoo or str(ZOO_DIR)
    store = WeightStore.open(zoo, read_only=True)
    trained = np.asarray(store.done_rows())
    sizes = [int(n) for n in args.n.split(",")]
    if max(sizes) > len(trained):
        sys.exit(f"the zoo has {len(trained)} trained models; asked for N up to {max(sizes)}")
    held, rows, seeds = heldout_models(zoo, args.heldout)
    layout = LoraLayout.from_dict(held.layout)
    ctx = {"reader": Reader.load(), "base": base_model_for(layout), "layout": layout, "steps": args.steps,
           "pictures": PicturesConfig(images_per_model=args.images, seed=4),
           "thetas": held.read_rows(rows).astype(np.float32), "inputs": renders(seeds, 1)[:, 0]}
    ctx["before"], _ = ctx["reader"].read(model_images(ctx["base"], ctx["thetas"], layout, ctx["pictures"]))
    ctx["reference"], ceiling = reference_centroids(ctx["reader"], seeds, args.images)
    weights, labels = store.read_rows(trained).astype(np.float32), store.identities(trained)[1]
    baselines = inversion_baselines(ctx, recorded_finetune_config(store.train_config["finetune"]))
    print(f"inversion baselines (one render, {len(rows)} held-out identities): {baselines}; "
          f"render ceiling {ceiling:.3f}")
    results = {"heldout": len(rows), "strength": args.strength, "render_ceiling": ceiling, **baselines, "by_n": {}}
    for n in sizes:
        space = subset_space(weights[:n], trained[:n])
        directions = fit_directions(np.asarray(project(space, weights[:n])), labels[:n], store.attribute_names, space)
        results["by_n"][n] = {"k": space.k, "m": directions.m,
                              "cosines": weight_space_cosines(space, directions, PAIRS),
                              **edit_rates(ctx, space, directions, args.strength),
                              "inversion_id_score": inversion_score(ctx, space)}
        print_row(n, results["by_n"][n], first=n == sizes[0])
    write_json(args.json, results)
    if args.plots:
        for path in plot_curves(results, Path(args.plots)):
            print(f"plot: {path}")


def plot_curves(results: dict, folder: Path) -> list[Path]:
    """One PNG per curve against N (log axis): direction entanglement, edit rates, inversion ID score."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_n = results["by_n"]
    results = {**results, "bar": 0.9 * results["multi_image_lora"]} if "multi_image_lora" in results else results
    ns = sorted(int(n) for n in by_n)
    row = lambda n: by_n[n] if n in by_n else by_n[str(n)]  # noqa: E731 - int keys in a run, str from JSON
    curves = {
        "scaling_entanglement.png": ("|cos| between directions (weight space)",
                                     {pair: [row(n)["cosines"][pair] for n in ns] for pair in row(ns[0])["cosines"]}),
        "scaling_edits.png": (f"held-out edits at strength {results['strength']:g}",
                              {"target flipped": [row(n)["flip"] for n in ns],
                               "others preserved": [row(n)["preserved"] for n in ns]}),
        "scaling_inversion.png": ("inversion ID score (one render)",
                                  {"w2w inversion": [row(n)["inversion_id_score"] for n in ns],
                                   **{label: [results[key]] * len(ns) for key, label in INVERSION_BASELINES.items()
                                      if key in results}}),
    }
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, (title, lines) in curves.items():
        figure, axes = plt.subplots(figsize=(6.4, 3.2), dpi=120)
        for label, values in lines.items():
            baseline = label in INVERSION_BASELINES.values()  # the same at every N: a dashed line
            axes.plot(ns, values, label=label, **({"linestyle": "--"} if baseline else {"marker": "o"}))
        axes.set(xscale="log", xlabel="models the space is fit on (N)", title=title)
        axes.minorticks_off()
        axes.set_xticks(ns, [str(n) for n in ns])
        axes.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))  # beside the plot, over no line
        figure.tight_layout()
        figure.savefig(folder / name)
        plt.close(figure)
        paths.append(folder / name)
    return paths


def print_row(n: int, row: dict, first: bool) -> None:
    if first:
        print("| N | k | m | " + " | ".join(f"|cos| {p}" for p in row["cosines"])
              + " | edit flip | preserved | inversion ID |")
        print("|---:|---:|---:|" + "---:|" * len(row["cosines"]) + "---:|---:|---:|")
    cosines = " | ".join(f"{c:.3f}" for c in row["cosines"].values())
    print(f"| {n} | {row['k']} | {row['m']} | {cosines} | {row['flip']:.2f} | {row['preserved']:.2f} | "
          f"{row['inversion_id_score']:.3f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
