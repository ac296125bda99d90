"""`w2w space ...`: fit the w2w space on a weight store, and look at one.

    w2w space fit ./store --k 1000                # Prefect flow; saves ./store/space
    w2w space show ./store --plot space.png       # explained variance, singular values
"""
from __future__ import annotations

import json
from pathlib import Path

import typer

from flows.cli_common import fail
from w2w_core.errors import W2WError

app = typer.Typer(help="The w2w space: PCA of the weight store.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """The w2w space (PCA of the weight matrix)."""


@app.command()
def fit(
    store_url: str = typer.Argument(..., help="weight store: local path or s3://bucket/prefix"),
    k: int = typer.Option(..., "--k", help="components to keep (paper: 1000; inversion: 10000)"),
    method: str = typer.Option("auto", help="auto | randomized | gram (exact, moderate N)"),
    backend: str = typer.Option("numpy", help="numpy (CPU) | cupy (GPU)"),
    standardize: bool = typer.Option(True, help="divide each parameter by its std, as the paper does"),
    n_oversamples: int = typer.Option(None, help="randomized: extra sketch columns (default max(100, k/2))"),
    n_power_iter: int = typer.Option(
        None, help="randomized: power iterations (default: adaptive, until no top-k σ moves 1 %, at most 6)"),
    seed: int = typer.Option(0, help="seed of the random test matrix"),
    scheduler: str = typer.Option(None, help="Dask scheduler address (default: threads in this process)"),
    space_url: str = typer.Option(None, help="where to save the space (default: STORE_URL/space)"),
) -> None:
    """Fit the space on the store's done rows (a Prefect flow) and save it."""
    from flows.space import fit_space

    try:
        result = fit_space(store_url, k, method=method, backend=backend, standardize=standardize,
                           n_oversamples=n_oversamples, n_power_iter=n_power_iter, seed=seed,
                           scheduler=scheduler, space_url=space_url)
    except W2WError as error:
        fail(error)
    typer.echo(json.dumps(result, indent=2))


def write_plot(space, path: Path) -> Path:
    """PNG: cumulative explained variance and singular values against component index."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    index = np.arange(1, space.k + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot(index, np.cumsum(space.explained_variance_ratio))
    left.set(xlabel="components k", ylabel="cumulative explained variance", ylim=(0, 1),
             title=f"{space.k} components, {len(space.row_ids)} rows")
    left.grid(alpha=0.3)
    right.semilogy(index, space.singular_values)
    right.set(xlabel="component", ylabel="singular value", title="spectrum")
    right.grid(alpha=0.3, which="both")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


@app.command()
def show(
    url: str = typer.Argument(..., help="weight store (its space/ group is read), or a space with --group ''"),
    group: str = typer.Option("space", help="group of the space under URL ('' for URL itself)"),
    plot: Path = typer.Option(Path("w2w-out/space.png"), help="PNG to write"),
) -> None:
    """Print the explained-variance summary of a saved space and write a plot."""
    from storage.space_store import load_space
    from w2w_core.space import summary

    try:
        space = load_space(url, group=group or None)
    except W2WError as error:
        fail(error)
    typer.echo(json.dumps(summary(space), indent=2))
    typer.echo(f"wrote {write_plot(space, plot)}")
