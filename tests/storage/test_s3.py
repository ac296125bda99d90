"""The weight store on a real S3 server (rclone serve s3 on 127.0.0.1)."""
from __future__ import annotations

import dataclasses
import logging
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import s3fs

from storage.s3 import S3Config, free_port, storage_options_for
from storage.weight_store import StoreSpec, WeightStore
from tests.storage.test_weight_store import ATTRS, tiny_layout, write_batch
from w2w_core.errors import StorageError

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def create(url: str, options: dict | None, n_rows: int = 12) -> WeightStore:
    spec = StoreSpec(url, rows_per_chunk=4, storage_options=options)
    return WeightStore.create(spec, tiny_layout(), {"steps": 50}, ATTRS, n_rows)


def test_store_round_trip_on_s3(s3_url, s3_storage_options):
    store = create(s3_url, s3_storage_options)
    store.assign_identities(range(12), [f"id{i}" for i in range(100, 112)], np.zeros((12, 3), bool))
    written = {b: write_batch(store, rows, seed=b) for b, rows in enumerate(store.batches()[:2])}
    store.mark_failed(range(8, 12), "diverged")

    again = WeightStore.open(s3_url, s3_storage_options, expect_layout=tiny_layout())
    assert again.counts() == {"pending": 0, "done": 8, "failed": 4, "total": 12}
    for b, rows in enumerate(again.batches()[:2]):
        np.testing.assert_array_equal(again.read_rows(rows), written[b])
    assert again.failures()[0] == (8, "id108", "diverged")
    assert again.verify().ok and again.verify().checked == 8
    again.grow(16)
    assert WeightStore.open(s3_url, s3_storage_options).rows_to_train(range(16)) == list(range(8, 16))


def test_missing_bucket_is_created_and_env_credentials_are_used(s3_env):
    url = f"s3://fresh-{os.getpid()}-{time.monotonic_ns() % 10**6}/weights"
    store = create(url, None)  # storage options from AWS_* env vars
    write_batch(store, range(4))
    assert WeightStore.open(url).counts()["done"] == 4
    pickled = pickle.dumps(store)  # what a Dask/Prefect worker receives: no secret inside
    assert s3_env["AWS_SECRET_ACCESS_KEY"].encode() not in pickled
    assert pickle.loads(pickled).counts()["done"] == 4  # the worker's own env supplies it


def test_wrong_secret_gives_a_clear_error(s3_server, s3_url, s3_storage_options):
    create(s3_url, s3_storage_options)
    wrong = storage_options_for(dataclasses.replace(s3_server.config, secret="not-the-secret"))
    with pytest.raises(StorageError, match="S3 refused the credentials.*AWS_SECRET_ACCESS_KEY") as err:
        WeightStore.open(s3_url, wrong)
    assert "not-the-secret" not in str(err.value) and s3_server.config.secret not in str(err.value)
    with pytest.raises(StorageError, match="S3 refused the credentials"):
        create(s3_url + "-new", wrong)


def test_secrets_never_appear_in_reprs_logs_or_the_command_line(s3_server, s3_url, s3_storage_options, caplog):
    secret = s3_server.config.secret
    caplog.set_level(logging.DEBUG)
    store = create(s3_url, s3_storage_options)
    write_batch(store, range(4))
    spec = StoreSpec(s3_url, 4, storage_options=s3_storage_options)
    shown = [repr(s3_server.config), str(s3_server.config), repr(s3_server), repr(store), repr(spec),
             caplog.text, s3_server.log_tail(1000)]
    assert s3_server.config.secret == secret and len(caplog.text) > 0
    assert all(secret not in text for text in shown)
    assert "***" in repr(s3_server.config)
    cmdline = Path(f"/proc/{s3_server._proc.pid}/cmdline").read_bytes().decode()
    assert secret not in cmdline and "serve" in cmdline


def test_server_stopped_and_restarted_mid_run(s3_server_factory):
    server = s3_server_factory()
    options = storage_options_for(dataclasses.replace(server.config, max_attempts=1))
    url = "s3://w2w-test/run"
    store = create(url, options)
    first = write_batch(store, range(4), seed=0)

    server.stop()
    with pytest.raises(StorageError, match="could not reach the object store"):
        write_batch(store, range(4, 8), seed=1)
    server.start()
    second = write_batch(store, range(4, 8), seed=1)  # the same store object carries on

    server.kill()  # abrupt this time
    server.start()
    reopened = WeightStore.open(url, options)
    third = write_batch(reopened, range(8, 12), seed=2)
    assert reopened.counts()["done"] == 12
    for rows, data in zip(reopened.batches(), (first, second, third)):
        np.testing.assert_array_equal(reopened.read_rows(rows), data)
    assert reopened.verify().ok


def test_large_objects_read_in_ranges_come_back_intact(s3_server):
    """s3fs reads objects past its block size in ranged GETs; those must not fail checksums."""
    options = storage_options_for(s3_server.config)
    fs = s3fs.S3FileSystem(**options, default_block_size=2**20, skip_instance_cache=True)
    payload = np.random.default_rng(0).bytes(3 * 2**20 + 123)
    fs.pipe("w2w-test/big.bin", payload)
    assert fs.cat("w2w-test/big.bin") == payload


