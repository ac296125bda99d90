"""The frozen configs a run is made of, each default written once.

Light on purpose (dataclasses, no torch, Prefect or Zarr): the CLI builds its
option defaults from these fields, and flows take them whole as parameters.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from w2w_core.errors import InputError
from w2w_core.finetune.config import FinetuneConfig


@dataclass(frozen=True)
class DatasetConfig:
    """How every identity of a weight dataset is made (one config per store)."""

    finetune: FinetuneConfig = field(default_factory=FinetuneConfig)  # the Dreambooth-LoRA run per identity
    images_per_identity: int = 10  # world renders each identity is fine-tuned on
    base_model: str | None = None  # diffusers folder of the base model; None: the embedded tiny model
    dtype: str = "float32"  # stored weight dtype: "float32", or "float16" for half the bytes
    seed_offset: int = 0  # row i is train identity number seed_offset + i (world.train_seeds)
    batch_size: int = 8  # identities per batch task = rows per store chunk (fixed once the store exists)

    def __post_init__(self) -> None:
        if self.images_per_identity < 1 or self.batch_size < 1 or self.seed_offset < 0:
            raise InputError(f"images_per_identity and batch_size must be positive and seed_offset >= 0, got "
                             f"{self.images_per_identity}, {self.batch_size}, {self.seed_offset}")

    def train_config(self) -> dict[str, Any]:
        """What the store records and checks on reopen: everything that decides a row's vector.

        The base model is not here: the store's layout carries its id and hash.
        """
        return {"finetune": asdict(self.finetune), "images_per_identity": self.images_per_identity,
                "seed_offset": self.seed_offset, "identities": "w2w_core.world.train_seeds"}

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
    """Where a dataset's batch tasks run and how a failed one is retried."""

    retries: int = 2  # retries of a failed batch task (each reruns only the rows not done)
    retry_delay_s: float = 10.0  # seconds between retries
    scheduler_address: str | None = None  # a Dask scheduler (tcp://host:8786); None: a thread here
    gpus_per_batch: float = 1.0  # GPU resource each batch asks of a Dask worker (0: any worker)


@dataclass(frozen=True)
class ReportConfig:
    """What the end-of-run report shows."""

    n_dataset_rows: int = 4  # dataset identities shown
    n_samples: int = 4  # new identities sampled from the space
    images_per_model: int = 4  # generated images per identity model
    seed: int = 0  # seed of the sampled coefficients and of every model's generation noise,
    # so that rows differ only by their weights


@dataclass(frozen=True)
class RunConfig:
    """`w2w run`: a small dataset of the embedded world, its space, the report."""

    n_identities: int = 16  # identities fine-tuned into the store
    k: int = 8  # components of the w2w space (at most n_identities - 1)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        if self.n_identities < 2:
            raise InputError(f"a w2w space needs at least 2 identities, got n_identities={self.n_identities}")
        if not 1 <= self.k <= self.n_identities - 1:
            raise InputError(f"k={self.k} components need 1 <= k <= n_identities - 1 = {self.n_identities - 1}: "
                             f"{self.n_identities} centred weight vectors span at most that many directions")
