"""What `w2w run` shows: pictures and numbers of the dataset, sampled models, edits and inversions.

Each function takes a `Gallery` (the base model, the space, the directions,
the probe and how to draw pictures) and returns a `Section`: figures (PNG
bytes, with what they show) and the numbers behind them. tasks/report.py
lays sections out as HTML. Every model's images come from the same noise, so
rows differ only by their weights; the probe plays FaceNet's and CLIP's part.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tasks.config import PicturesConfig
from tasks.models import labelled_grid, model_images
from w2w_core import world
from w2w_core.base_model import BaseModel
from w2w_core.directions import Directions, edit
from w2w_core.evaluate import centroid_cosines, identity_centroids, majority, spread_between_and_within
from w2w_core.lora.layout import LoraLayout
from w2w_core.probe import Probe, read_models
from w2w_core.space import Space, project, reconstruct


@dataclass(frozen=True)
class Figure:
    title: str
    png: bytes
    caption: str


@dataclass
class Section:
    title: str
    intro: str
    figures: list[Figure] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Gallery:
    base: BaseModel
    layout: LoraLayout
    space: Space
    directions: Directions
    probe: Probe
    pictures: PicturesConfig

    def images(self, vectors: np.ndarray, prompt: str | None = None) -> np.ndarray:
        pictures = self.pictures if prompt is None else replace(self.pictures, prompt=prompt)
        return model_images(self.base, np.asarray(vectors, np.float32), self.layout, pictures)

    def read(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(attributes bool [M, A] by majority over each model's images, unit embeddings [M, n, E])."""
        readings, embeddings = read_models(self.probe, images)
        return majority(readings), embeddings

    def attribute(self, name: str) -> int:
        return list(self.probe.config.attributes).index(name)


def renders(seeds: Sequence[int], n: int, style: str = "photo", variation_seed: int = 0) -> np.ndarray:
    return np.stack([world.render_identity(world.make_identity(int(s)), n, 32, style, variation_seed) for s in seeds])


def unit_centroids(gallery: Gallery, images: np.ndarray) -> np.ndarray:
    _, embeddings = gallery.read(images)
    return identity_centroids(embeddings.reshape(-1, embeddings.shape[-1]), len(images))


def dataset_section(gallery: Gallery, seeds: Sequence[int], vectors: np.ndarray, ids: Sequence[str]) -> Section:
    """Per identity: its training renders | what its stored LoRA generates | what its projection onto the space generates."""
    n = gallery.pictures.images_per_model
    train = renders(seeds, n)
    projected = np.asarray(reconstruct(gallery.space, project(gallery.space, vectors)), np.float32)
    lora, space = gallery.images(vectors), gallery.images(projected)
    centroids = unit_centroids(gallery, train)
    scores = {name: float(centroid_cosines(gallery.read(x)[1], centroids).mean()) for name, x in (("lora", lora), ("space", space))}
    rows = [(f"{identity}", np.concatenate([train[i], lora[i], space[i]])) for i, identity in enumerate(ids)]
    captions = [["render"] * n + ["LoRA"] * n + ["in space"] * n for _ in ids]
    figure = Figure("Identities trained in this run", labelled_grid(rows, captions=captions),
                    "Each row is one identity fine-tuned by this run: its training renders, what its LoRA generates, "
                    "and what its projection onto the w2w space generates (the same noise everywhere).")
    return Section("The dataset: one model per identity", "Every identity is a rank-1 LoRA, i.e. one point in weight space. "
                   "Projecting it onto the space's components keeps who it is.", [figure],
                   {"id_score_lora": scores["lora"], "id_score_projection": scores["space"], "identities": list(ids)})


SAMPLERS = {  # how each `w2w sample --method` draws a model, for the report's captions
    "gaussian": "the paper's sampler: each coefficient from the training models' Gaussian",
    "attributes": "--method attributes: a training model's attributes, their mean coefficients and Gaussian noise",
    "mix": "--method mix: a training model's attributes, their mean coefficients and the residuals of two "
           "training models that share them, mixed; it keeps the training attribute frequencies",
}


def samples_figure(gallery: Gallery, method: str, sampled: np.ndarray, neighbours: np.ndarray,
                   neighbour_ids: Sequence[str], cosines: np.ndarray) -> tuple[Figure, dict[str, float]]:
    """New identities drawn with one sampler, each beside its nearest training identity, and how apart they are."""
    images = gallery.images(np.concatenate([sampled, neighbours]))
    k = len(sampled)
    _, embeddings = gallery.read(images[:k])
    between, within = spread_between_and_within(embeddings)
    similarity = centroid_cosines(embeddings, unit_centroids(gallery, images[k:]))
    n = images.shape[1]
    rows = [(f"sample {i + 1}", np.concatenate([images[i], images[k + i]])) for i in range(k)]
    captions = [["new identity"] * n + _neighbour_captions(neighbour_ids[i], cosines[i], n) for i in range(k)]
    figure = Figure(f"Sampled identities: {method}", labelled_grid(rows, captions=captions),
                    f"Each row: a new identity drawn from the space ({SAMPLERS.get(method, method)}), then the "
                    "training identity closest to it in coefficients (their cosine under the images).")
    return figure, {"between_samples": between, "within_a_sample": within,
                    "probe_similarity_to_nearest": float(similarity.mean()),
                    "coefficient_cosine_to_nearest": float(np.mean(cosines))}


def samples_section(figures: Sequence[Figure], numbers: dict[str, dict[str, float]]) -> Section:
    """The sampled identities of every sampler shown, with their numbers per sampler."""
    return Section("Sampling: new identities as models", "A point drawn from the space is a new LoRA, a person no "
                   "training model is.", list(figures), numbers)


