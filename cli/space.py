"""`w2w space ...`: fit the w2w space on a weight store, and look at one.

    w2w space fit ./store --k 1000                # Prefect flow; saves ./store/space
    w2w space show ./store --plot space.png       # explained variance, singular values
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from cli.errors import failing_cleanly
from storage.read_config import ReadConfig
from tasks.config import ZOO_DIR
from w2w_core.pca import PCAConfig
from w2w_core.pca.backend import array_module

app = typer.Typer(help="The w2w space: PCA of the weight store.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The w2w space (PCA of the weight matrix)."""


@app.command()
def fit(
    store_url: str = typer.Argument(..., help="weight store: local path or s3://bucket/prefix"),
    k: int = typer.Option(None, "--k", help="components to keep (default: the paper's 1000, or N - 1 for a store "
                          "of N < 1001 done models; inversion: up to 10000)"),
    method: str = typer.Option(PCAConfig.method, help="auto | randomized | gram (exact, moderate N)"),
    backend: str = typer.Option(ReadConfig.backend, help="numpy (CPU) | cupy (GPU)"),
    standardize: bool = typer.Option(PCAConfig.standardize, help="divide each parameter by its std, as the paper does"),
    n_oversamples: int = typer.Option(PCAConfig.n_oversamples,
                                      help="randomized: extra sketch columns (default max(100, k/2))"),
    n_power_iter: int = typer.Option(
        PCAConfig.n_power_iter,
        help="randomized: power iterations (default: adaptive, until no top-k σ moves 1 %, at most 6)"),
    seed: int = typer.Option(PCAConfig.seed, help="seed of the random test matrix"),
    scheduler: str = typer.Option(ReadConfig.scheduler,
                                  help="Dask scheduler address (default: threads in this process)"),
    space_url: str = typer.Option(None, help="where to save the space (default: STORE_URL/space)"),
) -> None:
    """Fit the space on the store's done rows (a Prefect flow) and save it."""
    with failing_cleanly():
        k = _check_store_can_fit(store_url, k)
        config = PCAConfig(k=k, method=method, standardize=standardize, n_oversamples=n_oversamples,
                           n_power_iter=n_power_iter, seed=seed)
        read = ReadConfig(scheduler=scheduler, backend=backend)
        array_module(backend)  # no CuPy or no GPU: said here, before Prefect starts
        from cli.processes import end_children_with_this_process

        end_children_with_this_process()  # SIGTERM / Ctrl-C end everything this command starts
        from cli.quiet import quiet_prefect_tracebacks
        from flows.space import fit_space

        quiet_prefect_tracebacks()

        result = fit_space(store_url, config, read, space_url=space_url)
    typer.echo(json.dumps(result, indent=2))


def _check_store_can_fit(store_url: str, k: int | None) -> int:
    """Before Prefect starts: the store exists, is reachable, and has more done rows than k; returns k
    (None: w2w_core.space.default_k of the done rows)."""
    from storage.weight_store import WeightStore
    from w2w_core.errors import InputError
    from w2w_core.space import default_k

    done = WeightStore.open(store_url, read_only=True).counts()["done"]
    k = default_k(done) if k is None else k
    if done < 2 or k > done - 1:
        raise InputError(f"k={k} components, but the store at {store_url} has {done} done rows: a space of "
                         f"{done} models has at most {max(done - 1, 0)} components")
    return k


@app.command()
def show(
    url: str = typer.Argument(str(ZOO_DIR), help="weight store (its space/ group is read), or a space with --group '' "
                              "(default: the embedded zoo)"),
    group: str = typer.Option(None, help="group of the space under URL ('' for URL itself; default: the store's "
                              "space group, `space`)"),
    plot: Path = typer.Option(Path("w2w-out/space.png"), help="PNG to write"),
) -> None:
    """Print the explained-variance summary of a saved space and write a plot."""
    from storage.format import SPACE_GROUP
    from storage.space_store import load_space
    from w2w_core.space import summary

    with failing_cleanly():
        space = load_space(url, group=SPACE_GROUP if group is None else (group or None))
    from tasks.space import write_space_plot  # matplotlib and Prefect: once the space is known to be there

    typer.echo(json.dumps(summary(space), indent=2))
    typer.echo(f"wrote {write_space_plot(space, plot)}")
