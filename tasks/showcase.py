"""What `w2w run` shows: pictures and numbers of the dataset, sampled models, edits and inversions.

Each function takes a `Gallery` (the base model, the space, the directions,
the probe and how to draw pictures) and returns a `Section`: grids of images
(labelled in the page's own text, so the labels stay legible at any size),
the numbers behind them, and sentences computed from those numbers.
tasks/report.py lays sections out as HTML. Every model's images come from the
same noise, so rows differ only by their weights; the probe plays FaceNet's
and CLIP's part. Every caption is written from the values actually used
(strengths, samplers, scores), never as fixed text.
"""
from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tasks.config import PicturesConfig
from tasks.models import model_images
from w2w_core.base_model import BaseModel
from w2w_core.directions import Directions, edit, unit_meaning
from w2w_core.evaluate import (
    Reader,
    centroid_cosines,
    closest_identity,
    edit_scores,
    renders,
    spread_between_and_within,
)
from w2w_core.lora.layout import LoraLayout
from w2w_core.probe import Probe, read_models
from w2w_core.space import Space, project, reconstruct


@dataclass(frozen=True)
class Figure:
    """A chart: one picture (PNG bytes), what it shows."""

    title: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class Cell:
    """One image of a grid (PNG bytes) and the text under it."""

    png: bytes
    caption: str = ""


@dataclass(frozen=True)
class GridRow:
    label: str  # the model the row shows
    cells: tuple[Cell, ...]
    note: str = ""  # after the images: what the row's numbers say


@dataclass(frozen=True)
class Grid:
    """Rows of models' images under column headers; the page writes every label as text, not into a picture."""

    title: str
    caption: str
    columns: tuple[tuple[str, int], ...]  # column headers: (text, how many image columns it spans)
    rows: tuple[GridRow, ...]


@dataclass
class Section:
    title: str
    intro: str
    figures: list[Figure | Grid] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)  # sentences read off the numbers, shown after the figures


