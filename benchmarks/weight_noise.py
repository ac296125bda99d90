"""Why edits along one direction fall short (issue 11): how much of a fine-tuned model's weights is its identity.

Two measurements on the zoo's recipe, each against a named baseline in the same run,
two different identities (same fine-tune noise):

  two fine-tunes    the same held-out identity trained twice with other noise (the stores the
                    sampling benchmark uses): relative distance |x1 - x2| / |x1| of the flat
                    factors θ and of the weight changes ΔW = scale · B A the model computes with;
                    identity share = 1 - E|x1 - x2|² / E|x - y|², the part of the spread between
                    models that is identity and not fine-tune noise
  one attribute     zoo identities trained again with one attribute truly flipped (the world
  flipped           renders them with the same nuisance) and the same noise: the distance to the
                    zoo's model, and the shared share of those differences,
                    mean_{i != j} d_i . d_j / mean |d_i|² (1: every identity moves the same way,
                    0: unrelated moves), in ΔW and in the space's coefficients. A retrained zoo
                    identity shows the training itself is repeatable.

    python -m benchmarks.weight_noise --pairs 16 --flips 16 --attributes male,beard,glasses

With --recipes, the same two measures for other fine-tune recipes (learning rate : AdamW eps, the
zoo's steps and images), each recipe training the zoo's first n identities three times: as they
are, with another seed, and with one attribute flipped; beside them the price, the recipe's final
loss and identity fidelity (the probe's cosine between each model's images and its identity's
renders, and the rank of its own identity among the n). The zoo's recipe is the baseline row.

    python -m benchmarks.weight_noise --recipes 0.01:1e-8,0.003:1e-8,0.01:1e-5,0.01:1e-3,0.03:1e-3 --flips 12
"""
from __future__ import annotations

import sys
from dataclasses import replace

import numpy as np

from benchmarks.harness import (
    HELDOUT_STORE,
    RUNS,
    heldout_store,
    parse,
    parser,
    print_table,
    recorded_finetune_config,
    retrain_flipped,
    set_threads,
    write_json,
    zoo_with_space,
)
from w2w_core.weight_stats import identity_share, relative_distance, shared_share


def deltas(thetas: np.ndarray, layout) -> np.ndarray:
    """ΔW of every model [n, d] (float64)."""
    from w2w_core.lora.vectors import weight_deltas

    return np.stack([weight_deltas(t, layout) for t in thetas]).astype(np.float64)


def two_fine_tunes(zoo: str, n: int, layout) -> dict[str, float]:
    """Distances between two fine-tunes of one held-out identity, and between two identities."""
    from storage.weight_store import WeightStore

    first, second = (WeightStore.open(heldout_store(zoo, path, n, seed), read_only=True)
                     for path, seed in ((HELDOUT_STORE, None), (RUNS / "heldout-store-seed-1", 1)))
    rows = second.done_rows()[:n]
    index = {int(s): r for s, r in zip(first.identity_seeds(first.done_rows()), first.done_rows())}
    a = first.read_rows([index[int(s)] for s in second.identity_seeds(rows)]).astype(np.float64)
    b = second.read_rows(rows).astype(np.float64)
    other = np.roll(a, 1, axis=0)  # each identity against the next one, the same noise
    da, db, do = deltas(a, layout), deltas(b, layout), deltas(other, layout)
    return {"theta_same": relative_distance(a, b), "theta_other": relative_distance(a, other),
            "delta_same": relative_distance(da, db), "delta_other": relative_distance(da, do),
            "identity_share_theta": identity_share(a - b, a - other),
            "identity_share_delta": identity_share(da - db, da - do), "identities": len(rows)}


