"""The nightly deployment for real: prefect server on 127.0.0.1, prefect.yaml deploy, a process worker.

Follows docs/deployments.md step by step with the Prefect CLI, in a temporary
PREFECT_HOME (its own SQLite database), then checks the store and the space the
run left behind. The server is stopped (its whole process group) at the end.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import s3fs

from deployments.dataset import WORK_POOL
from storage.directions_store import load_directions
from storage.s3 import storage_options_for
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tests.deployments.prefect_support import prefect, prefect_env, prefect_server
from tests.flows.dataset_support import REPO
from tests.s3_fixture import TEST_BUCKET

DEPLOYMENT = "grow-and-refit/nightly-grow"


SECRET_BLOCK = """
import json, sys
from prefect.blocks.system import Secret
Secret(value=json.loads(sys.argv[1])).save("w2w-s3", overwrite=True)
"""


def _search_prefect_database(home: Path, secret: str) -> list[str]:
    """Where the secret appears in the Prefect database: its file's bytes, flow-run parameters, logs, artifacts."""
    import sqlite3

    found = [str(p) for p in home.rglob("*.db*") if secret.encode() in p.read_bytes()]
    with sqlite3.connect(home / "prefect.db") as db:
        for table, column in (("flow_run", "parameters"), ("task_run", "task_inputs"), ("log", "message"),
                              ("artifact", "data"), ("deployment", "parameters")):
            rows = db.execute(f"SELECT {column} FROM {table}").fetchall()
            found += [f"{table}.{column}" for (value,) in rows if value and secret in str(value)]
    return found


@pytest.mark.integration
def test_nightly_deployment_grows_the_store_and_refits_through_a_worker(tmp_path, tiny_model_dir, s3_server_factory):
    server = s3_server_factory()
    secret = server.config.secret
    env = prefect_env(tmp_path / "prefect-home")  # the worker gets no credentials
    url = f"s3://{TEST_BUCKET}/nightly"
    params = {"add_identities": 4, "space": {"k": 2}, "credentials_block": "w2w-s3",
              "config": {"finetune": {"steps": 3}, "base_model": str(tiny_model_dir), "images_per_identity": 4,
                         "batch_size": 2}}
    with prefect_server(env, tmp_path / "server.log"):
        subprocess.run([sys.executable, "-c", SECRET_BLOCK, json.dumps(
            {"key": server.key, "secret": secret, "endpoint_url": server.endpoint_url})],
            env=env, check=True, timeout=120)
        prefect(["work-pool", "create", WORK_POOL, "--type", "process"], env)
        prefect(["--no-prompt", "deploy", "--all"], {**env, "W2W_STORE_URL": url})
        deployment = json.loads(prefect(["deployment", "inspect", DEPLOYMENT, "-o", "json"], env))
        assert [s["schedule"]["cron"] for s in deployment["schedules"]] == ["0 2 * * *"]
        assert deployment["parameters"]["store_url"] == url and deployment["work_pool_name"] == WORK_POOL
        prefect(["deployment", "run", DEPLOYMENT, "--params", json.dumps(params)], env)
        worker = subprocess.run([sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOL,
                                 "--run-once"], env={**env, "PREFECT_LOGGING_LEVEL": "INFO"}, cwd=REPO,
                                timeout=300, capture_output=True, text=True)
        assert "Flow run" in worker.stdout + worker.stderr
        runs = json.loads(prefect(["flow-run", "ls", "-o", "json"], env))
        ran = [r["state_type"] for r in runs if r["state_type"] != "SCHEDULED"]
        assert ran == ["COMPLETED"] * 4, (ran, worker.stdout[-3000:] + worker.stderr[-3000:])  # + 3 subflows
        assert any(r["state_type"] == "SCHEDULED" for r in runs)  # the cron schedule queued nightly runs
    assert secret not in worker.stdout + worker.stderr
    assert _search_prefect_database(tmp_path / "prefect-home", secret) == []

    options = storage_options_for(server.config)
    store = WeightStore.open(url, options, read_only=True)
    assert store.counts() == {"pending": 0, "done": 4, "failed": 0, "total": 4} and store.verify().ok
    space = load_space(url, options)
    assert space.k == 2 and space.row_ids.tolist() == [0, 1, 2, 3]
    np.testing.assert_allclose(space.mean, store.read_rows(range(4)).mean(axis=0), rtol=1e-5, atol=1e-7)
    assert load_directions(url, options).m == 1 and "beard" in load_directions(url, options).names  # k=2: m=1
    fs = s3fs.S3FileSystem(**options)
    metadata = [fs.cat_file(p) for p in fs.find(url) if p.endswith("zarr.json")]
    assert metadata and not any(secret.encode() in m or server.key.encode() in m for m in metadata)
