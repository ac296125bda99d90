"""The dataset's work functions without Prefect: prepare the store, plan batches, train one, count."""
from __future__ import annotations

import numpy as np

from storage import format as fmt
from storage.weight_store import WeightStore
from tasks.dataset import (
    batches_to_train,
    dataset_layout,
    dataset_summary,
    prepare_store,
    run_target,
    store_size,
    trained_prefix,
)
from tasks.training import train_batch
from tests.flows.dataset_support import dataset_config, direct_vector
from w2w_core import world


def test_prepare_labels_rows_with_world_identities_and_plans_chunk_batches(tmp_path, tiny_model_dir):
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir, batch_size=3, seed_offset=5)
    assert store_size(url) == 0  # no store yet
    store, n = prepare_store(url, 7, config)
    assert n == 7
    ids, attributes = store.identities(range(7))
    seeds = store.identity_seeds(range(7))
    assert seeds.tolist() == world.train_seeds(7, start=5) and ids[0] == f"world-{seeds[0]}"
    assert attributes[2].tolist() == world.attribute_vector(world.make_identity(int(seeds[2]))).tolist()
    assert store.layout == dataset_layout(config).to_dict() and store.rows_per_chunk == 3
    assert batches_to_train(store, 7) == [[0, 1, 2], [3, 4, 5], [6]]
    assert batches_to_train(store, 4) == [[0, 1, 2], [3]]  # only rows asked for
    assert store_size(url) == 7


def test_a_batch_trains_only_rows_not_done_and_fails_only_the_diverging_one(tmp_path, tiny_model_dir):
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir, batch_size=4)
    prepare_store(url, 4, config)
    first = train_batch(url, [0, 1, 2, 3], config, lr_overrides={2: 1e30}, log=lambda _: None)
    assert first.trained == (0, 1, 3) and list(first.failed) == [2] and first.skipped == ()
    assert "TrainingDivergedError" in first.failed[2]
    store = WeightStore.open(url, read_only=True)
    assert store.status().tolist() == [fmt.DONE, fmt.DONE, fmt.FAILED, fmt.DONE]
    np.testing.assert_array_equal(store.read_row(3), direct_vector(config, 3, together=[0, 1, 3]))

    again = train_batch(url, [0, 1, 2, 3], config, log=lambda _: None)
    assert again.trained == (2,) and again.skipped == (0, 1, 3)
    summary = dataset_summary(url, 4, again.trained)
    assert (summary["done"], summary["failed"], summary["pending"], summary["trained_rows"]) == (4, 0, 0, [2])


def test_a_runs_target_is_fixed_on_its_first_attempt_so_a_retry_grows_nothing_more(tmp_path, tiny_model_dir):
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir, batch_size=2)
    assert run_target(url, "run-1", 2) == 2  # no store yet: recorded before the store exists
    prepare_store(url, 2, config)  # the first attempt grows the store to its target, then fails later on
    assert run_target(url, "run-1", 2) == 2  # its retry: the same target, not 2 + 2
    assert run_target(url, "run-2", 2) == 4  # the next night's run grows on from the store's size
    prepare_store(url, 4, config)
    assert run_target(url, "run-2", 2) == 4 and store_size(url) == 4


def test_a_stores_trained_prefix_ends_at_its_first_row_not_done(tmp_path, tiny_model_dir):
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir, batch_size=2)
    assert trained_prefix(url) == 0  # no store
    prepare_store(url, 8, config)
    for rows in ([0, 1], [2, 3], [6, 7]):  # rows 4-5 still pending, as a zoo mid-build can be
        train_batch(url, rows, config, log=lambda _: None)
    assert trained_prefix(url) == 4
    train_batch(url, [4, 5], config, log=lambda _: None)
    assert trained_prefix(url) == 8
