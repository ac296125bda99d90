"""Retry from the UI, for real: a nightly run fails mid-build, the store comes back, `prefect flow-run retry`.

What a person does after a bad night: the run failed because the S3 server went
away past the task retries; once it is back they press Retry on the run (the
UI's button calls what `prefect flow-run retry` calls), and a worker reruns the
same flow run with the same parameters. The run must end Completed with exactly
the rows it was meant to add, each trained once: before the run's target was
fixed in the store, the retry recomputed "store size + add" and grew the store a
second time.
"""
from __future__ import annotations

import json
import re
import subprocess
import time

import numpy as np
import pytest

from deployments.dataset import WORK_POOL
from storage import format as fmt
from storage.s3 import ENV_ENDPOINT, ENV_KEY, ENV_SECRET, storage_options_for
from storage.space_store import load_space
from tests.deployments.prefect_support import prefect, prefect_env, prefect_server, run_state, start_worker
from tests.flows.dataset_support import store_rows
from tests.s3_fixture import TEST_BUCKET

pytestmark = pytest.mark.integration  # a prefect server, a process worker, an S3 server stopped mid-run

DEPLOYMENT = "grow-and-refit/nightly-grow"
SLOW_STEPS = 15  # seconds per batch: time to stop the S3 server while the second batch trains


def _params(url: str, model_dir) -> dict:
    return {"store_url": url, "add_identities": 4, "space": {"k": 2},
            "fan_out": {"workers": 1, "retries": 1, "retry_delay_s": 1, "lease_ttl_s": 5},
            "config": {"finetune": {"steps": SLOW_STEPS}, "base_model": str(model_dir), "images_per_identity": 4,
                       "batch_size": 2}}


def _stop_after_first_batch(server, url: str, options: dict, worker: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"the worker ended before the first batch:\n{worker.stdout.read()[-3000:]}"
        try:
            if (store_rows(url, options)["status"] == fmt.DONE).sum() >= 2:
                server.stop()
                return
        except Exception:  # noqa: BLE001 - no store yet
            pass
        time.sleep(0.05)
    raise AssertionError("the first batch was not stored in time")


@pytest.mark.integration
def test_a_failed_nightly_run_retried_from_the_ui_finishes_its_rows_and_adds_nothing_more(
        tmp_path, tiny_model_dir, s3_server_factory):
    server = s3_server_factory()
    options = storage_options_for(server.config)
    url = f"s3://{TEST_BUCKET}/retried-night"
    env = prefect_env(tmp_path / "prefect-home")
    worker_env = {**env, ENV_ENDPOINT: server.endpoint_url, ENV_KEY: server.key, ENV_SECRET: server.config.secret}
    with prefect_server(env, tmp_path / "server.log"):
        prefect(["work-pool", "create", WORK_POOL, "--type", "process"], env)
        prefect(["--no-prompt", "deploy", "--all"], {**env, "W2W_STORE_URL": url})
        created = prefect(["deployment", "run", DEPLOYMENT, "--params", json.dumps(_params(url, tiny_model_dir))], env)
        run_id = re.search(r"UUID: ([0-9a-f-]{36})", created).group(1)

        night = start_worker(worker_env)
        try:
            _stop_after_first_batch(server, url, options, night)
            out, _ = night.communicate(timeout=300)
        finally:
            night.kill()
            server.start()
        assert run_state(run_id, env) == "FAILED", out[-3000:]
        failed = store_rows(url, options)
        assert (failed["status"] == fmt.DONE).tolist() == [True, True, False, False]  # came in time: one batch done

        prefect(["flow-run", "retry", run_id], env)  # what the UI's Retry button does
        morning = start_worker(worker_env)
        out, _ = morning.communicate(timeout=300)
        assert run_state(run_id, env) == "COMPLETED", out[-3000:]

    after = store_rows(url, options)
    assert len(after["status"]) == 4 and (after["status"] == fmt.DONE).all()  # the run's 4 rows, not 4 + 4
    assert len(after["verify_bad"]) == 0
    for row in (0, 1):  # trained once: the retry left the first batch alone
        np.testing.assert_array_equal(after["vectors"][row], failed["vectors"][row])
        assert after["final_loss"][row] == failed["final_loss"][row]
    assert load_space(url, options).row_ids.tolist() == [0, 1, 2, 3]
