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
flip / preservation / identity trade-off; sampling compares the attribute
frequencies of sampled models with the training set's, and their distances.

    python benchmarks/editing.py --heldout 50 --m 20,60,150,300,600 --strengths 1,2
    python benchmarks/editing.py --heldout 50 --sampling 64
"""
from __future__ import annotations

import argparse
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


def heldout_store(zoo: str, path: Path, n: int) -> str:
    """The first n held-out identities trained with the zoo's recipe (built once, reused after)."""
    from flows.dataset import build_weights_dataset
    from storage.weight_store import WeightStore
    from tasks.config import DatasetConfig, FanOutConfig

    zoo_config = WeightStore.open(zoo, read_only=True).train_config
    config = replace(DatasetConfig(dtype="float32", world_split="heldout"),
                     finetune=_finetune_config(zoo_config["finetune"]),
                     images_per_identity=zoo_config["identities"]["images_per_identity"])
    build_weights_dataset(str(path), n, config, FanOutConfig(retries=0))
    return str(path)


def _finetune_config(recorded: dict):
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


def _paired_cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per model: mean cosine between image i of a and image i of b (unit embeddings [M, n, E])."""
    return np.einsum("mne,mne->mn", a, b).mean(axis=1)


def _centroid_cosine(a: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    return np.einsum("mne,me->mn", a, centroids).mean(axis=1)


def truth_centroids(seeds: list[int], attribute: str, targets: np.ndarray, reader: Reader) -> np.ndarray:
    """Unit probe centroids of renders of each identity with the attribute truly set to its target."""
    from w2w_core import world
    from w2w_core.world.edits import with_attribute

    renders = np.stack([world.render_identity(with_attribute(world.make_identity(s), attribute, bool(t)), 8, 32)
                        for s, t in zip(seeds, targets)])
    _, embeddings = reader.read(renders)
    means = embeddings.mean(axis=1)
    return means / np.linalg.norm(means, axis=1, keepdims=True)


def evaluate_edits(ctx: dict, m: int, strength: float, reader: Reader) -> dict[str, dict[str, float]]:
    """Per attribute: flip, preserved, ID score to the unedited model and to the ground truth."""
    from tasks.models import model_images
    from w2w_core.directions import DirectionsConfig, edit, fit_directions

    names = list(ctx["attribute_names"])
    directions = fit_directions(ctx["coefficients"], ctx["labels"], names, ctx["space"], DirectionsConfig(m=m))
    rows = {}
    for attribute in EDITED:
        a = names.index(attribute)
        targets = ~ctx["original_read"][:, a]  # towards what the unedited model does not show
        edited = np.stack([edit(theta, ctx["space"], directions, {attribute: strength if t else -strength})
                           for theta, t in zip(ctx["thetas"], targets)])
        read, embeddings = reader.read(model_images(ctx["base"], edited, ctx["layout"], ctx["pictures"]))
        others = [i for i in range(len(names)) if i != a]
        rows[attribute] = {
            "flip": float((read[:, a] == targets).mean()),
            "preserved": float((read[:, others] == ctx["original_read"][:, others]).mean()),
            "id_unedited": float(_paired_cosine(embeddings, ctx["original_embeddings"]).mean()),
            "id_truth": float(_centroid_cosine(embeddings, truth_centroids(ctx["seeds"], attribute, targets, reader)).mean()),
        }
    return rows


def prompting_baseline(ctx: dict, reader: Reader) -> dict[str, dict[str, float]]:
    """The unedited model prompted with the target attribute's phrase (where the vocabulary has one)."""
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
        read = np.zeros_like(ctx["original_read"][usable])
        embeddings = []
        for j, (theta, t) in enumerate(zip(ctx["thetas"][usable], targets[usable])):
            pictures = replace(ctx["pictures"], prompt=prompts[bool(t)])
            from tasks.models import model_images

            r, e = reader.read(model_images(ctx["base"], theta[None], ctx["layout"], pictures))
            read[j], _ = r[0], embeddings.append(e[0])
        embeddings = np.stack(embeddings)
        others = [i for i in range(len(names)) if i != a]
        rows[attribute] = {
            "flip": float((read[:, a] == targets[usable]).mean()),
            "preserved": float((read[:, others] == ctx["original_read"][usable][:, others]).mean()),
            "id_unedited": float(_paired_cosine(embeddings, ctx["original_embeddings"][usable]).mean()),
            "id_truth": float("nan"), "identities": int(usable.sum()),
        }
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
    rows = held.done_rows()
    layout = LoraLayout.from_dict(held.layout)
    base = base_model_for(layout)
    pictures = PicturesConfig(images_per_model=args.images, seed=1)
    thetas = held.read_rows(rows).astype(np.float32)
    reader = Reader()
    original_read, original_embeddings = reader.read(model_images(base, thetas, layout, pictures))
    return {"space": space, "coefficients": coefficients, "labels": labels, "attribute_names": names,
            "thetas": thetas, "seeds": [int(s) for s in held.identity_seeds(rows)], "layout": layout, "base": base,
            "pictures": pictures, "original_read": original_read, "original_embeddings": original_embeddings,
            "reader": reader}


def print_edit_table(title: str, rows: dict[str, dict[str, float]]) -> None:
    print(f"\n{title}\n| attribute | flip | preserved | ID score vs unedited | ID score vs true edit |")
    print("|---|---:|---:|---:|---:|")
    for attribute, r in rows.items():
        print(f"| {attribute} | {r['flip']:.2f} | {r['preserved']:.2f} | {r['id_unedited']:.3f} | {r['id_truth']:.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", default=None, help="store with a space (default: the embedded zoo)")
    parser.add_argument("--heldout", type=int, default=50, help="held-out identities to edit")
    parser.add_argument("--heldout-store", default=str(ROOT / "runs" / "heldout-store"), help="where they are trained")
    parser.add_argument("--m", default="", help="components for the directions, comma-separated (default: the default m)")
    parser.add_argument("--strengths", default="1", help="edit strengths, comma-separated")
    parser.add_argument("--images", type=int, default=4, help="images per model")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    import torch

    from tasks.config import ZOO_DIR
    from w2w_core.directions import default_m

    torch.set_num_threads(args.threads)
    args.zoo = args.zoo or str(ZOO_DIR)
    ctx = context(args)
    ms = [int(m) for m in args.m.split(",") if m] or [default_m(len(ctx["coefficients"]), ctx["space"].k)]
    print(f"zoo: {len(ctx['coefficients'])} models, space k={ctx['space'].k}; {len(ctx['thetas'])} held-out identities, "
          f"{args.images} images per model")
    print_edit_table("baseline: prompting the unedited model", prompting_baseline(ctx, ctx["reader"]))
    for m in ms:
        for strength in (float(s) for s in args.strengths.split(",")):
            print_edit_table(f"w2w edit, m={m}, strength {strength:g}", evaluate_edits(ctx, m, strength, ctx["reader"]))


if __name__ == "__main__":
    main()
