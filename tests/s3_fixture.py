"""pytest plugin: a real S3 server (rclone serve s3) on 127.0.0.1 for integration tests.

Registered in tests/conftest.py with `pytest_plugins = ["tests.s3_fixture"]`.

- `s3_server`: one server per test session, disk-backed in a temp folder.
- `s3_url`: a fresh s3://w2w-test/<id> prefix on it, for one test.
- `s3_storage_options`: fsspec options (endpoint, key, secret) for that server.
- `s3_env`: the same as AWS_* environment variables, set for one test
  (for code and subprocesses that read credentials from the environment).
- `s3_server_factory`: start private servers a test may stop, kill and restart.
"""
from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from storage.s3 import ENV_ENDPOINT, ENV_KEY, ENV_SECRET, S3Server, storage_options_for

TEST_BUCKET = "w2w-test"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with S3Server(tmp_path_factory.mktemp("s3-root"), buckets=(TEST_BUCKET,)) as server:
        yield server


@pytest.fixture
def s3_storage_options(s3_server: S3Server) -> dict:
    return storage_options_for(s3_server.config)


@pytest.fixture
def s3_url(s3_server: S3Server) -> str:
    return f"s3://{TEST_BUCKET}/{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    config = s3_server.config
    env = {ENV_ENDPOINT: config.endpoint_url, ENV_KEY: config.key, ENV_SECRET: config.secret}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


@pytest.fixture
def s3_server_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., S3Server]]:
    servers: list[S3Server] = []

    def start(**kwargs) -> S3Server:
        kwargs.setdefault("buckets", (TEST_BUCKET,))
        server = S3Server(tmp_path_factory.mktemp("s3-private"), **kwargs).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
