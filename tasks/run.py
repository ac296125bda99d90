"""The stages of `w2w run` after training: start from the zoo, then show the dataset, samples, edits, inversions.

Each function opens what it needs from the run's stores and returns one
report `Section`. Plain functions first (usable without Prefect), then the
thin Prefect tasks.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.directions_store import DIRECTIONS_GROUP, load_directions
from storage.format import DONE, RECORD_FOLDERS, SPACE_GROUP
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.config import PicturesConfig, ReportConfig, RunConfig, SampleConfig
from tasks.directions import training_coefficients
from tasks.models import base_model_for, save_model
from tasks.sampling import nearest_training_models, sampled_coefficients
from tasks.showcase import (
    Gallery,
    Section,
    dataset_section,
    edit_section,
    inversion_section,
    multi_edit_section,
    renders,
    samples_figure,
    samples_section,
)
from w2w_core.base_model import shared_base_model
from w2w_core.directions import edit
from w2w_core.errors import InputError
from w2w_core.finetune.trainer import finetune_identities
from w2w_core.inversion.optimise import invert
from w2w_core.lora.layout import LoraLayout
from w2w_core.probe import load_probe
from w2w_core.space import reconstruct

ZOO_EXTRAS = (SPACE_GROUP, DIRECTIONS_GROUP, "zoo.json", *RECORD_FOLDERS)  # not copied: the run fits its own


def seed_store_from_zoo(store_url: str, zoo_url: str) -> int:
    """Start the run's store as a copy of the zoo's rows (once; a rerun keeps what is there); rows copied."""
    target, source = Path(store_url), Path(zoo_url)
    if target.exists():
        return 0
    if not (source / "zarr.json").is_file():
        raise InputError(f"no zoo at {zoo_url}: build it with `w2w zoo build`, or run without it (--no-zoo)")
    shutil.copytree(source, target,
                    ignore=lambda folder, names: [n for n in names if Path(folder) == source and n in ZOO_EXTRAS])
    return WeightStore.open(store_url, read_only=True).counts()["done"]


def zoo_models(zoo_url: str, run_rows: list[int]) -> tuple[int, int]:
    """(the zoo's trained models, how many of them sit on this run's rows); (0, 0) without a zoo.

    A zoo still being built has done rows past its trained prefix, where the
    run's rows start: those come trained in the copy, so they are the zoo's
    models, not ones the run trained."""
    if not (Path(zoo_url) / "zarr.json").is_file():
        return 0, 0
    done = WeightStore.open(zoo_url, read_only=True).status() == DONE  # one read of the zoo's status
    inside = [r for r in run_rows if r < len(done)]
    return int(done.sum()), int(done[inside].sum())


def gallery(store_url: str, pictures: PicturesConfig) -> Gallery:
    store = WeightStore.open(store_url, read_only=True)
    layout = LoraLayout.from_dict(store.layout)
    folder = None if layout.base_model_id.startswith("w2w/") else layout.base_model_id
    base = shared_base_model(folder).model if folder is None else base_model_for(layout)
    return Gallery(base, layout, load_space(store_url), load_directions(store_url), load_probe(), pictures)


def dataset_stage(store_url: str, rows: list[int], config: ReportConfig) -> Section:
    store = WeightStore.open(store_url, read_only=True)
    return dataset_section(gallery(store_url, config.pictures), [int(s) for s in store.identity_seeds(rows)],
                           store.read_rows(rows).astype(np.float32), [str(i) for i in store.identities(rows)[0]])


Models = list[tuple[str, np.ndarray]]  # (name, θ) of models a stage showed


def samples_stage(store_url: str, config: ReportConfig) -> tuple[Section, Models]:
    """New identities from every sampler in `config.sample_methods`, each beside its nearest training identity."""
    g = gallery(store_url, config.pictures)
    coefficients, labels, _ = training_coefficients(store_url, g.space)
    store = WeightStore.open(store_url, read_only=True)
    figures, numbers, models = [], {}, []
    for method in config.sample_methods:
        sampler = SampleConfig(n=config.n_samples, seed=config.pictures.seed + 1, method=method)
        beta = sampled_coefficients(g.space, coefficients, labels, sampler)
        sampled = np.asarray(reconstruct(g.space, beta.astype(np.float32)), np.float32)
        nearest, cosines = nearest_training_models(beta, coefficients)
        rows = g.space.row_ids[nearest]
        figure, numbers[method] = samples_figure(g, method, sampled, store.read_rows(rows).astype(np.float32),
                                                 [str(i) for i in store.identities(rows)[0]], cosines)
        figures.append(figure)
        models += [(f"sample-{method}-{i + 1}", v) for i, v in enumerate(sampled)]
    return samples_section(figures, numbers), models


def edited_identities(store_url: str, heldout_url: str | None, run_rows: list[int], inverted: Models,
                      n: int) -> Models:
    """The identities to edit: this run's training ones, held-out ones (if any), and the inverted models, in turn."""
    store = WeightStore.open(store_url, read_only=True)
    done = [r for r in run_rows if store.status([r])[0] == 1]
    pools = [[(str(store.identities([r])[0][0]), store.read_row(r).astype(np.float32)) for r in done],
             _heldout_models(heldout_url), list(inverted)]
    chosen = [model for group in zip(*pools) for model in group] + [m for pool in pools for m in pool]
    unique = list({name: (name, theta) for name, theta in chosen}.values())
    return unique[:n]


