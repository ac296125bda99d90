"""Scale of the orchestration (issue 14): a build of N batch tasks on a real `prefect server`, with worker kills.

For each backend (the server's SQLite database, then a PostgreSQL server this
script starts on 127.0.0.1), it follows docs/deployments.md: a process work pool,
`prefect deploy --all`, the zombie automation (deployments/zombies.py), two
`prefect worker` processes, then one run of the nightly deployment that adds N
identities in batches of one (N batch tasks; tiny trainings: 1 image, 2 steps).
While it runs, it kills the worker running the flow run (SIGKILL of the worker
and every process under it, as a lost machine) when the done rows cross random
thresholds, starts a replacement worker, waits for the automation to mark the
run Crashed and retries it (the UI's Retry), as an operator would. It prints a
table: wall time, batch task runs per second, task retries, flow-run retries,
kills, and the end state (rows done of N, verify).

    python -m benchmarks.orchestration_scale --batches 2000 --kills 2            # both backends
    python -m benchmarks.orchestration_scale --batches 40 --kills 0 --backends sqlite   # the CI size

Needs the PostgreSQL server binaries (Debian's `postgresql`; scripts/setup.sh installs them).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path

from benchmarks.harness import ROOT, markdown_table, parse, parser, write_json
from benchmarks.prefect_server import prefect, prefect_env, prefect_server
from deployments.zombies import HEARTBEAT_S
from storage.s3 import free_port

DEPLOYMENT = "grow-and-refit/nightly-grow"
SILENT_FOR_S = 2 * HEARTBEAT_S + 15  # the automation's window: a killed run is marked Crashed within it
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


@contextmanager
def postgres_server(work: Path) -> Iterator[str]:
    """A throwaway PostgreSQL cluster on 127.0.0.1 (run as the `postgres` user when this is root); its URL."""
    bin_dir = _postgres_bin()
    data, port = work / "pgdata", free_port()
    data.mkdir()
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(work, "postgres")
        shutil.chown(data, "postgres")
    run = lambda *cmd: subprocess.run([*as_user, *cmd], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(work / "postgres.log"), "-o",
        f"-h 127.0.0.1 -p {port} -k {work} -c max_connections=200", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "prefect")
        yield f"postgresql+asyncpg://postgres@127.0.0.1:{port}/prefect"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop"],
                       capture_output=True, timeout=60)


def _postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if found:
        return found[-1].parent
    if shutil.which("initdb"):
        return Path(shutil.which("initdb")).parent
    raise SystemExit("no PostgreSQL server binaries: apt-get install postgresql (scripts/setup.sh does)")


def _api(env: dict[str, str], path: str, body: dict | None = None):
    request = urllib.request.Request(env["PREFECT_API_URL"] + path, method="POST" if body is not None else "GET",
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _state(env: dict[str, str], run_id: str) -> str:
    return _api(env, f"/flow_runs/{run_id}")["state"]["type"]


def _batch_task_stats(env: dict[str, str]) -> tuple[int, int]:
    """(batch task runs, retries among them) as the server recorded them."""
    runs, retries, offset = 0, 0, 0
    while True:
        page = _api(env, "/task_runs/filter", {"limit": 200, "offset": offset,
                                                "task_runs": {"name": {"like_": "rows-"}}})
        runs += len(page)
        retries += sum(max(0, r["run_count"] - 1) for r in page)
        if len(page) < 200:
            return runs, retries
        offset += 200


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    from deployments.dataset import WORK_POOL

    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "prefect", "worker", "start", "--pool", WORK_POOL],
                                env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _kill_the_busy_worker(workers: list[subprocess.Popen]) -> subprocess.Popen | None:
    """SIGKILL the worker that runs the flow (it has child processes) with all under it; None if none does."""
    import psutil

    for worker in workers:
        if worker.poll() is None and psutil.Process(worker.pid).children():
            tree = psutil.Process(worker.pid).children(recursive=True)
            os.killpg(worker.pid, signal.SIGKILL)
            for proc in tree:
                try:
                    proc.kill()
                except psutil.NoSuchProcess:
                    pass
            worker.wait()
            return worker
    return None


def _done_rows(url: str) -> int:
    from storage.weight_store import WeightStore

    try:
        return WeightStore.open(url, read_only=True).counts()["done"]
    except Exception:  # noqa: BLE001 - no store yet (or half created): none done
        return 0


def _params(url: str, n: int, model_dir: str | None) -> dict:
    config = {"finetune": {"steps": 2, "images_per_step": 1}, "images_per_identity": 1, "batch_size": 1}
    if model_dir:
        config["base_model"] = model_dir
    return {"store_url": url, "add_identities": n, "space": {"k": 2}, "config": config,
            "fan_out": {"workers": 2, "retries": 2, "retry_delay_s": 1, "lease_ttl_s": 10}}


def operate(env: dict[str, str], run_id: str, url: str, n: int, kills: int, work: Path, seed: int) -> dict:
    """Watch the run as an operator: kill at random progress points, retry what crashed; the counts."""
    rng = random.Random(seed)
    thresholds = sorted(rng.sample(range(n // 5, max(n // 5 + 1, 4 * n // 5)), kills)) if kills else []
    workers = [_start_worker(env, work / f"worker-{i}.log") for i in range(2)]
    killed, flow_retries, started = 0, 0, time.monotonic()
    try:
        while True:
            state = _state(env, run_id)
            if state == "COMPLETED":
                break
            if state in TERMINAL:
                prefect(["flow-run", "retry", run_id], env)
                flow_retries += 1
            elif thresholds and _done_rows(url) >= thresholds[0] and _kill_the_busy_worker(workers):
                thresholds.pop(0)
                killed += 1
                workers.append(_start_worker(env, work / f"worker-{len(workers)}.log"))
            time.sleep(1.0)
        return {"wall_s": time.monotonic() - started, "kills": killed, "flow_retries": flow_retries}
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait()


def run_backend(backend: str, n: int, kills: int, model_dir: str | None, seed: int) -> dict:
    from deployments.dataset import WORK_POOL
    from storage.weight_store import WeightStore

    work = Path(tempfile.mkdtemp(prefix=f"w2w-orch-{backend}-"))
    env = {**prefect_env(work / "prefect-home"), "PREFECT_FLOWS_HEARTBEAT_FREQUENCY": str(HEARTBEAT_S)}
    url = str(work / "store.zarr")
    with postgres_server(work) if backend == "postgres" else nullcontext(None) as database:
        if database:
            env["PREFECT_API_DATABASE_CONNECTION_URL"] = database
        with prefect_server(env, work / "server.log", timeout=180):
            prefect(["work-pool", "create", WORK_POOL, "--type", "process"], env)
            prefect(["--no-prompt", "deploy", "--all"], {**env, "W2W_STORE_URL": url})
            subprocess.run([sys.executable, "-c", "import sys; from deployments.zombies import "
                            f"ensure_zombie_automation as e; e({SILENT_FOR_S})"], env=env, cwd=ROOT, check=True)
            created = prefect(["deployment", "run", DEPLOYMENT, "--params", json.dumps(_params(url, n, model_dir))],
                              env)
            run_id = created.split("UUID:")[1].split()[0]
            result = operate(env, run_id, url, n, kills, work, seed)
            result["task_runs"], result["task_retries"] = _batch_task_stats(env)
    store = WeightStore.open(url, read_only=True)
    counts = store.counts()
    result.update(backend=backend, rows=counts["total"], done=counts["done"], verify_ok=store.verify().ok,
                  work=str(work))
    return result


def print_table(results: list[dict], n: int) -> None:
    print(f"\n{n} batch tasks (1 identity each, 1 image x 2 steps), 2 process workers, random worker kills\n")
    print(markdown_table(["backend", "wall s", "batch task runs", "task runs/s", "task retries", "kills",
                          "flow-run retries", "rows done / asked", "verify"],
                         [(r["backend"], f"{r['wall_s']:.0f}", r["task_runs"], f"{r['task_runs'] / r['wall_s']:.2f}",
                           r["task_retries"], r["kills"], r["flow_retries"], f"{r['done']} / {n} (store {r['rows']})",
                           "clean" if r["verify_ok"] else "BAD") for r in results], align="lrrrrrrll"))
    if len(results) == 2:
        a, b = results
        print(f"\n{b['backend']} vs {a['backend']}: {a['wall_s'] / b['wall_s']:.2f}x the task runs per second")


def arguments():
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=2000)
    p.add_argument("--kills", type=int, default=2)
    p.add_argument("--backends", default="sqlite,postgres")
    p.add_argument("--model", default=None, help="base model folder (default: the embedded one)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    return p


def main(argv: list[str] | None = None) -> None:
    args = parse(arguments(), argv)
    results = [run_backend(b, args.batches, args.kills, args.model, args.seed) for b in args.backends.split(",")]
    print_table(results, args.batches)
    write_json(args.json, results, indent=2)


if __name__ == "__main__":
    main()
