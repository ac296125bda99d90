"""`w2w dataset ...`: build the weight dataset with Prefect, and see how far it is.

    w2w dataset build s3://w2w/weights --n 64 --batch-size 8      # train identities 0..63
    w2w dataset status s3://w2w/weights --verify                   # counts, reasons, re-read rows

`build` runs the `build-weights-dataset` flow in this process (against the
Prefect API in PREFECT_API_URL, or a temporary local one) and shows a progress
bar read from the store, so it also moves when batches run on Dask workers.
Rerunning it continues where the last run stopped.
"""
from __future__ import annotations

import json
import threading
from pathlib import Path

import typer
from tqdm import tqdm

from flows.cli_common import finetune_config
from flows.cli_dataset_status import status, status_text
from storage import format as fmt
from storage.weight_store import WeightStore
from w2w_core.errors import W2WError

app = typer.Typer(help="The weight dataset: one fine-tuned identity LoRA per row of a Zarr store.",
                  no_args_is_help=True)
app.command("status")(status)

POLL_S = 2.0  # how often the progress bar re-reads the store's status


def _watch(url: str, total: int, stop: threading.Event, poll_s: float) -> None:
    """Update a bar of done identities from the store until `stop` is set."""
    with tqdm(total=total, desc="identities", unit="id") as bar:
        while True:
            try:
                status = WeightStore.open(url, read_only=True).status()[:total]
                bar.n = int((status == fmt.DONE).sum())
                bar.set_postfix(failed=int((status == fmt.FAILED).sum()))
                bar.refresh()
            except W2WError:
                pass  # the flow has not created the store yet
            if stop.wait(poll_s):
                return


@app.command()
def build(
    url: str = typer.Argument(..., help="Store URL: a local path or s3://bucket/prefix (credentials from AWS_* env vars)."),
    n: int = typer.Option(..., "--n", help="Identities the dataset should hold (rows 0..n-1); grows the store if needed."),
    batch_size: int = typer.Option(8, help="Identities per batch task = rows per chunk (fixed once the store exists)."),
    steps: int = typer.Option(None, help="Fine-tune steps per identity (default: FinetuneConfig's)."),
    learning_rate: float = typer.Option(1e-2, help="Fine-tune learning rate."),
    images: int = typer.Option(10, help="World renders per identity."),
    model: Path = typer.Option(None, help="Diffusers base model folder (default: the embedded tiny model)."),
    dtype: str = typer.Option("float32", help="Stored weight dtype: float32 or float16."),
    scheduler: str = typer.Option(None, help="Dask scheduler address (tcp://host:8786) to run batches on GPU workers."),
    retries: int = typer.Option(2, help="Retries of a failed batch task."),
    retry_delay: float = typer.Option(10.0, help="Seconds between retries."),
    progress: bool = typer.Option(True, help="Show a progress bar read from the store."),
) -> None:
    """Fine-tune identities into the store; exit 1 if any identity is left failed."""
    from flows.dataset import DatasetIncompleteError, build_weights_dataset
    from tasks.batch_training import DatasetConfig

    config = DatasetConfig(finetune_config(steps, learning_rate=learning_rate), images,
                           str(model) if model else None, dtype)
    stop = threading.Event()
    watcher = threading.Thread(target=_watch, args=(url, n, stop, POLL_S), daemon=True)
    if progress:
        watcher.start()
    try:
        summary = build_weights_dataset(url, n, batch_size, config, scheduler_address=scheduler,
                                        retries=retries, retry_delay_s=retry_delay)
    except DatasetIncompleteError as err:
        _stop(stop, watcher)
        typer.echo(f"incomplete: {err}", err=True)
        typer.echo(status_text(WeightStore.open(url, read_only=True))[0])
        raise typer.Exit(1)
    except W2WError as err:
        _stop(stop, watcher)
        typer.echo(f"error: {err}", err=True)
        raise typer.Exit(2)
    _stop(stop, watcher)
    summary["trained"] = len(summary.pop("trained_rows"))
    typer.echo(json.dumps(summary, indent=2))


def _stop(stop: threading.Event, watcher: threading.Thread) -> None:
    stop.set()
    if watcher.is_alive():
        watcher.join()
