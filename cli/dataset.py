"""`w2w dataset ...`: build the weight dataset with Prefect, and see how far it is.

    w2w dataset build s3://w2w/weights --n 64 --batch-size 8      # train identities 0..63 of the world
    w2w dataset build ./dogs --identities dogs.csv \
        --instance-prompt "a photo of sks dog" --class-prompt "a photo of a dog"   # your own images
    w2w dataset status s3://w2w/weights --verify                   # counts, reasons, re-read rows

`build` runs the `build-weights-dataset` flow in this process (against the
Prefect API in PREFECT_API_URL, or a temporary local one) and shows a progress
bar read from the store, so it also moves when batches run on Dask workers.
Rerunning it continues where the last run stopped.
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import at_least_one, fail, failing_cleanly
from tasks.config import DatasetConfig, FanOutConfig
from w2w_core.errors import W2WError
from w2w_core.finetune.config import FinetuneConfig

app = typer.Typer(help="The weight dataset: one fine-tuned identity LoRA per row of a Zarr store.",
                  no_args_is_help=True)

EXIT_INCOMPLETE = 1  # the build ran, but identities are left failed or pending
URL_HELP = "Store URL: a local path or s3://bucket/prefix (credentials from AWS_* env vars)."


@app.command()
def build(
    url: str = typer.Argument(..., help=URL_HELP),
    n: int = typer.Option(None, "--n", help="Identities the dataset should hold (rows 0..n-1); grows the store if "
                          "needed. Default with --identities: every row of the manifest."),
    identities: str = typer.Option(DatasetConfig.manifest, "--identities", help="Manifest of your own identities "
                                   "(CSV, JSON Lines or Parquet, local or s3://): columns id, images (a folder or "
                                   "glob), and 0/1 (or -1/1) attribute columns. Default: the embedded world."),
    world_split: str = typer.Option(DatasetConfig.world_split, help="Without --identities: the world's train "
                                    "identities, or heldout ones (an evaluation store the space is not fit on)."),
    instance_prompt: str = typer.Option(FinetuneConfig.instance_prompt,
                                        help="Prompt that names the identity (the rare token sks)."),
    class_prompt: str = typer.Option(FinetuneConfig.class_prompt,
                                     help="Prompt of the identity's class (prior preservation)."),
    batch_size: int = typer.Option(DatasetConfig.batch_size,
                                   help="Identities per batch task = rows per chunk (fixed once the store exists)."),
    steps: int = typer.Option(FinetuneConfig.steps, help="Fine-tune steps per identity."),
    learning_rate: float = typer.Option(FinetuneConfig.learning_rate, help="Fine-tune learning rate."),
    adam_eps: float = typer.Option(FinetuneConfig.adam_eps, help="AdamW's eps: larger damps fine-tune noise "
                                   "(docs/benchmarks.md, fine-tune noise by recipe)."),
    images: int = typer.Option(DatasetConfig.images_per_identity, help="World renders per identity."),
    model: Path = typer.Option(None, help="Diffusers base model folder (default: the embedded tiny model)."),
    dtype: str = typer.Option(DatasetConfig.dtype, help="Stored weight dtype: float32 or float16."),
    scheduler: str = typer.Option(FanOutConfig.scheduler_address,
                                  help="Dask scheduler address (tcp://host:8786) to run batches on GPU workers."),
    retries: int = typer.Option(FanOutConfig.retries, help="Retries of a failed batch task."),
    retry_delay: float = typer.Option(FanOutConfig.retry_delay_s, help="Seconds between retries."),
    workers: int = typer.Option(FanOutConfig.workers, help="Local processes running batches "
                                "(default: one per CPU core; 1: in this process)."),
    threads_per_worker: int = typer.Option(FanOutConfig.threads_per_worker,
                                           help="Torch threads in each local worker process."),
    progress: bool = typer.Option(True, help="Show a progress bar read from the store."),
) -> None:
    """Fine-tune identities into the store; exit 1 if any identity is left failed."""
    with failing_cleanly():
        if n is None and identities is None:
            fail("say how many identities of the embedded world to train (--n N), or give --identities MANIFEST")
        if n is not None:
            at_least_one("--n", n)
        from storage.format import DTYPES  # Zarr: imported once the command runs, not for every `w2w`

        if dtype not in DTYPES:
            fail(f"--dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        finetune = FinetuneConfig(steps=steps, learning_rate=learning_rate, instance_prompt=instance_prompt,
                                  class_prompt=class_prompt, adam_eps=adam_eps)
        config = DatasetConfig(finetune, images, str(model) if model else None, dtype, batch_size=batch_size,
                               manifest=identities, world_split=world_split)
        fan_out = FanOutConfig(retries, retry_delay, scheduler, workers=workers, threads_per_worker=threads_per_worker)
        from storage.s3 import resolve_storage_options

        resolve_storage_options(url, None)  # an unreachable S3 endpoint is refused here, at once
        if identities is not None:  # a bad manifest is refused here, before Prefect or a model starts
            from storage.identity_files import read_manifest

            read_manifest(identities)
    from cli.processes import end_children_with_this_process

    end_children_with_this_process(what_the_build_left)  # SIGTERM / Ctrl-C end all it starts, say what is left
    from cli.quiet import quiet_prefect_tracebacks
    from flows.dataset import DatasetIncompleteError, build_weights_dataset

    quiet_prefect_tracebacks()

    from tasks.progress import store_progress

    try:
        with store_progress(url, n, enabled=progress):
            summary = build_weights_dataset(url, n, config, fan_out)
    except DatasetIncompleteError as err:
        from storage.status import status_text
        from storage.weight_store import WeightStore

        typer.echo(status_text(WeightStore.open(url, read_only=True))[0])
        fail(f"incomplete: {err}", EXIT_INCOMPLETE)
    except W2WError as err:
        fail(err)
    summary["trained"] = len(summary.pop("trained_rows"))
    typer.echo(json.dumps(summary, indent=2))


def what_the_build_left() -> str:
    """The line an interrupted build prints: identities stored and pending in the store it was building."""
    from flows.dataset import what_was_left

    return what_was_left()


@app.command()
def status(
    url: str = typer.Argument(..., help=URL_HELP),
    verify: bool = typer.Option(False, "--verify", help="Re-read every done row and check its checksum."),
    mark_failed: bool = typer.Option(False, "--mark-failed",
                                     help="With --verify: mark bad rows failed so a rerun retrains them."),
) -> None:
    """Show how far the weight dataset at URL is; exit 1 if --verify finds bad rows."""
    from storage.status import status_text
    from storage.weight_store import WeightStore

    with failing_cleanly():
        text, ok = status_text(WeightStore.open(url, read_only=not mark_failed), verify, mark_failed)
    typer.echo(text)
    if not ok:
        raise typer.Exit(EXIT_INCOMPLETE)