def _heldout_models(heldout_url: str | None) -> Models:
    if heldout_url is None:
        return []
    held = WeightStore.open(heldout_url, read_only=True)
    return [(f"held-out {held.identities([r])[0][0]}", held.read_row(r).astype(np.float32)) for r in held.done_rows()]


def edits_stage(store_url: str, heldout_url: str | None, run_rows: list[int], inverted: Models,
                config: ReportConfig) -> tuple[Section, Models]:
    g = gallery(store_url, config.pictures)
    models = edited_identities(store_url, heldout_url, run_rows, inverted, config.n_edited)
    section = edit_section(g, models, config.edit_attributes, config.edit_strengths, config.flip_strength)
    section.figures.append(multi_edit_section(g, models[0][0], models[0][1], dict(config.multi_edit)))
    edited = [(f"{name}_{a}{s:+g}", edit(theta, g.space, g.directions, {a: s}))
              for name, theta in models for a in config.edit_attributes for s in config.edit_strengths if s]
    edited.append((f"{models[0][0]}_multi", edit(models[0][1], g.space, g.directions, dict(config.multi_edit))))
    return section, edited


def save_models(models_dir: str, store_url: str, models: Models) -> int:
    """Every model the report shows, as a diffusers LoRA file under `models_dir`; how many."""
    layout = LoraLayout.from_dict(WeightStore.open(store_url, read_only=True).layout)
    for name, theta in models:
        save_model(theta, layout, Path(models_dir) / f"{_slug(name)}.safetensors")
    return len(models)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_+." else "-" for c in text.replace(" ", "-"))


def inversion_stage(store_url: str, heldout_url: str, config: ReportConfig) -> tuple[Section, Models]:
    """Invert one render and one painting of held-out identities; the section and the inverted models."""
    g = gallery(store_url, config.pictures)
    held = WeightStore.open(heldout_url, read_only=True)
    rows = held.done_rows()
    seeds = [int(s) for s in held.identity_seeds(rows)]
    inputs = [(f"held-out {held.identities([rows[0]])[0][0]}, one render", seeds[0], renders(seeds[:1], 1)[0, 0]),
              (f"held-out {held.identities([rows[1 % len(rows)]])[0][0]}, a painting", seeds[1 % len(seeds)],
               renders(seeds[1 % len(seeds):][:1], 1, style="painting")[0, 0])]
    images = np.stack([image for _, _, image in inputs])
    inverted = np.stack([r.vector for r in invert(g.base, g.space, g.layout, images, config.inversion, progress=False)])
    single = np.stack([r.vector for r in finetune_identities(g.base, [im[None] for im in images], config.single_image,
                                                             progress=False)])
    multi = held.read_rows([rows[seeds.index(seed)] for _, seed, _ in inputs]).astype(np.float32)
    section = inversion_section(g, inputs, inverted, single, multi, seeds)
    return section, [(label.split(",")[0].replace("held-out", "inverted"), theta)
                     for (label, _, _), theta in zip(inputs, inverted)]


# ---- Prefect tasks ------------------------------------------------------------------------------

@task(name="seed-store-from-zoo", cache_policy=NO_CACHE)
def seed_store_from_zoo_task(store_url: str, zoo_url: str) -> int:
    return seed_store_from_zoo(store_url, zoo_url)


@task(name="show-dataset", cache_policy=NO_CACHE)
def dataset_stage_task(store_url: str, rows: list[int], config: ReportConfig) -> Section:
    return dataset_stage(store_url, rows, config)


@task(name="show-samples", cache_policy=NO_CACHE)
def samples_stage_task(store_url: str, config: ReportConfig) -> tuple[Section, Models]:
    return samples_stage(store_url, config)


@task(name="show-edits", cache_policy=NO_CACHE)
def edits_stage_task(store_url: str, heldout_url: str | None, run_rows: list[int], inverted: Models,
                     config: ReportConfig) -> tuple[Section, Models]:
    return edits_stage(store_url, heldout_url, run_rows, inverted, config)


@task(name="save-models", cache_policy=NO_CACHE)
def save_models_task(models_dir: str, store_url: str, models: Models) -> int:
    return save_models(models_dir, store_url, models)


@task(name="show-inversions", cache_policy=NO_CACHE)
def inversion_stage_task(store_url: str, heldout_url: str, config: ReportConfig) -> tuple[Section, Models]:
    return inversion_stage(store_url, heldout_url, config)



def run_header(config: RunConfig, zoo: tuple[int, int], built: dict, space: dict, directions: dict,
               seconds: dict[str, float], n_files: int) -> dict:
    """What the report's header says was run: where models came from, the space, the time per stage.

    `zoo` is `zoo_models`' answer: the run's rows that came trained in the zoo
    copy count as the zoo's, so the header never claims more training than the run did."""
    zoo_done, on_run_rows = zoo
    return {"zoo_used": config.use_zoo, "zoo_identities": zoo_done,
            "identities_trained_by_this_run": config.n_identities - on_run_rows,
            "trained_now": len(built["trained_rows"]), "models_in_store": built["done"],
            "heldout_identities": config.n_heldout,
            "k": space["k"], "explained_variance": space["explained_variance"], "m": directions["m"],
            "base_model": "embedded tiny SD-shaped model (w2w/tiny-sd-faces)", "model_files_written": n_files,
            "seconds_per_stage": dict(seconds), "total_seconds": round(sum(seconds.values()), 1)}