def flipped_fine_tunes(zoo: str, n: int, attributes: list[str], threads: int) -> dict[str, dict[str, float]]:
    """Per attribute: the zoo's first n identities trained again with it flipped, against the zoo's models."""
    from storage.space_store import load_space
    from storage.weight_store import WeightStore
    from w2w_core.lora.layout import LoraLayout
    from w2w_core.space import project

    set_threads(threads)
    store, space = WeightStore.open(zoo, read_only=True), load_space(zoo)
    layout = LoraLayout.from_dict(store.layout)
    rows = list(store.done_rows()[:n])
    zoo_thetas = store.read_rows(rows).astype(np.float64)
    zoo_deltas = deltas(zoo_thetas, layout)
    zoo_beta = np.asarray(project(space, zoo_thetas.astype(np.float32)), np.float64)
    out = {"retrained": {"theta_same": relative_distance(zoo_thetas[:1], retrain_flipped(store, rows[:1], None)[0])}}
    for attribute in attributes:
        thetas, sign = retrain_flipped(store, rows, attribute)
        sign = sign[:, None]
        beta = np.asarray(project(space, thetas.astype(np.float32)), np.float64)
        d = deltas(thetas, layout)
        out[attribute] = {"theta_same": relative_distance(zoo_thetas, thetas),
                          "delta_same": relative_distance(zoo_deltas, d),
                          "shared_delta": shared_share(sign * (d - zoo_deltas)),
                          "shared_coefficients": shared_share(sign * (beta - zoo_beta)), "identities": n}
        print(f"{attribute}: done", file=sys.stderr, flush=True)
    return out


def recipe_noise(zoo: str, n: int, recipes: list[tuple[float, float]], attribute: str,
                 threads: int) -> list[dict[str, float]]:
    """Per recipe (learning rate, AdamW eps): fine-tune noise, flip shared share, loss and fidelity."""
    from storage.weight_store import WeightStore
    from tasks.models import base_model_for
    from w2w_core import world
    from w2w_core.evaluate import identity_centroids
    from w2w_core.lora.layout import LoraLayout
    from w2w_core.probe import embed_images, load_probe
    from w2w_core.world.edits import with_attribute

    set_threads(threads)
    store = WeightStore.open(zoo, read_only=True)
    layout, zoo_recipe = LoraLayout.from_dict(store.layout), recorded_finetune_config(store.train_config["finetune"])
    base, per_identity = base_model_for(layout), store.train_config["identities"]["images_per_identity"]
    people = [world.make_identity(int(s)) for s in store.identity_seeds(store.done_rows()[:n])]
    flipped = [with_attribute(p, attribute, not p.attributes[attribute]) for p in people]
    renders = [[world.render_identity(p, per_identity, base.image_size) for p in group] for group in (people, flipped)]
    sign = np.where([f.attributes[attribute] for f in flipped], 1.0, -1.0)[:, None]
    probe = load_probe()  # one probe and one embedding of the renders for every recipe
    references = identity_centroids(embed_images(probe, np.concatenate(renders[0])), len(people))
    rows = []
    for learning_rate, eps in recipes:
        recipe = replace(zoo_recipe, learning_rate=learning_rate, adam_eps=eps)
        rows.append({"learning_rate": learning_rate, "adam_eps": eps,
                     **_recipe_row(base, layout, renders, sign, recipe, (probe, references))})
        print(f"recipe {learning_rate}:{eps}: done", file=sys.stderr, flush=True)
    return rows


def _recipe_row(base, layout, renders: list[list[np.ndarray]], sign: np.ndarray, recipe,
                reader: tuple) -> dict[str, float]:
    from w2w_core.finetune.trainer import finetune_identities

    def train(images: list[np.ndarray], seed: int) -> tuple[np.ndarray, float]:
        results = finetune_identities(base, images, replace(recipe, seed=seed), progress=False)
        return np.stack([r.vector for r in results]), float(np.mean([r.final_loss for r in results]))

    (first, loss), (second, _), (flip, _) = train(renders[0], 0), train(renders[0], 1), train(renders[1], 0)
    d1, d2, df = (deltas(t, layout) for t in (first, second, flip))
    other = np.roll(d1, 1, axis=0)
    return {"loss": loss, **_fidelity(base, layout, first, *reader),
            "delta_same": relative_distance(d1, d2), "delta_other": relative_distance(d1, other),
            "identity_share_delta": identity_share(d1 - d2, d1 - other),
            "flip_delta": relative_distance(d1, df), "shared_delta": shared_share(sign * (df - d1))}


def _fidelity(base, layout, thetas: np.ndarray, probe, references: np.ndarray) -> dict[str, float]:
    """The probe's cosine between each model's images and its own renders' centroid (`references`), and its
    own identity's rank."""
    from w2w_core import world
    from w2w_core.evaluate import centroid_pair_cosines, fidelity_percentiles, identity_centroids
    from w2w_core.generate import generate_with_lora
    from w2w_core.probe import embed_images

    images = [generate_with_lora(base, t, layout, world.INSTANCE_PROMPT, 4, seed=0) for t in thetas]
    generated = identity_centroids(embed_images(probe, np.concatenate(images)), len(thetas))
    return {"fidelity_cosine": float(centroid_pair_cosines(generated, references).mean()),
            "fidelity_rank": float(fidelity_percentiles(generated, references).mean())}


