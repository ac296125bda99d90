"""Bars (issue 11): attribute edits and sampled models of the zoo, against the embedded world's ground truth.

Held-out identities (never in the zoo) are fine-tuned with the zoo's recipe
into their own store (built once, then reused), and each is edited along every
listed attribute towards the value it does not have (strength +alpha to add,
-alpha to remove). The probe, standing in for FaceNet and CLIP, reads the
edited and unedited models' images (the same noise for both); the scores are
w2w_core.evaluate's (edit_scores, truth_scores, meets_bars), as the report's:

  flip        the target attribute reads as wanted (majority over the model's images)
  preserved   the other attributes read as before (mean over them)
  ID score    mean cosine of the probe embeddings: edited vs unedited images (same
              seed), and edited images vs the renders of the same identity with the
              attribute truly changed (the world can draw that)

Baseline in the same run: prompting the unedited model ("a photo of sks person,
beard"), where the vocabulary has a phrase for the target. The m sweep maps the
flip / preservation / identity trade-off (benchmarks/sampling.py measures the
sampled models). Without a space in the zoo, a snapshot of it under runs/ gets
the space `w2w run` would fit.

    python -m benchmarks.editing --heldout 24 --m 20,60,180 --strengths 1,2,4
    python -m benchmarks.editing --config benchmarks/configs/editing_logistic.py
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from benchmarks.harness import (
    EDITED,
    HELDOUT_STORE,
    heldout_models,
    parse,
    parser,
    print_table,
    set_threads,
    write_json,
    zoo_with_space,
)
from tasks.config import EditConfig, PicturesConfig
from w2w_core.directions import DirectionsConfig
from w2w_core.evaluate import Reader, edit_scores, meets_bars, renders, truth_scores, twin_renders

TRUTH_RENDERS = 8  # renders of each identity's twin the truth scores read


def truth(seeds: list[int], attribute: str, targets: np.ndarray, reader: Reader, embeddings: np.ndarray) -> dict:
    """The edited models' images (`embeddings`) against what the world says a perfect edit is: renders of each
    identity with the attribute truly set to its target (w2w_core.evaluate.truth_scores)."""
    _, twins = reader.read(twin_renders(seeds, attribute, targets, TRUTH_RENDERS))
    _, twins_again = reader.read(twin_renders(seeds, attribute, targets, TRUTH_RENDERS, variation_seed=1))
    _, unedited = reader.read(renders(seeds, TRUTH_RENDERS))
    return truth_scores(embeddings, twins, twins_again, unedited)


def evaluate_edits(ctx: dict, config: DirectionsConfig, strength: float, reader: Reader) -> dict[str, dict[str, float]]:
    """Per attribute: flip, preserved, ID score to the unedited model and to the ground truth (with its ceiling),
    for directions fit with `config`."""
    from w2w_core.directions import edit, fit_directions

    names = list(ctx["attribute_names"])
    directions = fit_directions(ctx["coefficients"], ctx["labels"], names, ctx["space"], config)
    rows = {}
    for attribute in EDITED:
        a = names.index(attribute)
        targets = ~ctx["original_read"][:, a]  # towards what the unedited model does not show
        edited = np.stack([edit(theta, ctx["space"], directions, {attribute: strength if t else -strength})
                           for theta, t in zip(ctx["thetas"], targets)])
        read, embeddings = reader.read(edited_images(ctx, edited))
        before, before_embeddings = ctx["original_read"], ctx["original_embeddings"]
        rows[attribute] = {**edit_scores(read, embeddings, targets, a, before, before_embeddings),
                           **truth(ctx["seeds"], attribute, targets, reader, embeddings)}
    return rows


def edited_images(ctx: dict, edited: np.ndarray) -> np.ndarray:
    """The edited models' images; with a delay T, the original model while the timestep is above T
    (the paper's delayed injection), the edited one after."""
    from tasks.models import model_images

    if ctx["delay_t"] is None:
        return model_images(ctx["base"], edited, ctx["layout"], ctx["pictures"])
    return model_images(ctx["base"], ctx["thetas"], ctx["layout"], ctx["pictures"], delayed=(edited, ctx["delay_t"]))


def prompting_baseline(ctx: dict, reader: Reader) -> dict[str, dict[str, float]]:
    """The unedited model prompted with the target attribute's phrase (where the vocabulary has one)."""
    from tasks.models import model_images
    from w2w_core.world import ATTRIBUTE_PHRASES, INSTANCE_PROMPT

    names = list(ctx["attribute_names"])
    rows = {}
    for attribute in EDITED:
        a = names.index(attribute)
        on, off = ATTRIBUTE_PHRASES[attribute]
        targets = ~ctx["original_read"][:, a]
        prompts = {True: f"{INSTANCE_PROMPT}, {on}", False: f"{INSTANCE_PROMPT}, {off}" if off else None}
        usable = np.array([prompts[bool(t)] is not None for t in targets])
        if not usable.any():
            continue
        images = np.stack([model_images(ctx["base"], theta[None], ctx["layout"],
                                        replace(ctx["pictures"], prompt=prompts[bool(t)]))[0]
                           for theta, t in zip(ctx["thetas"][usable], targets[usable])])
        read, embeddings = reader.read(images)
        rows[attribute] = {**edit_scores(read, embeddings, targets[usable], a, ctx["original_read"][usable],
                                         ctx["original_embeddings"][usable]),
                           "id_truth": float("nan"), "truth_ceiling": float("nan")}
    return rows


def context(args) -> dict:
    """Everything the evaluations share: the zoo's space and coefficients, the held-out models and their readings."""
    from storage.space_store import load_space
    from tasks.directions import training_coefficients
    from tasks.models import base_model_for, model_images
    from w2w_core.lora.layout import LoraLayout

    space = load_space(args.zoo)
    coefficients, labels, names = training_coefficients(args.zoo, space)
    held, rows, seeds = heldout_models(args.zoo, args.heldout, Path(args.heldout_store))
    layout = LoraLayout.from_dict(held.layout)
    base = base_model_for(layout)
    pictures = PicturesConfig(images_per_model=args.images, seed=1)
    thetas = held.read_rows(rows).astype(np.float32)
    reader = Reader.load()
    original_read, original_embeddings = reader.read(model_images(base, thetas, layout, pictures))
    return {"space": space, "coefficients": coefficients, "labels": labels, "attribute_names": names,
            "thetas": thetas, "seeds": seeds, "layout": layout, "base": base,
            "pictures": pictures, "original_read": original_read, "original_embeddings": original_embeddings,
            "reader": reader, "delay_t": args.delay_t}


def print_edit_table(title: str, rows: dict[str, dict[str, float]],
                     baseline: dict[str, dict[str, float]] | None = None) -> None:
    """One markdown table; with the prompting baseline, whether each attribute meets the bars (flip and
    preservation >= 0.9, ID score above prompting's)."""
    columns = ["attribute", "flip", "preserved", "ID vs unedited (a perfect edit's)", "ID of the flipped",
               "ID vs true edit (render ceiling)"]
    cells = [[attribute, f"{r['flip']:.2f}", f"{r['preserved']:.2f}",
              f"{r['id_unedited']:.3f} ({r.get('perfect_edit_id', float('nan')):.3f})", f"{r['id_flipped']:.3f}",
              f"{r['id_truth']:.3f} ({r['truth_ceiling']:.3f})"]
             + (["met" if meets_bars(r, baseline.get(attribute)) else "not met"] if baseline else [])
             for attribute, r in rows.items()]
    print(f"\n{title}")
    print_table(columns + (["bars"] if baseline else []), cells, align="lrrrrr" + ("l" if baseline else ""))


def arguments():
    p = parser(__doc__)
    p.add_argument("--zoo", default=None, help="store with a space (default: the embedded zoo)")
    p.add_argument("--heldout", type=int, default=50, help="held-out identities to edit")
    p.add_argument("--heldout-store", default=str(HELDOUT_STORE), help="where they are trained")
    p.add_argument("--m", default="", help="components for the directions, comma-separated (default: the default m)")
    p.add_argument("--strengths", default="1", help="edit strengths, comma-separated")
    p.add_argument("--images", type=int, default=PicturesConfig.images_per_model, help="images per model")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--method", default=DirectionsConfig.method, help="least_squares (the paper's), logistic or "
                   "mean_shift")
    p.add_argument("--debias", default="", help="attributes removed from every other direction, comma-separated")
    p.add_argument("--debias-mode", default=DirectionsConfig.debias_mode, help="sequential (the reference's) or joint")
    p.add_argument("--delay-t", type=int, default=EditConfig.delay_t,
                   help="delayed injection: the original model while the timestep is above T (paper: 700-1000 "
                        "global, 400-700 fine edits)")
    p.add_argument("--json", default=None, help="also write every number here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    from w2w_core.directions import default_m

    set_threads(args.threads)
    args.zoo = zoo_with_space(args.zoo)
    ctx = context(args)
    default = default_m(len(ctx["coefficients"]), ctx["space"].k)
    ms = [int(m) for m in args.m.split(",") if m] or [default]
    print(f"zoo: {len(ctx['coefficients'])} models, space k={ctx['space'].k}; {len(ctx['thetas'])} held-out "
          f"identities, {args.images} images per model; default m = {default}")
    results = {"models": len(ctx["coefficients"]), "k": ctx["space"].k, "heldout": len(ctx["thetas"]),
               "prompting": prompting_baseline(ctx, ctx["reader"]), "w2w": {}}
    print_edit_table("baseline: prompting the unedited model", results["prompting"])
    for m in ms:
        for strength in (float(s) for s in args.strengths.split(",")):
            config = DirectionsConfig(m=m, method=args.method, debias=tuple(a for a in args.debias.split(",") if a),
                                      debias_mode=args.debias_mode)
            rows = evaluate_edits(ctx, config, strength, ctx["reader"])
            label = (f"m={m},strength={strength:g},method={config.method},debias={'+'.join(config.debias) or 'none'}"
                     f",delay_t={args.delay_t}")
            results["w2w"][label] = rows
            print_edit_table(f"w2w edit, {label.replace(',', ', ')}", rows, results["prompting"])
            sys.stdout.flush()
    write_json(args.json, results)


if __name__ == "__main__":
    main()
