"""A batch delivered twice at once: exactly one writer trains and writes it, never a mix of two.

Two processes train the same batches with different learning rates (so their
bytes and config hashes differ), meeting at a barrier before every batch so they
contend for real. Without the chunk lease both would write whole chunks and the
last write of each array would win: data from one writer, status or hash from
the other.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import zarr

from storage.weight_store import WeightStore
from tasks.dataset import prepare_store
from tests.flows.dataset_support import REPO, dataset_config, direct_vector

pytestmark = pytest.mark.integration  # two subprocesses training at once

ROUNDS = 6
RATES = {"a": 1e-2, "b": 3e-2}

RACE = """
import sys, time, torch
torch.set_num_threads(1)
from dataclasses import replace
from pathlib import Path
from tasks.training import train_batch
from tests.flows.dataset_support import dataset_config
url, model, name, rate, sync, rounds = sys.argv[1:7]
config = dataset_config(Path(model), batch_size=2)
config = replace(config, finetune=replace(config.finetune, learning_rate=float(rate)))
for chunk in range(int(rounds)):
    Path(sync, f"{chunk}.{name}").touch()
    deadline = time.monotonic() + 120
    while len(list(Path(sync).glob(f"{chunk}.*"))) < 2:  # the other writer died: give up, do not hang
        assert time.monotonic() < deadline, f"the other writer never reached batch {chunk}"
        time.sleep(0.005)
    report = train_batch(url, [2 * chunk, 2 * chunk + 1], config, log=lambda message: None)
    print("batch", chunk, len(report.trained), flush=True)
"""


def _config(model_dir: Path, name: str):
    config = dataset_config(model_dir, batch_size=2)
    return replace(config, finetune=replace(config.finetune, learning_rate=RATES[name]))


def _race(url: str, model_dir: Path, sync: Path) -> dict[str, dict[int, int]]:
    """Both writers over every batch; per writer, chunk -> rows it trained."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    procs = {name: subprocess.Popen([sys.executable, "-c", RACE, url, str(model_dir), name, str(rate), str(sync),
                                     str(ROUNDS)], env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True) for name, rate in RATES.items()}
    trained = {}
    for name, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
        lines = [line.split() for line in out.splitlines() if line.startswith("batch ")]
        trained[name] = {int(chunk): int(n) for _, chunk, n in lines}
    return trained


def test_two_writers_of_every_batch_leave_each_chunk_wholly_one_writers(tmp_path, tiny_model_dir):
    url, sync = str(tmp_path / "w.zarr"), tmp_path / "sync"
    sync.mkdir()
    configs = {name: _config(tiny_model_dir, name) for name in RATES}
    prepare_store(url, 2 * ROUNDS, configs["a"])

    trained = _race(url, tiny_model_dir, sync)

    for chunk in range(ROUNDS):
        assert trained["a"][chunk] + trained["b"][chunk] == 2, f"batch {chunk}: {trained}"  # one writer trained it
    store = WeightStore.open(url, read_only=True)
    assert store.counts()["done"] == 2 * ROUNDS and not store.verify().bad_rows
    hashes = zarr.open_group(url, mode="r")["config_hash"][:]
    by_hash = {configs[name].config_hash: name for name in RATES}
    for chunk in range(ROUNDS):
        rows = [2 * chunk, 2 * chunk + 1]
        writer = by_hash[hashes[rows[0]]]
        assert hashes[rows[1]] == hashes[rows[0]] and trained[writer][chunk] == 2
        for row in rows:  # the bytes are the writer's own, not the other's
            np.testing.assert_array_equal(store.read_rows([row])[0],
                                          direct_vector(configs[writer], row, rows, threads=1).astype(store.dtype))
