"""Would a direction fit near each identity carry more of its true edit than one global direction? (issue 11)

The zoo's first n identities are trained again with one attribute truly flipped (the world renders
them so; the zoo's recipe and noise, as benchmarks/weight_noise.py does). Each one's true move in the
space's first m coefficients, t_i = ±(β_flipped,i - β_i), signed towards the attribute, is compared
with directions fit on the other zoo models (the n are left out of every fit):

  least squares   the paper's direction (w2w_core.directions, all labels' models)
  mean shift      the average change that comes with the attribute, all labels regressed at once
  all models      mean β of the models with the attribute minus mean β of those without: the
                  baseline the local ones are read against, the same estimator on every model
  nearest K       the same difference over the K zoo models nearest to identity i: a direction per
                  region, with nearness measured once the labels' average effects are taken out
                  (in β itself, choosing near models would choose the attribute's effect away)
  random K        over K zoo models drawn at random: nearest K's estimator noise without locality
  other moves     the mean of the other n - 1 identities' true moves: what one shared direction
                  learnt from paired fine-tunes would be, and an upper bound for any global one

A direction is scored by its cosine with t_i (mean over the identities, with its standard error):
an edit along a unit direction u moves the model along its true edit by u . t_i / |t_i| of the step.
A local direction helps only if nearest K beats both random K and all models. The estimators and
their scoring are library code (w2w_core/local_directions.py, w2w_core.evaluate.directions).

    python -m benchmarks.local_directions --flips 24 --attributes male,beard,glasses --m 600 --neighbours 50,200,800
"""
from __future__ import annotations

import sys

import numpy as np

from benchmarks.harness import (
    markdown_table,
    parse,
    parser,
    retrain_flipped,
    set_threads,
    write_json,
    zoo_with_space,
)
from w2w_core.local_directions import label_residuals, scores


def measure(zoo: str, n: int, attributes: list[str], m: int, neighbours: list[int], seed: int) -> dict:
    from storage.space_store import load_space
    from storage.weight_store import WeightStore
    from tasks.directions import training_coefficients
    from w2w_core.attribute_model import label_regression
    from w2w_core.directions import DirectionsConfig, fit_directions
    from w2w_core.space import project

    store, space = WeightStore.open(zoo, read_only=True), load_space(zoo)
    coefficients, labels, names = training_coefficients(zoo, space)
    labels = np.asarray(labels, bool)
    rows = [int(r) for r in store.done_rows()[:n]]
    position = {int(r): i for i, r in enumerate(space.row_ids)}
    evaluated = np.array([position[r] for r in rows])  # the n rows' coefficients, already projected above
    left_out = np.isin(np.arange(len(coefficients)), evaluated)
    reference, reference_labels = coefficients[~left_out], labels[~left_out]
    global_fits = {method.replace("_", " "): fit_directions(reference, reference_labels, names, space,
                                                             DirectionsConfig(m=m, method=method)).vectors
                   for method in ("least_squares", "mean_shift")}
    reference, beta_i = reference[:, :m], coefficients[evaluated, :m]
    intercept, shifts = label_regression(reference, reference_labels)
    positions = label_residuals(reference, reference_labels, intercept, shifts)
    queries = label_residuals(beta_i, labels[evaluated], intercept, shifts)
    out = {"identities": n, "m": m, "reference_models": int(len(reference)), "attributes": {}}
    for attribute in attributes:
        thetas, sign = retrain_flipped(store, rows, attribute)
        moves = sign[:, None] * (np.asarray(project(space, thetas.astype(np.float32)), np.float64)[:, :m] - beta_i)
        out["attributes"][attribute] = scores(queries, moves, reference, positions, reference_labels,
                                              names.index(attribute), global_fits, neighbours, seed)
        print(f"{attribute}: done", file=sys.stderr, flush=True)
    return out


def print_table(results: dict) -> None:
    print(f"\n{results['identities']} zoo identities, one attribute truly flipped; directions fit on the other "
          f"{results['reference_models']} zoo models in the first {results['m']} coefficients. Mean cosine with "
          "the true move (± standard error); the baseline is 'all models'.")
    attributes = results["attributes"]
    columns = list(next(iter(attributes.values())))
    rows = []
    for attribute, row in attributes.items():
        best = max(v[0] for name, v in row.items() if name.startswith("nearest"))
        rows.append([attribute, *(f"{row[c][0]:.3f} ± {row[c][1]:.3f}" for c in columns),
                     f"{best / row['all models'][0]:.2f}"])
    print(markdown_table(["attribute", *columns, "best nearest / all models"], rows))


def arguments():
    p = parser(__doc__)
    p.add_argument("--zoo", default=None, help="store (default: the embedded zoo)")
    p.add_argument("--flips", type=int, default=24, help="zoo identities trained again per flipped attribute")
    p.add_argument("--attributes", default="male,beard,glasses", help="attributes to flip, comma-separated")
    p.add_argument("--m", type=int, default=600, help="leading coefficients the directions live in")
    p.add_argument("--neighbours", default="50,200,800", help="K for the local directions, comma-separated")
    p.add_argument("--seed", type=int, default=0, help="for the random K models")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", default=None, help="also write every number here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    set_threads(args.threads)
    zoo = zoo_with_space(args.zoo)
    results = measure(zoo, args.flips, [a for a in args.attributes.split(",") if a], args.m,
                      [int(k) for k in args.neighbours.split(",")], args.seed)
    print_table(results)
    write_json(args.json, results)


if __name__ == "__main__":
    main()
