"""The frozen configs a run is made of, each default written once.

Light on purpose (dataclasses, no torch, Prefect or Zarr): the CLI builds its
option defaults from these fields, and flows take them whole as parameters.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import w2w_core
from storage.boundary import redact_url
from w2w_core.directions import FLIP_TARGET, DirectionsConfig
from w2w_core.errors import InputError
from w2w_core.finetune.config import FinetuneConfig
from w2w_core.identities.manifest import manifest_description
from w2w_core.identities.world import WorldSource
from w2w_core.inversion.config import InversionConfig


@dataclass(frozen=True)
class DatasetConfig:
    """How every identity of a weight dataset is made (one config per store)."""

    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # the Dreambooth-LoRA run per identity
    images_per_identity: int = 10  # world renders each identity is fine-tuned on
    base_model: str | None = None  # diffusers folder of the base model; None: the embedded tiny model
    dtype: str = "float32"  # stored weight dtype: "float32", or "float16" for half the bytes
    seed_offset: int = 0  # row i is train identity number seed_offset + i (world.train_seeds)
    batch_size: int = 8  # identities per batch task = rows per store chunk = K trained together
    manifest: str | None = None  # a manifest of your own identities (CSV, JSONL, Parquet; local or s3://);
    # None: the embedded world
    world_split: str = "train"  # the embedded world's "train" identities, or "heldout" ones (evaluation stores)

    def __post_init__(self) -> None:
        if self.images_per_identity < 1 or self.batch_size < 1 or self.seed_offset < 0:
            raise InputError(f"images_per_identity and batch_size must be positive and seed_offset >= 0, got "
                             f"{self.images_per_identity}, {self.batch_size}, {self.seed_offset}")
        self.identities_description()  # an unknown world split fails here

    def train_config(self) -> dict[str, Any]:
        """What the store records and checks on reopen: everything that decides a row's vector.

        The base model is not here: the store's layout carries its id and hash.
        """
        return {"finetune": self.finetune.record(), "identities": self.identities_description()}

    def identities_description(self) -> dict[str, Any]:
        """Where the rows' identities come from (the source's own description)."""
        if self.manifest is None:
            return WorldSource(self.seed_offset, self.images_per_identity, self.world_split).description()
        return manifest_description(redact_url(self.manifest))

    @property
    def config_hash(self) -> str:
        """Stable hash of `train_config()`, stored with every row it trained."""
        text = json.dumps(self.train_config(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def with_learning_rate(self, learning_rate: float) -> "DatasetConfig":
        return replace(self, finetune=replace(self.finetune, learning_rate=float(learning_rate)))

    def with_steps(self, steps: int | None) -> "DatasetConfig":
        """The same config with another number of fine-tune steps (None: unchanged)."""
        return self if steps is None else replace(self, finetune=replace(self.finetune, steps=steps))


@dataclass(frozen=True)
class FanOutConfig:
    """Where a dataset's batch tasks run and how a failed one is retried.

    Without a Dask scheduler, batches run in `workers` processes on this machine,
    each with `threads_per_worker` torch threads: on 2 CPU cores, two one-thread
    processes trained 2.0-4.3x more identities per hour than one two-thread process
    (docs/benchmarks.md, batched training).
    """

    retries: int = 2  # retries of a failed batch task (each reruns only the rows not done)
    retry_delay_s: float = 10.0  # seconds between retries
    scheduler_address: str | None = None  # a Dask scheduler (tcp://host:8786); None: processes here
    gpus_per_batch: float = 1.0  # GPU resource each batch asks of a Dask worker (0: any worker)
    workers: int | None = None  # local processes running batches; None: one per CPU core; 1: a thread here
    threads_per_worker: int = 1  # torch threads in each local worker process (workers=1: this process's own)
    lease_ttl_s: float = 120.0  # a dead writer's batch lease lapses after this (storage/lease.py); renewed while alive

    def __post_init__(self) -> None:
        if self.retries < 0 or self.retry_delay_s < 0 or (self.workers is not None and self.workers < 1) \
                or self.threads_per_worker < 1 or self.lease_ttl_s <= 0:
            raise InputError(f"retries and retry_delay_s must be >= 0, workers and threads_per_worker >= 1, "
                             f"lease_ttl_s > 0; got {self.retries}, {self.retry_delay_s}, {self.workers}, "
                             f"{self.threads_per_worker}, {self.lease_ttl_s}")

    @property
    def local_workers(self) -> int:
        """How many local processes run batches (one per CPU core unless told)."""
        return self.workers if self.workers is not None else max(1, os.cpu_count() or 1)


ZOO_DIR = Path(w2w_core.__file__).parent / "assets" / "zoo"  # where the shipped zoo lives


@dataclass(frozen=True)
class PicturesConfig:
    """How models are shown: images per model, their shared noise seed, sampler steps."""

    images_per_model: int = 4  # generated images per model (every model gets the same noise)
    seed: int = 0  # noise seed of every model's images, so rows differ only by their weights
    steps: int = 25  # DDIM steps
    prompt: str = FinetuneConfig.instance_prompt  # the identity's prompt


@dataclass(frozen=True)
class CalibrationConfig:
    """How strength 1 is measured on a store of the embedded world (tasks/calibration.py): training models
    edited towards what they lack along a sweep of raw strengths, read by the probe."""

    models: int = 8  # training models edited per attribute (the same ones for every attribute)
    # the sweep, in the raw unit (the farthest training model along the direction); edits showed at 3-6
    raw_strengths: tuple[float, ...] = (0.5, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0)
    target: float = FLIP_TARGET  # strength 1 flips at least this share of them
    seed: int = 0  # which training models
    pictures: PicturesConfig = field(default_factory=lambda: PicturesConfig(images_per_model=3, seed=1))

    def __post_init__(self) -> None:
        if self.models < 2 or not 0 < self.target <= 1:
            raise InputError(f"calibration needs at least 2 models and a target flip rate in (0, 1]; got "
                             f"{self.models} and {self.target}")


@dataclass(frozen=True)
class ZooConfig:
    """The embedded zoo shipped in w2w_core/assets/zoo: float16 rows of train identities 0..n-1,
    trained with the recipe measured to keep identity fidelity at the lowest cost (docs/benchmarks.md)."""

    n_identities: int = 3000  # train identities of the world (the held-out ones are never in the zoo)
    dataset: DatasetConfig = field(default_factory=lambda: DatasetConfig(dtype="float16"))
    k: int | None = None  # components of the shipped space (None: w2w_core.space.default_k of the zoo's models)
    components_dtype: str = "float16"  # the shipped space's components: half the bytes of float32
    directions: DirectionsConfig = field(default_factory=DirectionsConfig)  # the shipped directions
    calibration: CalibrationConfig | None = field(default_factory=CalibrationConfig)  # their strength 1 (None: raw)


@dataclass(frozen=True)
class EditConfig:
    """`w2w edit`: which file format, what pictures, and delayed injection."""

    format: str = "diffusers"  # LoRA file format: "diffusers" or "kohya" (A1111 / ComfyUI)
    delay_t: int | None = None  # delayed injection: the original model while the timestep is above this
    pictures: PicturesConfig = field(default_factory=PicturesConfig)

    def __post_init__(self) -> None:
        if self.format not in ("diffusers", "kohya"):
            raise InputError(f"unknown LoRA format {self.format!r}: choose diffusers or kohya")
        if self.delay_t is not None and not 0 <= self.delay_t <= 1000:
            raise InputError(f"delay_t is a timestep in 0..1000, got {self.delay_t}")


SAMPLING_METHODS = ("gaussian", "attributes", "mix")
# each label sampler's contrast when none is given: attributes at 3 keeps one person per sample (images of a
# sample 0.462 apart, training models 0.443) and stays far from any training identity (0.545); mix was measured
# at 1 (docs/research/2026-12-07-default-sampler.md)
DEFAULT_CONTRAST = {"attributes": 3.0, "mix": 1.0}


@dataclass(frozen=True)
class SampleConfig:
    """`w2w sample`: new identity models drawn from the space (paper Sec. 3.2)."""

    n: int = 8  # models to sample
    m: int | None = None  # leading components drawn (None: all of the space's); the rest stay at their mean
    spread: float = 1.0  # scales every component's std (1: the training models' spread)
    seed: int = 0  # seed of the sampled coefficients
    # "attributes" (the default: the sampler that measured best at one person per sample, apart from each other
    # and from the training identities), "gaussian" (the paper's) or "mix" (w2w_core/attribute_model)
    method: str = "attributes"
    contrast: float | None = None  # "attributes" and "mix": scales each model's label shift about the mean
    # labels' (None: DEFAULT_CONTRAST of the method)
    mix: int = 2  # "mix" only: training models whose residuals make each sample's (2 keeps the most structure)
    pictures: PicturesConfig = field(default_factory=PicturesConfig)

    def __post_init__(self) -> None:
        if self.n < 1 or self.spread < 0 or (self.m is not None and self.m < 1):
            raise InputError(f"need n >= 1, spread >= 0 and m >= 1; got n={self.n}, spread={self.spread}, m={self.m}")
        if self.contrast is not None and self.contrast < 0:
            raise InputError(f"contrast must be >= 0, got {self.contrast}")
        if self.mix < 2:
            raise InputError(f"mix must be >= 2 training models (1 would copy one), got {self.mix}")
        if self.method not in SAMPLING_METHODS:
            raise InputError(f"unknown sampling method {self.method!r}: choose one of {', '.join(SAMPLING_METHODS)}")

    @property
    def label_contrast(self) -> float:
        """The contrast the label samplers use: the one given, else the method's measured default."""
        return self.contrast if self.contrast is not None else DEFAULT_CONTRAST.get(self.method, 1.0)


