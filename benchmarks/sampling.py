"""Bars (issue 11): sampled models of the zoo against its training models, read by the probe.

Models are drawn from the zoo's space (each of the first m coefficients from
N(mean_i, spread * std_i), paper Sec. 3.2) and generate images with the same
noise as the training models they are compared with:

  frequencies   per attribute, the share of sampled models the probe reads it in, against the
                same share over training models' own images (bar: within 10 points), and over
                those training models kept to the space (their k coefficients reconstructed), which
                tells what the space loses from what the sampler loses
  apart         1 - cosine between two models' probe centroids: between sampled models, between
                training models, between two fine-tunes of one identity (the same held-out
                identity trained twice with other noise), and from each sample to the training
                identity nearest in coefficients (bar: samples differ from each other more than
                two fine-tunes of one identity)

  images        1 - cosine between single images with different noise: of two models, and of one
                model (a model that keeps one identity across noise has between > within)

    python -m benchmarks.sampling --n 64 --settings all:1,200:1,50:1,all:2,all:3
    python -m benchmarks.sampling --n 64 --settings all:1,all:1:attributes,all:1:attributes:3
    python -m benchmarks.sampling --config benchmarks/configs/sampling_3000_mix.py

`attributes` draws each model's labels from a training model's and its
coefficients from the attribute model (w2w_core/attribute_model); `mix` does
the same with the residuals of two training models with those labels in place
of Gaussian noise.
"""
from __future__ import annotations

import numpy as np

from benchmarks.harness import (
    EDITED,
    HELDOUT_STORE,
    RUNS,
    heldout_store,
    parse,
    parser,
    print_table,
    set_threads,
    write_json,
    zoo_with_space,
)
from tasks.config import PicturesConfig, SampleConfig
from w2w_core.evaluate import (
    Reader,
    attribute_frequencies,
    mean_apart,
    model_centroids,
    paired_apart,
    spread_between_and_within,
)


def frequencies(read: np.ndarray, names: list[str]) -> dict[str, float]:
    return attribute_frequencies(read, names, EDITED)


def two_fine_tunes_apart(zoo: str, n: int, reader: Reader, images) -> float:
    """Mean 1 - cosine between the centroids of two fine-tunes of the same held-out identity."""
    from storage.weight_store import WeightStore

    stores = [heldout_store(zoo, path, n, seed) for path, seed in
              ((HELDOUT_STORE, None), (RUNS / "heldout-store-seed-1", 1))]
    thetas = [WeightStore.open(url, read_only=True).read_rows(list(range(n))).astype(np.float32) for url in stores]
    first, second = (model_centroids(reader.read(images(t))[1]) for t in thetas)
    return paired_apart(first, second)