def test_a_put_the_server_fails_before_reading_its_body_raises_instead_of_hanging(s3_server, s3_url):
    """rclone fails a PUT under a key that is a file before it reads the body, then drains the body:
    with botocore's `Expect: 100-continue` both sides waited forever (the lease test hung this way)."""
    options = storage_options_for(dataclasses.replace(s3_server.config, max_attempts=1))
    fs = s3fs.S3FileSystem(**options, skip_instance_cache=True)
    taken = s3_url.removeprefix("s3://") + "/taken"
    fs.pipe_file(taken, b"a file where the next PUT needs a folder")
    outcome: list[BaseException | None] = []

    def put_below_the_file() -> None:
        try:
            fs.pipe_file(f"{taken}/below", b"refused")
            outcome.append(None)
        except Exception as err:  # noqa: BLE001 - the error is what the test looks at
            outcome.append(err)

    worker = threading.Thread(target=put_below_the_file, daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert outcome, "the PUT neither finished nor failed within 120 s"
    assert isinstance(outcome[0], OSError)
    assert fs.cat_file(taken) == b"a file where the next PUT needs a folder"


def test_s3_config_from_env_and_storage_options():
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "kid",
           "AWS_SECRET_ACCESS_KEY": "s3cr3t-value", "AWS_REGION": "eu-west-1"}
    config = S3Config.from_env(env)
    assert (config.endpoint_url, config.key, config.secret, config.region) == \
        ("http://127.0.0.1:9", "kid", "s3cr3t-value", "eu-west-1")
    assert "s3cr3t-value" not in repr(config) and "s3cr3t-value" not in f"{config}"
    options = storage_options_for(config)
    assert options["endpoint_url"] == "http://127.0.0.1:9"
    assert (options["key"], options["secret"]) == ("kid", "s3cr3t-value")


def test_cli_serve_prints_endpoint_not_secret_and_stops_on_ctrl_c(tmp_path):
    port, secret = free_port(), "cli-secret-value-123"
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "cli-key", "AWS_SECRET_ACCESS_KEY": secret}
    env.pop("AWS_ENDPOINT_URL", None)
    cmd = [sys.executable, "-c", "from cli.main import main; main()", "s3", "serve",
           "--dir", str(tmp_path / "data"), "--port", str(port), "--bucket", "w2w"]
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("export AWS_SECRET_ACCESS_KEY"):
                break
        fs = s3fs.S3FileSystem(key="cli-key", secret=secret, endpoint_url=f"http://127.0.0.1:{port}",
                               skip_instance_cache=True)
        fs.pipe("w2w/hello.txt", b"hi")
        assert (tmp_path / "data" / "w2w" / "hello.txt").read_bytes() == b"hi"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    text = "".join(lines) + out
    assert f"export AWS_ENDPOINT_URL=http://127.0.0.1:{port}" in text
    assert "export AWS_ACCESS_KEY_ID=cli-key" in text
    assert secret not in text
    assert proc.returncode == 0


def test_the_local_s3_server_refuses_unsigned_and_wrongly_signed_requests(s3_server, s3_storage_options):
    import urllib.error
    import urllib.request

    bucket = s3_server.buckets[0]
    s3fs.S3FileSystem(**s3_storage_options).pipe(f"{bucket}/private", b"only for the key holder")
    for path in ("/", f"/{bucket}/", f"/{bucket}/private"):
        with pytest.raises(urllib.error.HTTPError) as refused:  # no signature at all
            urllib.request.urlopen(s3_server.endpoint_url + path, timeout=5)
        assert refused.value.code in (400, 403) and b"only for the key holder" not in refused.value.read()
    wrong = {**s3_storage_options, "secret": "not-the-secret"}
    with pytest.raises(PermissionError):
        s3fs.S3FileSystem(**wrong).cat_file(f"{bucket}/private")
    assert s3_server.host == "127.0.0.1"  # off the network unless told otherwise


@pytest.mark.parametrize("setting, refused", [
    ({}, True),
    ({"AWS_PROFILE": "team"}, False),  # a profile may hold a key: botocore decides
    ({"AWS_WEB_IDENTITY_TOKEN_FILE": "/var/run/token"}, False),
    ({"endpoint": "https://s3.eu-west-1.amazonaws.com"}, False),  # AWS itself: instance roles apply
    ({"key": "kid"}, False),
    ({"shared_file": "[default]\naws_access_key_id = kid\n"}, False),
])
def test_a_server_other_than_aws_without_any_credentials_is_said_at_once(setting, refused, tmp_path, monkeypatch):
    """Before s3fs and botocore load: no key in the options, the environment or the AWS files, on a server
    that is not AWS (whose instance-metadata credentials it could not take)."""
    from storage.s3 import CREDENTIAL_VARIABLES, check_credentials_exist

    for name in (*CREDENTIAL_VARIABLES, "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    shared = tmp_path / "credentials"
    shared.write_text(setting.get("shared_file", ""))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(shared))
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    for name in ("AWS_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        if name in setting:
            monkeypatch.setenv(name, setting[name])
    options = {"endpoint_url": setting.get("endpoint", "http://user:pw@127.0.0.1:9000")}
    if "key" in setting:
        options["key"] = setting["key"]
    if refused:
        with pytest.raises(StorageError, match=r"no S3 credentials for s3://b/store at http://\*\*\*@127") as err:
            check_credentials_exist("s3://b/store", options)
        assert "AWS_ACCESS_KEY_ID" in str(err.value) and "pw@" not in str(err.value)
    else:
        check_credentials_exist("s3://b/store", options)
    check_credentials_exist(str(tmp_path / "local"), {})  # a local store needs none
