"""What every benchmark script shares: its command line (with `--config`), threads, the zoo with a space,
held-out stores, JSON output and Markdown tables.

A script builds its parser with `parser(__doc__)`, reads it with `parse(parser)`, calls `set_threads(n)`
before any heavy work, and writes its numbers with `write_json`. A study variant is a file under
benchmarks/configs/ (nanoGPT's config/*.py): plain assignments whose names are the script's options,

    # benchmarks/configs/editing_logistic.py
    heldout = 24
    m = "600"
    strengths = "4"
    method = "logistic"

run as `python -m benchmarks.editing --config benchmarks/configs/editing_logistic.py`; the file sets the
script's defaults, so any flag given beside it still wins.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "runs"  # held-out stores, the zoo's snapshot with a space, JSON outputs (git-ignored)
HELDOUT_STORE = RUNS / "heldout-store"  # the held-out identities every quality benchmark edits, samples and inverts
EDITED = ("male", "beard", "glasses", "young", "bald", "chubby", "smiling", "blond_hair")  # attributes the bars cover
ENVIRONMENT = {"OMP_WAIT_POLICY": "PASSIVE", "PREFECT_LOGGING_LEVEL": "WARNING",
               "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def parser(doc: str, raw: bool = False) -> argparse.ArgumentParser:
    """A script's parser, described by its docstring's first line (`raw`: the whole docstring, as written),
    with `--config FILE`."""
    formatter = argparse.RawDescriptionHelpFormatter if raw else argparse.HelpFormatter
    out = argparse.ArgumentParser(description=doc if raw else doc.splitlines()[0], formatter_class=formatter)
    out.add_argument("--config", default=None, help="a study's file of option assignments (benchmarks/configs/*.py): "
                     "it sets this script's defaults; flags given beside it win")
    return out


def parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line, with the `--config` file's assignments as the defaults; the process's
    environment set for a benchmark (`environment`) before anything heavy loads."""
    environment()
    known, _ = parser.parse_known_args(argv)
    if known.config:
        parser.set_defaults(**read_config(known.config, parser))
    return parser.parse_args(argv)


def read_config(path: str | Path, parser: argparse.ArgumentParser) -> dict:
    """The assignments of a config file, by option name (`heldout_store` for --heldout-store); a list or tuple
    becomes the comma-separated text the option takes. A name that is no option of the script is an error."""
    path = Path(path)
    if not path.is_file():
        parser.error(f"--config {path}: no such file")
    values: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), {}, values)  # a study's file of assignments, as nanoGPT's
    options = {action.dest for action in parser._actions} - {"help", "config"}
    unknown = sorted(name for name in values if not name.startswith("_") and name not in options)
    if unknown:
        parser.error(f"--config {path}: {', '.join(unknown)} is not an option of this script "
                     f"(its options: {', '.join(sorted(options))})")
    return {name: ",".join(str(v) for v in value) if isinstance(value, list | tuple) else value
            for name, value in values.items() if not name.startswith("_")}


def environment() -> None:
    """Quiet Prefect and keep idle OpenMP threads from spinning (the machine is shared): before torch loads."""
    for name, value in ENVIRONMENT.items():
        os.environ.setdefault(name, value)


def set_threads(threads: int) -> None:
    """Torch's threads, told before any heavy work (the environment first, so OpenMP starts passive)."""
    environment()
    import torch

    torch.set_num_threads(threads)


def write_json(path: str | Path | None, results, indent: int = 1) -> None:
    """Every number of the run, where `--json` asked for it (nothing without a path)."""
    if path:
        Path(path).write_text(json.dumps(results, indent=indent))


