"""The embedded zoo's record: what each build run did, appended to `zoo.json` beside the store."""
from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.files import write_atomic
from tasks.config import FanOutConfig, ZooConfig

RECORD = "zoo.json"


def _commit() -> str:
    """The checkout's git commit, if it is one (the recipe's code)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return ""


def record_zoo_run(out: str, config: ZooConfig, fan_out: FanOutConfig, summary: dict[str, Any],
                   command: str) -> dict[str, Any]:
    """Append this run to `out/zoo.json` (created on the first run); the whole record."""
    path = Path(out) / RECORD
    record = json.loads(path.read_text()) if path.is_file() else {"config": asdict(config), "runs": []}
    trained, seconds = len(summary["trained_rows"]), summary["wall_seconds"]
    record["runs"].append({
        "command": command, "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": _commit(),
        "fan_out": asdict(fan_out), "machine": platform.platform(), "identities_trained": trained,
        "done": summary["done"], "wall_seconds": round(seconds, 1),
        "seconds_training_summed_over_batches": summary["seconds_training"],
        "identities_per_hour": round(trained / seconds * 3600, 1) if seconds else None,
    })
    record["config"] = asdict(config)  # the latest target (n_identities grows run by run)
    write_atomic(path, (json.dumps(record, indent=2) + "\n").encode())
    return record


@task(name="record-zoo-run", cache_policy=NO_CACHE)
def record_zoo_run_task(out: str, config: ZooConfig, fan_out: FanOutConfig, summary: dict[str, Any],
                        command: str) -> dict[str, Any]:
    return record_zoo_run(out, config, fan_out, summary, command)