def print_recipes(rows: list[dict[str, float]], attribute: str, n: int) -> None:
    print(f"\n{n} zoo identities per recipe, trained twice (seeds 0 and 1) and with {attribute} flipped (seed 0); "
          "the first row is the baseline")
    print_table(["learning rate : AdamW eps", "final loss", "fidelity cosine (rank)",
                 "two fine-tunes / two identities, ΔW", "identity share, ΔW", f"{attribute} flipped, relative ΔW",
                 "shared share of the flips, ΔW", "x baseline"],
                [(f"{r['learning_rate']:g} : {r['adam_eps']:g}", f"{r['loss']:.4f}",
                  f"{r['fidelity_cosine']:.3f} ({r['fidelity_rank']:.2f})", f"{r['delta_same'] / r['delta_other']:.2f}",
                  f"{r['identity_share_delta']:.2f}", f"{r['flip_delta']:.3f}", f"{r['shared_delta']:.3f}",
                  f"{r['shared_delta'] / rows[0]['shared_delta']:.1f}") for r in rows])


def print_tables(results: dict) -> None:
    pairs, flips = results["two_fine_tunes"], results["flipped"]
    print(f"\n{pairs['identities']} held-out identities fine-tuned twice (other noise), against two identities "
          "(same noise)")
    print_table(["compared", "relative distance, factors θ", "relative distance, ΔW = B A",
                 "identity share of the spread (θ; ΔW)"],
                [("two fine-tunes of one identity", f"{pairs['theta_same']:.3f}", f"{pairs['delta_same']:.3f}",
                  f"{pairs['identity_share_theta']:.2f}; {pairs['identity_share_delta']:.2f}"),
                 ("two identities (baseline)", f"{pairs['theta_other']:.3f}", f"{pairs['delta_other']:.3f}", ""),
                 ("ratio one identity / two identities", f"{pairs['theta_same'] / pairs['theta_other']:.2f}",
                  f"{pairs['delta_same'] / pairs['delta_other']:.2f}", "")])
    print("\nzoo identities trained again, the same noise (a retrained one, unchanged: θ "
          f"{flips['retrained']['theta_same']:.4f} apart)")
    print_table(["attribute flipped", "relative distance, θ", "relative distance, ΔW", "ratio to two identities' (ΔW)",
                 "shared share of the moves, ΔW", "shared share, coefficients"],
                [(f"{attribute} ({r['identities']})", f"{r['theta_same']:.3f}", f"{r['delta_same']:.3f}",
                  f"{r['delta_same'] / pairs['delta_other']:.2f}", f"{r['shared_delta']:.3f}",
                  f"{r['shared_coefficients']:.3f}") for attribute, r in flips.items() if attribute != "retrained"])


def arguments():
    p = parser(__doc__)
    p.add_argument("--zoo", default=None, help="store (default: the embedded zoo)")
    p.add_argument("--pairs", type=int, default=16, help="held-out identities fine-tuned twice")
    p.add_argument("--flips", type=int, default=16, help="zoo identities trained again per flipped attribute")
    p.add_argument("--attributes", default="male,beard,glasses", help="attributes to flip, comma-separated")
    p.add_argument("--recipes", default="", help="learning rate:AdamW eps pairs, comma-separated (the "
                   "first is the baseline); measures them instead of the zoo's noise")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write every number here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from storage.weight_store import WeightStore
    from w2w_core.lora.layout import LoraLayout

    set_threads(args.threads)  # before the zoo's space or a held-out store may be built
    zoo = zoo_with_space(args.zoo)
    if args.recipes:
        recipes = [tuple(float(x) for x in r.split(":")) for r in args.recipes.split(",")]
        attribute = args.attributes.split(",")[0]
        rows = recipe_noise(zoo, args.flips, recipes, attribute, args.threads)
        print_recipes(rows, attribute, args.flips)
        write_json(args.json, rows)
        return
    layout = LoraLayout.from_dict(WeightStore.open(zoo, read_only=True).layout)
    results = {"two_fine_tunes": two_fine_tunes(zoo, args.pairs, layout),
               "flipped": flipped_fine_tunes(zoo, args.flips, [a for a in args.attributes.split(",") if a],
                                             args.threads)}
    print_tables(results)
    write_json(args.json, results)


if __name__ == "__main__":
    main()