def markdown_table(columns: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> str:
    """A Markdown table: `align` has one letter per column, l (text) or r (numbers); default: the first
    column text, the others numbers."""
    align = align or "l" + "r" * (len(columns) - 1)
    lines = ["| " + " | ".join(columns) + " |", "|" + "".join("---|" if a == "l" else "---:|" for a in align)]
    lines += ["|" + "".join(f" {cell} |" if cell != "" else " |" for cell in row) for row in rows]
    return "\n".join(lines)


def print_table(columns: Sequence[str], rows: Iterable[Sequence[object]], align: str | None = None) -> None:
    print(markdown_table(columns, rows, align), flush=True)


# ---------------------------------------------------------------- the zoo and held-out stores

def zoo_with_space(zoo: str | None = None, workdir: Path = RUNS) -> str:
    """The zoo's done rows with a space fit on them: the zoo itself (default: the shipped one) when it has
    one, else a snapshot of it under `workdir` with the space `w2w run` would fit (k = default_k(N)), made
    again whenever the zoo holds other done rows than the snapshot. The shipped zoo is never written to."""
    import shutil

    from storage.format import SPACE_GROUP
    from storage.space_store import save_space
    from storage.weight_store import WeightStore
    from tasks.config import ZOO_DIR
    from tasks.space import fit_space_from_store
    from w2w_core.pca import PCAConfig
    from w2w_core.space import default_k

    zoo = zoo or str(ZOO_DIR)
    if (Path(zoo) / SPACE_GROUP).exists():
        return zoo
    snapshot = workdir / "zoo-snapshot"
    done = WeightStore.open(zoo, read_only=True).done_rows()
    if (not (snapshot / SPACE_GROUP).exists()
            or list(WeightStore.open(str(snapshot), read_only=True).done_rows()) != list(done)):
        shutil.rmtree(snapshot, ignore_errors=True)
        shutil.copytree(zoo, snapshot, ignore=shutil.ignore_patterns("leases", "runs"))
        n = WeightStore.open(str(snapshot), read_only=True).counts()["done"]
        save_space(fit_space_from_store(str(snapshot), PCAConfig(k=default_k(n))), str(snapshot))
    return str(snapshot)


def recorded_finetune_config(recorded: dict):
    """The FinetuneConfig a store recorded (its train_config), to train more identities the same way."""
    from w2w_core.finetune.config import FinetuneConfig
    from w2w_core.lora.layout import LoraSpec

    lora = LoraSpec(**{**recorded["lora"], "target_modules": tuple(recorded["lora"]["target_modules"])})
    return FinetuneConfig(**{**recorded, "lora": lora})


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


def heldout_models(zoo: str, n: int, path: Path = HELDOUT_STORE):
    """(the held-out store, opened to read; its first n done rows; their identity seeds), built if missing."""
    from storage.weight_store import WeightStore

    store = WeightStore.open(heldout_store(zoo, path, n), read_only=True)
    rows = store.done_rows()[:n]  # the store may hold more than asked for
    return store, rows, [int(s) for s in store.identity_seeds(rows)]


def retrain_flipped(store, rows: list[int], attribute: str | None):
    """The store's world identities at `rows` trained again with its recipe and noise, `attribute` flipped
    (None: as they are): θ [n, d] float64, and each one's sign, +1 where the trained identity has the attribute."""
    import numpy as np

    from tasks.models import base_model_for
    from w2w_core import world
    from w2w_core.finetune.trainer import finetune_identities
    from w2w_core.lora.layout import LoraLayout
    from w2w_core.world.edits import with_attribute

    layout, config = LoraLayout.from_dict(store.layout), recorded_finetune_config(store.train_config["finetune"])
    per_identity, base = store.train_config["identities"]["images_per_identity"], base_model_for(layout)
    people = [world.make_identity(int(s)) for s in store.identity_seeds(rows)]
    if attribute is not None:
        people = [with_attribute(p, attribute, not p.attributes[attribute]) for p in people]
    sign = np.where([p.attributes[attribute] for p in people], 1.0, -1.0) if attribute else np.ones(len(people))
    results = finetune_identities(base, [world.render_identity(p, per_identity, base.image_size) for p in people],
                                  config)
    return np.stack([r.vector for r in results]).astype(np.float64), sign


# ---------------------------------------------------------------- models' images against their identities

def reference_centroids(reader, seeds: list[int], n: int):
    """Unit centroids of other renders of each identity (variation 1), and the render ceiling: renders with
    yet other nuisance (variation 2) scored against them."""
    from w2w_core.evaluate import centroid_cosines, renders

    centroids = reader.centroids(renders(seeds, n, variation_seed=1))
    ceiling = centroid_cosines(reader.read(renders(seeds, n, variation_seed=2))[1], centroids)
    return centroids, float(ceiling.mean())


def models_id_score(reader, base, vectors, layout, pictures, reference) -> float:
    """The mean ID score of the models `vectors`: their images against their identities' reference centroids."""
    from tasks.models import model_images
    from w2w_core.evaluate import centroid_cosines

    return float(centroid_cosines(reader.read(model_images(base, vectors, layout, pictures))[1], reference).mean())


# ---------------------------------------------------------------- synthetic weights

LORA_WIDTHS = (320, 640, 1280, 768)  # SD-sized attention widths


def lora_like_rows(n_rows: int, n_params: int, seed: int = 0):
    """`n_rows` flattened rank-1 LoRA vectors of `n_params` float32 values: lora_A starts kaiming-uniform
    (bound 1/sqrt(fan_in)) and drifts a little in training; lora_B starts at zero and grows small Gaussian
    values. Both are full-mantissa floats (the store's codec and throughput benchmarks write them)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = np.empty((n_rows, n_params), dtype=np.float32)
    start, m = 0, 0
    while start < n_params:
        fan_in = LORA_WIDTHS[m % len(LORA_WIDTHS)]
        fan_out = LORA_WIDTHS[(m + 1) % len(LORA_WIDTHS)]
        a = min(fan_in, n_params - start)
        bound = 1.0 / np.sqrt(fan_in)
        rows[:, start:start + a] = rng.uniform(-bound, bound, (1, a)) + rng.normal(0, 1e-3, (n_rows, a))
        start += a
        b = min(fan_out, n_params - start)
        rows[:, start:start + b] = rng.normal(0, 2e-3, (n_rows, b))
        start += b
        m += 1
    return rows
