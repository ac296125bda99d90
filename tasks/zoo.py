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
from storage.format import ZOO_RECORD
from tasks.config import FanOutConfig, ZooConfig

RECORD = ZOO_RECORD


def _commit() -> str:
    """The checkout's git commit, if it is one (the recipe's code)."""
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10,
                              cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        return ""


def _read(path: Path, config: ZooConfig) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {"config": asdict(config), "runs": []}


def start_zoo_run(out: str, config: ZooConfig, fan_out: FanOutConfig, command: str, done_before: int) -> int:
    """Record a run before it trains anything (so a run that is killed still left its command and config);
    runs still marked running are marked interrupted. The new run's index in `runs`."""
    path = Path(out) / RECORD
    record = _read(path, config)
    for run in record["runs"]:
        if run.get("status") == "running":
            run["status"] = "interrupted (its identities count in the next run's done_before)"
    record["runs"].append({
        "command": command, "started": _now(), "status": "running", "commit": _commit(),
        "fan_out": asdict(fan_out), "machine": platform.platform(), "done_before": done_before,
    })
    record["config"] = asdict(config)  # the latest target (n_identities grows run by run)
    write_atomic(path, (json.dumps(record, indent=2) + "\n").encode())
    return len(record["runs"]) - 1


def finish_zoo_run(out: str, index: int, summary: dict[str, Any]) -> dict[str, Any]:
    """Complete run `index`'s record with what it trained and how fast; the whole record."""
    path = Path(out) / RECORD
    record = json.loads(path.read_text())
    trained, seconds = len(summary["trained_rows"]), summary["wall_seconds"]
    record["runs"][index].update({
        "status": "finished", "finished": _now(), "identities_trained": trained, "done": summary["done"],
        "wall_seconds": round(seconds, 1), "seconds_training_summed_over_batches": summary["seconds_training"],
        "identities_per_hour": round(trained / seconds * 3600, 1) if seconds else None,
        **{key: summary[key] for key in ("space", "directions", "space_and_directions_seconds") if key in summary},
    })
    write_atomic(path, (json.dumps(record, indent=2) + "\n").encode())
    return record


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@task(name="start-zoo-run", cache_policy=NO_CACHE)
def start_zoo_run_task(out: str, config: ZooConfig, fan_out: FanOutConfig, command: str, done_before: int) -> int:
    return start_zoo_run(out, config, fan_out, command, done_before)


@task(name="finish-zoo-run", cache_policy=NO_CACHE)
def finish_zoo_run_task(out: str, index: int, summary: dict[str, Any]) -> dict[str, Any]:
    return finish_zoo_run(out, index, summary)