@dataclass(frozen=True)
class ReportConfig:
    """What the report of `w2w run` shows."""

    pictures: PicturesConfig = field(default_factory=PicturesConfig)
    n_dataset_rows: int = 4  # identities of this run shown as renders | LoRA | projection
    n_samples: int = 6  # new identities sampled from the space, by each sampler
    # the default sampler, the paper's, and the one that keeps the training attribute frequencies
    sample_methods: tuple[str, ...] = ("attributes", "gaussian", "mix")
    n_edited: int = 6  # identities edited (training ones of this run, held-out, inverted), for the flip rate
    edit_attributes: tuple[str, ...] = ("beard", "glasses", "smiling", "male")
    # strengths in the calibrated unit (w2w_core/directions: 1 flips half of the training models tried). On 16
    # held-out identities strength 1 flipped 0.50-0.75 of these four attributes and 2 flipped 0.81-1.00
    # (benchmarks/edit_strength.py), so the flip rate is read at 2, about the old raw 6 it replaces
    flip_strength: float = 2.0  # the edit towards what an identity lacks, for the report's flip rate
    edit_strengths: tuple[float, ...] = (-2.0, -1.0, 0.0, 1.0, 2.0)
    multi_edit: tuple[tuple[str, float], ...] = (("beard", 1.5), ("glasses", 1.5), ("young", -1.5))
    inversion: InversionConfig = field(default_factory=InversionConfig)
    single_image: FinetuneConfig = field(default_factory=FinetuneConfig)  # the 1-image Dreambooth-LoRA baseline

    def __post_init__(self) -> None:
        unknown = [m for m in self.sample_methods if m not in SAMPLING_METHODS]
        if unknown or not self.sample_methods:
            raise InputError(f"report sample_methods must be one or more of {', '.join(SAMPLING_METHODS)}; "
                             f"got {', '.join(self.sample_methods) or 'none'}")


@dataclass(frozen=True)
class RunConfig:
    """`w2w run`: the embedded zoo, grown by this run's own identities, its space, directions and applications."""

    n_identities: int = 32  # identities this run fine-tunes, after the zoo's (the zoo's recipe)
    use_zoo: bool = True  # start from the shipped zoo (False: this run's identities alone)
    n_heldout: int = 4  # held-out identities (never in the store) trained to be edited and inverted
    k: int | None = None  # components of the space (None: min(1000, models - 1))
    zoo: ZooConfig = field(default_factory=ZooConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        if self.n_identities < 1 or self.n_heldout < 2:
            raise InputError(f"a run needs at least 1 identity and 2 held-out ones, got {self.n_identities} and "
                             f"{self.n_heldout}")
        if not self.use_zoo and self.n_identities < 3:
            raise InputError(f"without the zoo, a w2w space needs at least 3 identities, got {self.n_identities}")
        if self.k is not None and self.k < 1:
            raise InputError(f"k must be at least 1, got {self.k}")
