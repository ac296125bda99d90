"""The build-weights-dataset flow on a real (temporary) Prefect API: local, S3 and Dask.

Rows equal the trainer called directly, reruns retrain nothing, a diverging
identity is failed with its reason and the run ends Failed, and a rerun
retrains exactly the failed rows.
"""
from __future__ import annotations

import logging

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app as w2w
from storage import format as fmt
from storage.weight_store import WeightStore
from tests.flows.dataset_support import build, dataset_config, direct_vector, store_rows
from w2w_core import world

pytestmark = pytest.mark.integration  # every test here talks to a temporary Prefect server


def test_flow_trains_rows_like_the_trainer_and_reruns_train_nothing(tmp_path, tiny_model_dir, prefect_api):
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir)
    first = build(url, 6, 3, config, retries=0)
    assert (first["done"], first["failed"], first["pending"], first["batches_run"]) == (6, 0, 0, 2)
    assert first["trained_rows"] == list(range(6))

    rows = store_rows(url)
    seeds = world.train_seeds(6)
    assert rows["seeds"].tolist() == seeds and rows["ids"].tolist() == [f"world-{s}" for s in seeds]
    assert rows["attributes"].tolist() == [world.attribute_vector(world.make_identity(s)).tolist() for s in seeds]
    assert set(rows["config_hash"]) == {config.config_hash} and np.isfinite(rows["final_loss"]).all()
    for row, batch in ((0, [0, 1, 2]), (4, [3, 4, 5])):  # the flow stores what the trainer gives
        np.testing.assert_array_equal(rows["vectors"][row], direct_vector(config, row, batch))
    assert len({r.tobytes() for r in rows["vectors"]}) == 6  # six identities, six models

    again = build(url, 6, 3, config, retries=0)
    assert again["trained_rows"] == [] and again["batches_run"] == 0
    np.testing.assert_array_equal(store_rows(url)["vectors"], rows["vectors"])

    grown = build(url, 8, 3, config, retries=0)  # grows the store; old rows untouched
    assert grown["trained_rows"] == [6, 7] and grown["done"] == 8
    after = store_rows(url)
    np.testing.assert_array_equal(after["vectors"][:6], rows["vectors"])
    assert after["seeds"].tolist() == world.train_seeds(8) and len(after["verify_bad"]) == 0


def test_diverging_identity_fails_the_run_and_a_rerun_retrains_only_it(tmp_path, tiny_model_dir, prefect_api):
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir)
    state = build(url, 4, 2, config, retries=1, retry_delay_s=0,
                                  lr_overrides={1: 1e30}, return_state=True)
    assert state.is_failed() and "1 failed" in state.message
    store = WeightStore.open(url, read_only=True)
    assert store.status().tolist() == [fmt.DONE, fmt.FAILED, fmt.DONE, fmt.DONE]
    [(row, identity, reason)] = store.failures()
    assert (row, identity) == (1, f"world-{world.train_seeds(2)[1]}")
    assert reason.startswith("TrainingDivergedError: fine-tune loss became nan")
    before = store_rows(url)

    gentler = config.with_learning_rate(5e-3)
    fixed = build(url, 4, 2, config, retries=0, lr_overrides={1: 5e-3})
    assert fixed["trained_rows"] == [1] and fixed["done"] == 4 and fixed["failed"] == 0
    after = store_rows(url)
    for row in (0, 2, 3):
        np.testing.assert_array_equal(after["vectors"][row], before["vectors"][row])
    np.testing.assert_array_equal(after["vectors"][1], direct_vector(gentler, 1))
    assert after["config_hash"].tolist() == [config.config_hash, gentler.config_hash,
                                             config.config_hash, config.config_hash]
    assert store.failures() == []


def test_a_store_built_with_another_config_is_refused(tmp_path, tiny_model_dir, prefect_api):
    url = str(tmp_path / "w.zarr")
    build(url, 2, 2, dataset_config(tiny_model_dir), retries=0)
    state = build(url, 2, 2, dataset_config(tiny_model_dir, steps=4), return_state=True)
    assert state.is_failed() and "trained with another config" in state.message
    assert "steps" in state.message


def test_cli_build_then_status(tmp_path, tiny_model_dir, prefect_api):
    url, runner = str(tmp_path / "w.zarr"), CliRunner()
    args = ["build", url, "--n", "3", "--batch-size", "2", "--steps", "3", "--images", "4",
            "--model", str(tiny_model_dir), "--retries", "0", "--no-progress"]
    built = runner.invoke(w2w, ["dataset", *args])
    assert built.exit_code == 0, built.output
    assert '"done": 3' in built.output and '"trained": 3' in built.output
    shown = runner.invoke(w2w, ["dataset", "status", url, "--verify"])
    assert shown.exit_code == 0, shown.output
    assert "done 3  failed 0  pending 0  (of 3)" in shown.output and "3 done rows re-read, 0 bad" in shown.output


def test_flow_on_the_s3_server_with_env_credentials(s3_url, s3_env, tiny_model_dir, prefect_api):
    config = dataset_config(tiny_model_dir)
    summary = build(s3_url, 4, 2, config, retries=0)  # no storage_options: AWS_* env
    assert summary["trained_rows"] == [0, 1, 2, 3] and summary["done"] == 4
    rows = store_rows(s3_url)
    np.testing.assert_array_equal(rows["vectors"][3], direct_vector(config, 3, together=[2, 3]))
    assert len(rows["verify_bad"]) == 0
    assert build(s3_url, 4, 2, config, retries=0)["trained_rows"] == []


def test_batches_run_on_the_dask_worker_with_the_gpu_resource(tmp_path, tiny_model_dir, prefect_api):
    from distributed import Client, Scheduler, SpecCluster, Worker, get_task_stream

    logging.getLogger("distributed").setLevel(logging.WARNING)
    worker = {"cls": Worker, "options": {"nthreads": 1, "host": "127.0.0.1"}}
    gpu_worker = {"cls": Worker, "options": {"nthreads": 1, "host": "127.0.0.1", "resources": {"GPU": 1}}}
    scheduler = {"cls": Scheduler, "options": {"host": "127.0.0.1", "dashboard_address": ":0"}}
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir)
    with SpecCluster(scheduler=scheduler, workers={"cpu": worker, "gpu": gpu_worker}) as cluster, \
            Client(cluster) as client:
        info = client.scheduler_info()["workers"]
        [gpu_address] = [a for a, w in info.items() if w["resources"].get("GPU")]
        with get_task_stream(client) as stream:
            summary = build(url, 6, 1, config, scheduler_address=cluster.scheduler_address,
                                            retries=0)
    assert summary["trained_rows"] == list(range(6))
    ran = [r for r in stream.data if r["key"].startswith("train_identity_batch")]
    assert len(ran) == 6 and {r["worker"] for r in ran} == {gpu_address}
    np.testing.assert_array_equal(store_rows(url)["vectors"][5], direct_vector(config, 5))


def test_credentials_as_a_flow_parameter_are_refused_before_anything_runs(tmp_path, tiny_model_dir, prefect_api):
    options = {"endpoint_url": "http://127.0.0.1:9", "key": "kid", "secret": "s3cr3t"}
    state = build(str(tmp_path / "w.zarr"), 2, 2, dataset_config(tiny_model_dir), options, return_state=True)
    assert state.is_failed() and "storage_options hold credentials (key, secret)" in state.message
    assert "s3cr3t" not in state.message and not (tmp_path / "w.zarr").exists()
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
    assert run.parameters["storage_options"] == {"endpoint_url": "http://127.0.0.1:9", "key": "***", "secret": "***"}