def arguments():
    p = parser(__doc__)
    p.add_argument("--zoo", default=None, help="store with or without a space (default: the embedded zoo)")
    p.add_argument("--n", type=int, default=64, help="models sampled per setting, and training models compared")
    p.add_argument("--settings", default="all:1", help="comma-separated m:spread[:method[:contrast[:mix]]]: "
                   "leading components drawn ('all': every one), the factor on every std (1: the paper's), gaussian "
                   "(the paper's), attributes or mix, the attributes' contrast (default 1), and for mix the "
                   f"training models mixed into each sample (default {SampleConfig.mix})")
    p.add_argument("--pairs", type=int, default=16, help="held-out identities fine-tuned twice")
    p.add_argument("--images", type=int, default=PicturesConfig.images_per_model, help="images per model")
    p.add_argument("--seed", type=int, default=1, help="seed of the sampled coefficients")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", default=None, help="also write every number here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from storage.space_store import load_space
    from storage.weight_store import WeightStore
    from tasks.directions import training_coefficients
    from tasks.models import base_model_for, model_images
    from tasks.sampling import nearest_training_models, sampled_coefficients
    from w2w_core.lora.layout import LoraLayout
    from w2w_core.space import reconstruct

    set_threads(args.threads)
    zoo = zoo_with_space(args.zoo)
    store, space, reader = WeightStore.open(zoo, read_only=True), load_space(zoo), Reader.load()
    layout = LoraLayout.from_dict(store.layout)
    base, pictures = base_model_for(layout), PicturesConfig(images_per_model=args.images, seed=2)

    def images(thetas: np.ndarray) -> np.ndarray:
        return model_images(base, thetas, layout, pictures)

    coefficients, labels, names = training_coefficients(zoo, space)
    chosen = np.random.default_rng(0).choice(len(space.row_ids), args.n, replace=False)  # positions in the space
    training_rows = space.row_ids[chosen]
    train_read, train_embeddings = reader.read(images(store.read_rows(training_rows).astype(np.float32)))
    between, within = spread_between_and_within(train_embeddings)
    in_space = coefficients[chosen].astype(np.float32)  # coefficients come in the space's row order
    space_read, _ = reader.read(images(np.asarray(reconstruct(space, in_space), np.float32)))
    results = {"models": len(coefficients), "k": space.k, "training": {
        "frequencies": frequencies(train_read, names), "frequencies_in_space": frequencies(space_read, names),
        "apart_between": mean_apart(model_centroids(train_embeddings)),
        "images_between_models": between, "images_within_a_model": within},
        "two_fine_tunes_apart": two_fine_tunes_apart(zoo, args.pairs, reader, images), "sampled": {}}
    for setting in args.settings.split(","):
        m, spread, *rest = setting.split(":")
        method, contrast = (rest + ["gaussian"])[0], float(rest[1]) if len(rest) > 1 else 1.0
        mix = int(rest[2]) if len(rest) > 2 else SampleConfig.mix
        config = SampleConfig(n=args.n, m=None if m == "all" else int(m), spread=float(spread), seed=args.seed,
                              method=method, contrast=contrast, mix=mix)
        beta = sampled_coefficients(space, coefficients, labels, config)
        read, embeddings = reader.read(images(np.asarray(reconstruct(space, beta.astype(np.float32)), np.float32)))
        nearest, _ = nearest_training_models(beta, coefficients)
        _, near_embeddings = reader.read(images(store.read_rows(space.row_ids[nearest]).astype(np.float32)))
        own, near = model_centroids(embeddings), model_centroids(near_embeddings)
        between, within = spread_between_and_within(embeddings)
        results["sampled"][setting] = {"frequencies": frequencies(read, names), "apart_between": mean_apart(own),
                                       "apart_from_nearest": paired_apart(own, near),
                                       "images_between_models": between, "images_within_a_model": within}
    print_tables(results)
    write_json(args.json, results)


def print_tables(results: dict) -> None:
    train, in_space = results["training"]["frequencies"], results["training"]["frequencies_in_space"]
    print(f"zoo: {results['models']} models, space k={results['k']}")
    sampled = results["sampled"]
    rows = [[name, f"{train[name]:.2f}", f"{in_space[name]:.2f} ({in_space[name] - train[name]:+.2f})",
             *(f"{s['frequencies'][name]:.2f} ({s['frequencies'][name] - train[name]:+.2f})" for s in sampled.values())]
            for name in EDITED]
    worst = {m: max(abs(s["frequencies"][a] - train[a]) for a in EDITED) for m, s in sampled.items()}
    kept = max(abs(in_space[a] - train[a]) for a in EDITED)
    rows.append(["largest gap (bar <= 0.10)", "", f"{kept:.2f}", *(f"{g:.2f}" for g in worst.values())])
    print()
    print_table(["attribute", "training models", "the same, kept to the space",
                 *(f"sampled, m:spread {m}" for m in sampled)], rows)
    pair, train = results["two_fine_tunes_apart"], results["training"]
    print(f"\n1 - cosine of probe centroids: two fine-tunes of one identity {pair:.3f}; "
          f"training models {train['apart_between']:.3f}")
    rows = [["training", f"{train['apart_between']:.3f}", "", "", f"{train['images_between_models']:.3f}",
             f"{train['images_within_a_model']:.3f}"]]
    rows += [[f"sampled, m:spread {m}", f"{s['apart_between']:.3f}", f"{s['apart_from_nearest']:.3f}",
              f"{s['apart_between'] / pair:.2f}", f"{s['images_between_models']:.3f}",
              f"{s['images_within_a_model']:.3f}"]
             for m, s in sampled.items()]
    print()
    print_table(["models", "centroids: between", "to nearest training model", "between / two fine-tunes (bar > 1)",
                 "images: between models", "images: within a model"], rows)


if __name__ == "__main__":
    main()
