"""What a flow run set out to do, recorded in the store so a retry of that run does the same.

A retry of a Prefect flow run (the UI's Retry button, `prefect flow-run retry`)
runs the same flow run again with the same parameters. A target computed from
the store's state ("its size now + M more") would then move: the first attempt
already grew the store, so the retry would grow it a second time. The first
attempt therefore writes its target to `<store>/runs/<flow run id>.json`, and
every later attempt of that run reads it back.
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import fsspec

from storage.boundary import storage_errors
from storage.format import RUNS_FOLDER
from storage.s3 import resolve_storage_options


def _record_path(store_url: str, run_id: str, storage_options: Mapping[str, Any] | None) -> tuple[Any, str]:
    options = resolve_storage_options(store_url, storage_options) or {}
    fs, root = fsspec.core.url_to_fs(store_url, **options)
    return fs, f"{root.rstrip('/')}/{RUNS_FOLDER}/{run_id}.json"


def fixed_target(store_url: str, run_id: str, propose: int,
                 storage_options: Mapping[str, Any] | None = None) -> int:
    """The target this flow run recorded on its first attempt; `propose` (recorded now) if it has none."""
    with storage_errors(store_url, "read or record this run's target", storage_options):
        fs, path = _record_path(store_url, run_id, storage_options)
        if fs.exists(path):
            return int(json.loads(fs.cat_file(path))["target"])
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        fs.pipe_file(path, json.dumps({"run_id": run_id, "target": propose, "recorded_at": time.time()}).encode())
        return propose