def _neighbour_captions(identity: str, cosine: float, n: int) -> list[str]:
    """Under a neighbour's n images: who it is, then how close in coefficients (on one line if n is 1)."""
    parts = [f"nearest: {identity}", f"coef. cos {cosine:.2f}"]
    return [", ".join(parts)] if n == 1 else parts + [""] * (n - 2)


def edit_section(gallery: Gallery, models: Sequence[tuple[str, np.ndarray]], attributes: Sequence[str],
                 strengths: Sequence[float], flip_strength: float) -> Section:
    """Sweeps along each attribute (rows: identity, columns: strength), the probe's reading under each image,
    and how often the edit towards the value an identity lacks flips the probe's reading."""
    section = Section("Editing: moving a model along an attribute direction", "Adding a multiple of an attribute's "
                      "direction to a model's weights adds (+) or removes (-) the attribute and keeps the identity.")
    flips = {}
    thetas = np.stack([theta for _, theta in models])
    before, _ = gallery.read(gallery.images(thetas))
    for name in attributes:
        a = gallery.attribute(name)
        edited = np.stack([edit(theta, gallery.space, gallery.directions, {name: s}) for _, theta in models for s in strengths])
        images = gallery.images(edited)
        readings, _ = read_models(gallery.probe, images)
        share = readings[:, :, a].mean(axis=1).reshape(len(models), len(strengths))
        rows = [(label, images[i * len(strengths):(i + 1) * len(strengths), 0]) for i, (label, _) in enumerate(models)]
        captions = [[f"{s:+g}: {name} {share[i, j]:.2f}" for j, s in enumerate(strengths)] for i in range(len(models))]
        section.figures.append(Figure(f"{name}", labelled_grid(rows, captions=captions),
                                      f"Strength {', '.join(f'{s:+g}' for s in strengths)} along the {name} direction; under "
                                      f"each image the share of its images the probe reads as {name}."))
        flips[name] = _flip_rate(gallery, thetas, before[:, a], name, flip_strength)
    section.numbers = {"flip_rate": flips, "flip_strength": flip_strength, "identities": [label for label, _ in models]}
    return section


def _flip_rate(gallery: Gallery, thetas: np.ndarray, had: np.ndarray, name: str, strength: float) -> float:
    """Share of models whose probe reading of `name` turns to what they lacked, edited by ±strength towards it."""
    toward = [edit(theta, gallery.space, gallery.directions, {name: -strength if h else strength})
              for theta, h in zip(thetas, had)]
    after, _ = gallery.read(gallery.images(np.stack(toward)))
    return float((after[:, gallery.attribute(name)] != had).mean())


def multi_edit_section(gallery: Gallery, label: str, theta: np.ndarray, edits: Mapping[str, float]) -> Figure:
    edited = edit(theta, gallery.space, gallery.directions, edits)
    images = gallery.images(np.stack([theta, edited]))
    text = ", ".join(f"{k} {v:+g}" for k, v in edits.items())
    return Figure(f"Several attributes at once: {text}", labelled_grid([(f"{label}", images[0]), (text, images[1])]),
                  "One model edited along several directions at once (their sum).")


def inversion_section(gallery: Gallery, inputs: Sequence[tuple[str, int, np.ndarray]], inverted: np.ndarray,
                      single_image: np.ndarray, multi_image: np.ndarray, gallery_seeds: Sequence[int]) -> Section:
    """Per input (label, identity seed, one image): input | w2w inversion | single-image Dreambooth-LoRA |
    the identity's other renders, and ID scores of each against those other renders."""
    n = gallery.pictures.images_per_model
    seeds = [seed for _, seed, _ in inputs]
    others = renders(gallery_seeds, n, variation_seed=1)  # new position, light and background
    reference = unit_centroids(gallery, others)
    own = [list(gallery_seeds).index(seed) for seed in seeds]
    images = {name: gallery.images(v) for name, v in (("w2w", inverted), ("single", single_image), ("multi", multi_image))}
    embeddings = {name: gallery.read(x)[1] for name, x in images.items()}
    scores = {name: centroid_cosines(e, reference[own]) for name, e in embeddings.items()}
    closest = _closest_identity(embeddings["w2w"], reference)
    rows = [(label, np.concatenate([image[None], images["w2w"][i], images["single"][i], others[own[i]]]))
            for i, (label, _, image) in enumerate(inputs)]
    captions = [["input"] + ["w2w inversion"] * n + ["1-image LoRA"] * n + ["other renders"] * n for _ in inputs]
    figure = Figure("Inversion from one image", labelled_grid(rows, captions=captions),
                    "One image in, one model out: w2w inversion optimises only the space's coefficients; the baseline "
                    "fine-tunes a LoRA on the same single image. The last columns are renders of the identity the "
                    "image shows, which neither model saw.")
    numbers = {"id_score": {name: [float(x) for x in v] for name, v in scores.items()},
               "inputs": [label for label, _, _ in inputs],
               "closest_identity_is_own": [bool(c == o) for c, o in zip(closest, own)]}
    return Section("Inversion: one image into the space", "The space's coefficients are a small, well-behaved "
                   "search space: fitting only them to one photo gives a model of that person.", [figure], numbers)


def _closest_identity(embeddings: np.ndarray, references: np.ndarray) -> np.ndarray:
    """For each model [M, n, E], the reference identity [R, E] its images' centroid is closest to."""
    means = embeddings.mean(axis=1)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    return (means @ references.T).argmax(axis=1)


__all__ = ["Figure", "Gallery", "Section", "dataset_section", "edit_section", "inversion_section", "multi_edit_section", "renders",
           "samples_figure", "samples_section", "unit_centroids"]
