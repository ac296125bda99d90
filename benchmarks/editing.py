"""Bars (issue 11): attribute edits and sampled models of the zoo, against the embedded world's ground truth.

Held-out identities (never in the zoo) are fine-tuned with the zoo's recipe
into their own store (built once, then reused), and each is edited along every
listed attribute towards the value it does not have (strength +alpha to add,
-alpha to remove). The probe, standing in for FaceNet and CLIP, reads the
edited and unedited models' images (the same noise for both):

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

    python benchmarks/editing.py --heldout 24 --m 20,60,180 --strengths 1,2,4
    python benchmarks/editing.py --heldout 24 --m 180 --strengths 4 --debias male,young --method logistic
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

EDITED = ("male", "beard", "glasses", "young", "bald", "chubby", "smiling", "blond_hair")


def heldout_store(zoo: str, path: Path, n: int, finetune_seed: int | None = None) -> str:
    """The first n held-out identities trained with the zoo's recipe (built once, reused after); another
    `finetune_seed` (noise, timesteps) gives a second fine-tune of the same identities."""
    from flows.dataset import build_weights_dataset
    from storage.weight_store import WeightStore
    from tasks.config import DatasetConfig, FanOutConfig

    zoo_config = WeightStore.open(zoo, read_only=True).train_config
    finetune = recorded_finetune_config(zoo_config["finetune"])
    finetune = finetune if finetune_seed is None else replace(finetune, seed=finetune_seed)
    config = replace(DatasetConfig(dtype="float32", world_split="heldout"), finetune=finetune,
                     images_per_identity=zoo_config["identities"]["images_per_identity"])
    build_weights_dataset(str(path), n, config, FanOutConfig(retries=0))
    return str(path)


def zoo_with_space(zoo: str, workdir: Path) -> str:
    """The zoo's done rows with a space fit on them: the zoo itself when it has one, else a snapshot of it
    under `workdir` with the space `w2w run` would fit, k = min(1000, N - 1), made again whenever the zoo
    holds other done rows than the snapshot. The shipped zoo is never written to."""
    import shutil

    from storage.format import SPACE_GROUP
    from storage.space_store import save_space
    from storage.weight_store import WeightStore
    from tasks.space import fit_space_from_store
    from w2w_core.pca import PCAConfig

    if (Path(zoo) / SPACE_GROUP).exists():
        return zoo
    snapshot = workdir / "zoo-snapshot"
    done = WeightStore.open(zoo, read_only=True).done_rows()
    if not (snapshot / SPACE_GROUP).exists() or list(WeightStore.open(str(snapshot), read_only=True).done_rows()) != list(done):
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(zoo, snapshot, ignore=shutil.ignore_patterns("leases", "runs"))
        n = WeightStore.open(str(snapshot), read_only=True).counts()["done"]
        save_space(fit_space_from_store(str(snapshot), PCAConfig(k=min(1000, n - 1))), str(snapshot))
    return str(snapshot)


def recorded_finetune_config(recorded: dict):
    """The FinetuneConfig a store recorded (its train_config), to train more identities the same way."""
    from w2w_core.finetune.config import FinetuneConfig
    from w2w_core.lora.layout import LoraSpec

    return FinetuneConfig(**{**recorded, "lora": LoraSpec(**{**recorded["lora"], "target_modules": tuple(recorded["lora"]["target_modules"])})})


class Reader:
    """The probe over generated images: attribute readings (majority per model) and embeddings."""

    def __init__(self) -> None:
        from w2w_core.probe import load_probe

        self.probe = load_probe()

    def read(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """images [M, n, H, W, 3] -> (attributes bool [M, A] by majority, embeddings [M, n, E])."""
        from w2w_core.probe import attribute_logits, embed_images

        flat = images.reshape(-1, *images.shape[2:])
        logits = attribute_logits(self.probe, flat).reshape(len(images), images.shape[1], -1)
        embeddings = embed_images(self.probe, flat).reshape(len(images), images.shape[1], -1)
        return (logits > 0).mean(axis=1) > 0.5, embeddings


def truth_centroids(seeds: list[int], attribute: str, targets: np.ndarray, reader: Reader) -> dict:
    """What the world says a perfect edit is: unit probe centroids of renders of each identity with the
    attribute truly set to its target; the render ceiling (the mean cosine of other renders of those edited
    identities to them); and the ID score a perfect edit gets (its renders against the unedited identity's,
    the same nuisance), which is below 1 because the attribute itself shows in the embedding."""
    from w2w_core import world
    from w2w_core.evaluate import centroid_cosines, identity_centroids, paired_cosines
    from w2w_core.world.edits import with_attribute

    identities = [world.make_identity(s) for s in seeds]
    edited = [with_attribute(i, attribute, bool(t)) for i, t in zip(identities, targets)]
    _, embeddings = reader.read(np.stack([world.render_identity(e, 8, 32) for e in edited]))
    centroids = identity_centroids(embeddings.reshape(-1, embeddings.shape[-1]), len(embeddings))
    _, others = reader.read(np.stack([world.render_identity(e, 8, 32, variation_seed=1) for e in edited]))
    _, unedited = reader.read(np.stack([world.render_identity(i, 8, 32) for i in identities]))
    return {"centroids": centroids, "ceiling": float(centroid_cosines(others, centroids).mean()),
            "perfect_edit_id": float(paired_cosines(embeddings, unedited).mean())}


def edit_scores(read: np.ndarray, embeddings: np.ndarray, targets: np.ndarray, a: int, ctx: dict,
                usable: np.ndarray) -> dict[str, float]:
    """Flip, preservation and ID score to the unedited model, for the models in `usable`; also the ID score
    of the flipped models alone (an edit that changes nothing keeps the identity perfectly)."""
    from w2w_core.evaluate import paired_cosines

    others = [i for i in range(read.shape[1]) if i != a]
    before = ctx["original_read"][usable]
    flipped = read[:, a] == targets
    ids = paired_cosines(embeddings, ctx["original_embeddings"][usable])
    return {"flip": float(flipped.mean()),
            "preserved": float((read[:, others] == before[:, others]).mean()),
            "id_unedited": float(ids.mean()), "id_flipped": float(ids[flipped].mean()) if flipped.any() else float("nan"),
            "identities": int(usable.sum())}


def evaluate_edits(ctx: dict, config, strength: float, reader: Reader) -> dict[str, dict[str, float]]:
    """Per attribute: flip, preserved, ID score to the unedited model and to the ground truth (with its ceiling),
    for directions fit with `config` (a DirectionsConfig)."""
    from w2w_core.directions import edit, fit_directions
    from w2w_core.evaluate import centroid_cosines

    names = list(ctx["attribute_names"])
    directions = fit_directions(ctx["coefficients"], ctx["labels"], names, ctx["space"], config)
    everyone = np.ones(len(ctx["thetas"]), bool)
    rows = {}
    for attribute in EDITED:
        a = names.index(attribute)
        targets = ~ctx["original_read"][:, a]  # towards what the unedited model does not show
        edited = np.stack([edit(theta, ctx["space"], directions, {attribute: strength if t else -strength})
                           for theta, t in zip(ctx["thetas"], targets)])
        read, embeddings = reader.read(edited_images(ctx, edited))
        truth = truth_centroids(ctx["seeds"], attribute, targets, reader)
        rows[attribute] = {**edit_scores(read, embeddings, targets, a, ctx, everyone),
                           "id_truth": float(centroid_cosines(embeddings, truth["centroids"]).mean()),
                           "truth_ceiling": truth["ceiling"], "perfect_edit_id": truth["perfect_edit_id"]}
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
        rows[attribute] = {**edit_scores(read, embeddings, targets[usable], a, ctx, usable),
                           "id_truth": float("nan"), "truth_ceiling": float("nan")}
    return rows


def context(args: argparse.Namespace) -> dict:
    """Everything the evaluations share: the zoo's space and coefficients, the held-out models and their readings."""
    from storage.space_store import load_space
    from storage.weight_store import WeightStore
    from tasks.config import PicturesConfig
    from tasks.directions import training_coefficients
    from tasks.models import base_model_for, model_images
    from w2w_core.lora.layout import LoraLayout

    space = load_space(args.zoo)
    coefficients, labels, names = training_coefficients(args.zoo, space)
    held = WeightStore.open(heldout_store(args.zoo, Path(args.heldout_store), args.heldout), read_only=True)
    rows = held.done_rows()[: args.heldout]  # the store may hold more than asked for
    layout = LoraLayout.from_dict(held.layout)
    base = base_model_for(layout)
    pictures = PicturesConfig(images_per_model=args.images, seed=1)
    thetas = held.read_rows(rows).astype(np.float32)
    reader = Reader()
    original_read, original_embeddings = reader.read(model_images(base, thetas, layout, pictures))
    return {"space": space, "coefficients": coefficients, "labels": labels, "attribute_names": names,
            "thetas": thetas, "seeds": [int(s) for s in held.identity_seeds(rows)], "layout": layout, "base": base,
            "pictures": pictures, "original_read": original_read, "original_embeddings": original_embeddings,
            "reader": reader, "delay_t": args.delay_t}


