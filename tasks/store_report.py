"""`w2w report`: the report of `w2w run` for any store that has a space and directions (local or S3).

The sections are the run's own (tasks/run.py): the store's first done
identities as renders | LoRA | projection, sampled models beside their nearest
training identity, edit sweeps, and, given a store of held-out identities,
inversions of one render and one painting. Plain functions first, then the
thin Prefect tasks.
"""
from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.boundary import redact_url
from storage.directions_store import load_directions
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.inputs import check_reportable


def first_done_rows(store_url: str, n: int) -> list[int]:
    """The store's first `n` done rows: the identities the report shows and edits."""
    return [int(r) for r in WeightStore.open(store_url, read_only=True).done_rows()[:n]]


def store_header(store_url: str, heldout_url: str | None, seconds: dict[str, float], n_files: int) -> dict[str, Any]:
    """What the report's header says: the store, its models, its space and directions, the time per stage."""
    store = WeightStore.open(store_url, read_only=True)
    space, directions = load_space(store_url), load_directions(store_url)
    return {"store": redact_url(store_url), "models_in_store": int(store.counts()["done"]),
            "heldout_store": redact_url(heldout_url) if heldout_url else "none (no inversions)",
            "k": space.k, "explained_variance": float(space.explained_variance_ratio.sum()), "m": directions.m,
            "base_model": store.layout.get("base_model_id", "unknown"), "model_files_written": n_files,
            "seconds_per_stage": dict(seconds), "total_seconds": round(sum(seconds.values()), 1)}


# ---- Prefect tasks ------------------------------------------------------------------------------

@task(name="check-reportable", cache_policy=NO_CACHE)
def check_reportable_task(store_url: str, heldout_url: str | None) -> None:
    check_reportable(store_url, heldout_url)


@task(name="first-done-rows", cache_policy=NO_CACHE)
def first_done_rows_task(store_url: str, n: int) -> list[int]:
    return first_done_rows(store_url, n)


@task(name="store-header", cache_policy=NO_CACHE)
def store_header_task(store_url: str, heldout_url: str | None, seconds: dict[str, float], n_files: int) -> dict:
    return store_header(store_url, heldout_url, seconds, n_files)