def image_png(image: np.ndarray) -> bytes:
    """PNG bytes of one uint8 [H, W, 3] image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def grid_row(label: str, images: np.ndarray, captions: Sequence[str] = (), note: str = "") -> GridRow:
    """A row of a grid: `images` [n, H, W, 3] with `captions[i]` under image i (none where missing)."""
    return GridRow(label, tuple(Cell(image_png(im), captions[i] if i < len(captions) else "")
                                for i, im in enumerate(images)), note)


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

    @property
    def reader(self) -> Reader:
        """The probe over models' images, as the benchmarks read them (w2w_core.evaluate.Reader)."""
        return Reader(self.probe)

    def read(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(attributes bool [M, A] by majority over each model's images, unit embeddings [M, n, E])."""
        return self.reader.read(images)

    def attribute(self, name: str) -> int:
        return list(self.probe.config.attributes).index(name)


def dataset_section(gallery: Gallery, seeds: Sequence[int], vectors: np.ndarray, ids: Sequence[str]) -> Section:
    """Per identity: its training renders | what its stored LoRA generates | what its projection onto the space
    generates."""
    n = gallery.pictures.images_per_model
    train = renders(seeds, n)
    projected = np.asarray(reconstruct(gallery.space, project(gallery.space, vectors)), np.float32)
    lora, space = gallery.images(vectors), gallery.images(projected)
    centroids = gallery.reader.centroids(train)
    scores = {name: float(centroid_cosines(gallery.read(x)[1], centroids).mean())
              for name, x in (("lora", lora), ("space", space))}
    rows = tuple(grid_row(str(identity), np.concatenate([train[i], lora[i], space[i]]))
                 for i, identity in enumerate(ids))
    columns = (("training renders", n), ("what its LoRA generates", n), ("its projection onto the space", n))
    figure = Grid("Identities trained in this run", "Each row is one identity fine-tuned by this run: its training "
                  f"renders, then {n} images its LoRA generates and {n} its projection onto the w2w space generates "
                  "(image i of every model shares one noise seed).", columns, rows)
    return Section("The dataset: one model per identity", "Every identity is a rank-1 LoRA, i.e. one point in "
                   "weight space. Projecting it onto the space's components keeps who it is.", [figure],
                   {"id_score_lora": scores["lora"], "id_score_projection": scores["space"], "identities": list(ids)})


# What each `w2w sample --method` does and what it trades, one sentence per method: a new sampler is one line here.
SAMPLERS = {
    "gaussian": "gaussian, the paper's sampler, draws every coefficient independently from a Gaussian fit to the "
                "training models': it goes anywhere in the space, far from any training identity, but knows nothing "
                "of which attributes go together, so a draw need not be one consistent person.",
    "attributes": "attributes, the default, draws a training model's attribute labels, then their mean coefficients "
                  "with each label's shift tripled (contrast 3) plus Gaussian noise: each sample stays one person and "
                  "far from every training identity, but glasses come out rarer than in the training set.",
    "mix": "mix draws a training model's attribute labels, their mean coefficients and the mixed residuals of two "
           "training models that share them: it keeps the training set's attribute frequencies and gives distinct "
           "people, but they sit close to training identities (see the coefficient cosine to the nearest).",
}

SPREAD_TERMS = ("Between samples: 1 minus the probe's cosine between images of two different sampled models "
                "(different noise); higher means the samples are more distinct people. Within a sample: the same "
                "between two images of one sampled model drawn with different noise; lower means each sample stays "
                "one person. A sampler that makes identities has between well above within.")


def sampler_sentence(method: str) -> str:
    """What the sampler `method` does and trades (its name alone where no sentence is written yet)."""
    return SAMPLERS.get(method, f"{method}: `w2w sample --method {method}`.")


def samples_figure(gallery: Gallery, method: str, sampled: np.ndarray, neighbours: np.ndarray,
                   neighbour_ids: Sequence[str], cosines: np.ndarray) -> tuple[Grid, dict[str, float]]:
    """New identities drawn with one sampler, each beside its nearest training identity, and how apart they are."""
    images = gallery.images(np.concatenate([sampled, neighbours]))
    k = len(sampled)
    _, embeddings = gallery.read(images[:k])
    between, within = spread_between_and_within(embeddings)
    similarity = centroid_cosines(embeddings, gallery.reader.centroids(images[k:]))
    n = images.shape[1]
    rows = tuple(grid_row(f"sample {i + 1}", np.concatenate([images[i], images[k + i]]),
                          note=f"nearest: {neighbour_ids[i]}, coefficient cosine {cosines[i]:.2f}") for i in range(k))
    columns = (("the new identity's images", n), ("its nearest training identity's", n))
    figure = Grid(f"Sampled identities: {method}", f"{sampler_sentence(method)} Each row: a new identity drawn "
                  "from the space, then the training identity closest to it in coefficients.", columns, rows)
    return figure, {"between_samples": between, "within_a_sample": within,
                    "probe_similarity_to_nearest": float(similarity.mean()),
                    "coefficient_cosine_to_nearest": float(np.mean(cosines))}


def samples_section(figures: Sequence[Grid], numbers: dict[str, dict[str, float]]) -> Section:
    """The sampled identities of every sampler shown, with their numbers per sampler."""
    return Section("Sampling: new identities as models", "A point drawn from the space is a new LoRA, a person no "
                   "training model is. " + SPREAD_TERMS, list(figures), numbers)


def strengths_text(strengths: Sequence[float]) -> str:
    """'-6, -3, 0, +3 and +6': the strengths as `w2w edit --add NAME=S` takes them."""
    parts = [f"{s:+g}" if s else "0" for s in strengths]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def edits_text(edits: Mapping[str, float]) -> str:
    """'beard +6, glasses +6, young -6'."""
    return ", ".join(f"{name} {s:+g}" for name, s in edits.items())


def edit_section(gallery: Gallery, models: Sequence[tuple[str, np.ndarray]], attributes: Sequence[str],
                 strengths: Sequence[float], flip_strength: float) -> Section:
    """Sweeps along each attribute (rows: identity, columns: strength), the probe's reading under each image,
    and how often the edit towards the value an identity lacks flips the probe's reading."""
    section = Section("Editing: moving a model along an attribute direction", "Adding a multiple (the strength) of an "
                      "attribute's direction to a model's weights adds (+) or removes (-) the attribute and keeps the "
                      f"identity. The sweeps below use strengths {strengths_text(strengths)}; the flip rate edits "
                      f"each identity by {flip_strength:g} towards what it lacks (+{flip_strength:g} to add the "
                      f"attribute, -{flip_strength:g} to remove it). Strengths are those of `w2w edit --add "
                      f"NAME=STRENGTH` (strength {unit_meaning(gallery.directions)}).")
    flips = {}
    thetas = np.stack([theta for _, theta in models])
    before, before_embeddings = gallery.read(gallery.images(thetas))
    for name in attributes:
        a = gallery.attribute(name)
        edited = np.stack([edit(theta, gallery.space, gallery.directions, {name: s})
                           for _, theta in models for s in strengths])
        images = gallery.images(edited)
        readings, _ = read_models(gallery.probe, images)
        share = readings[:, :, a].mean(axis=1).reshape(len(models), len(strengths))
        rows = tuple(grid_row(label, images[i * len(strengths):(i + 1) * len(strengths), 0],
                              [f"{name}: {share[i, j]:.2f}" for j in range(len(strengths))])
                     for i, (label, _) in enumerate(models))
        columns = tuple((f"strength {s:+g}" if s else "0 (unedited)", 1) for s in strengths)
        section.figures.append(Grid(name, f"Each row is one model edited along the {name} direction at "
                                    f"strengths {strengths_text(strengths)} (first noise seed). Under each image: the "
                                    f"share of that model's {images.shape[1]} images the probe reads as {name}.",
                                    columns, rows))
        flips[name] = edit_towards_lacking(gallery, thetas, before, before_embeddings, name, flip_strength)["flip"]
    section.numbers = {"flip_rate": flips, "flip_strength": flip_strength, "identities": [label for label, _ in models]}
    return section


def edit_towards_lacking(gallery: Gallery, thetas: np.ndarray, before: np.ndarray, before_embeddings: np.ndarray,
                         name: str, strength: float) -> dict[str, float]:
    """Each model edited by ±strength along `name` towards what the probe does not read in it (`before`,
    `before_embeddings`: the unedited models' readings): flip, preservation and ID score to the unedited model,
    by w2w_core.evaluate.edit_scores, the function the editing benchmark scores with."""
    a = gallery.attribute(name)
    had = before[:, a]
    toward = [edit(theta, gallery.space, gallery.directions, {name: -strength if h else strength})
              for theta, h in zip(thetas, had)]
    after, embeddings = gallery.read(gallery.images(np.stack(toward)))
    return edit_scores(after, embeddings, ~had, a, before, before_embeddings)


def multi_edit_section(gallery: Gallery, label: str, theta: np.ndarray, edits: Mapping[str, float]) -> Grid:
    edited = edit(theta, gallery.space, gallery.directions, edits)
    images = gallery.images(np.stack([theta, edited]))
    text = edits_text(edits)
    return Grid(f"Several attributes at once: {text}", f"One model edited along several directions at once (the sum "
                f"of the edits {text}): first as it is, then edited; image i of both shares one noise seed.",
                (("the model's images", images.shape[1]),),
                (grid_row(label, images[0]), grid_row(f"edited: {text}", images[1])))


SCORED = {"w2w": "w2w inversion", "single": "1-image LoRA", "multi": "multi-image LoRA"}  # id_score's models


def inversion_findings(inputs: Sequence[str], id_score: Mapping[str, Sequence[float]]) -> list[str]:
    """Sentences that say, from the numbers, where w2w inversion scores below the 1-image LoRA baseline (and
    where it does not), so a reader need not find it in the chart."""
    w2w, single = id_score["w2w"], id_score["single"]
    below = [i for i in range(len(inputs)) if w2w[i] < single[i]]
    others = [i for i in range(len(inputs)) if i not in below]

    def listed(indices: Sequence[int]) -> str:
        return "; ".join(f"{inputs[i]} ({w2w[i]:.3f} against {single[i]:.3f})" for i in indices)

    findings = []
    if below:
        findings.append(f"Here w2w inversion scores below the 1-image LoRA baseline from {listed(below)}: fitting "
                        "only the space's coefficients to one image kept less of the identity than fine-tuning a LoRA "
                        "on it.")
    if others:
        findings.append(f"w2w inversion scores at or above the 1-image LoRA baseline from {listed(others)}.")
    return findings


def inversion_section(gallery: Gallery, inputs: Sequence[tuple[str, int, np.ndarray]], inverted: np.ndarray,
                      single_image: np.ndarray, multi_image: np.ndarray, gallery_seeds: Sequence[int]) -> Section:
    """Per input (label, identity seed, one image): input | w2w inversion | single-image Dreambooth-LoRA |
    the identity's other renders, and ID scores of each against those other renders."""
    n = gallery.pictures.images_per_model
    seeds = [seed for _, seed, _ in inputs]
    others = renders(gallery_seeds, n, variation_seed=1)  # new position, light and background
    reference = gallery.reader.centroids(others)
    own = [list(gallery_seeds).index(seed) for seed in seeds]
    images = {name: gallery.images(v)
              for name, v in (("w2w", inverted), ("single", single_image), ("multi", multi_image))}
    embeddings = {name: gallery.read(x)[1] for name, x in images.items()}
    scores = {name: centroid_cosines(e, reference[own]) for name, e in embeddings.items()}
    closest = closest_identity(embeddings["w2w"], reference)
    rows = tuple(grid_row(label, np.concatenate([image[None], images["w2w"][i], images["single"][i], others[own[i]]]),
                          note="ID score: " + ", ".join(f"{SCORED[name]} {scores[name][i]:.2f}" for name in SCORED))
                 for i, (label, _, image) in enumerate(inputs))
    columns = (("input", 1), ("w2w inversion", n), ("1-image LoRA", n), ("other renders of the identity", n))
    figure = Grid("Inversion from one image", "One image in, one model out: w2w inversion optimises only the space's "
                  "coefficients; the baseline fine-tunes a LoRA on the same single image. The last columns are renders "
                  "of the identity the image shows, which neither model saw; the ID score is the mean probe cosine of "
                  "a model's images to them.", columns, rows)
    numbers = {"id_score": {name: [float(x) for x in v] for name, v in scores.items()},
               "inputs": [label for label, _, _ in inputs],
               "closest_identity_is_own": [bool(c == o) for c, o in zip(closest, own)]}
    return Section("Inversion: one image into the space", "The space's coefficients are a small, well-behaved "
                   "search space: fitting only them to one photo gives a model of that person.", [figure], numbers,
                   inversion_findings(numbers["inputs"], numbers["id_score"]))


__all__ = ["Cell", "Figure", "Gallery", "Grid", "GridRow", "SAMPLERS", "Section", "dataset_section", "edit_section",
           "edit_towards_lacking", "edits_text", "grid_row", "inversion_findings", "inversion_section",
           "multi_edit_section", "renders", "sampler_sentence", "samples_figure", "samples_section", "strengths_text"]