def print_edit_table(title: str, rows: dict[str, dict[str, float]], baseline: dict[str, dict[str, float]] | None = None) -> None:
    """One markdown table; with the prompting baseline, whether each attribute meets the bars (flip and
    preservation >= 0.9, ID score above prompting's)."""
    print(f"\n{title}\n| attribute | flip | preserved | ID vs unedited (a perfect edit's) | ID of the flipped | "
          "ID vs true edit (render ceiling) |" + (" bars |" if baseline else ""))
    print("|---|---:|---:|---:|---:|---:|" + ("---|" if baseline else ""))
    for attribute, r in rows.items():
        line = (f"| {attribute} | {r['flip']:.2f} | {r['preserved']:.2f} | {r['id_unedited']:.3f} "
                f"({r.get('perfect_edit_id', float('nan')):.3f}) | {r['id_flipped']:.3f} | "
                f"{r['id_truth']:.3f} ({r['truth_ceiling']:.3f}) |")
        if baseline:
            line += f" {'met' if meets_bars(r, baseline.get(attribute)) else 'not met'} |"
        print(line)


def meets_bars(row: dict[str, float], prompting: dict[str, float] | None) -> bool:
    above_prompting = prompting is None or row["id_unedited"] > prompting["id_unedited"]
    return row["flip"] >= 0.9 and row["preserved"] >= 0.9 and above_prompting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default=None, help="store with a space (default: the embedded zoo)")
    parser.add_argument("--heldout", type=int, default=50, help="held-out identities to edit")
    parser.add_argument("--heldout-store", default=str(ROOT / "runs" / "heldout-store"), help="where they are trained")
    parser.add_argument("--m", default="", help="components for the directions, comma-separated (default: the default m)")
    parser.add_argument("--strengths", default="1", help="edit strengths, comma-separated")
    parser.add_argument("--images", type=int, default=4, help="images per model")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--method", default="least_squares", help="least_squares (the paper's), logistic or mean_shift")
    parser.add_argument("--debias", default="", help="attributes removed from every other direction, comma-separated")
    parser.add_argument("--debias-mode", default="sequential", help="sequential (the reference's) or joint")
    parser.add_argument("--delay-t", type=int, default=None,
                        help="delayed injection: the original model while the timestep is above T (paper: 700-1000 global, "
                             "400-700 fine edits)")
    parser.add_argument("--json", default=None, help="also write every number here")
    args = parser.parse_args()
    import torch

    from tasks.config import ZOO_DIR
    from w2w_core.directions import DirectionsConfig, default_m

    torch.set_num_threads(args.threads)
    args.zoo = zoo_with_space(args.zoo or str(ZOO_DIR), ROOT / "runs")
    ctx = context(args)
    ms = [int(m) for m in args.m.split(",") if m] or [default_m(len(ctx["coefficients"]), ctx["space"].k)]
    print(f"zoo: {len(ctx['coefficients'])} models, space k={ctx['space'].k}; {len(ctx['thetas'])} held-out identities, "
          f"{args.images} images per model; default m = {default_m(len(ctx['coefficients']), ctx['space'].k)}")
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
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
