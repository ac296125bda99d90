"""`w2w directions fit`: attribute directions in the w2w space of a store (saved beside its space)."""
from __future__ import annotations

import json

import typer

from cli.errors import failing_cleanly
from tasks.config import CalibrationConfig
from w2w_core.directions import DirectionsConfig
from w2w_core.errors import InputError
from w2w_core.space import check_m

app = typer.Typer(help="Attribute directions in the w2w space (paper Sec. 3.3).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Attribute directions."""


@app.command()
def fit(
    store_url: str = typer.Argument(..., help="weight store with a fitted space (the shipped zoo's directions are "
                                    "refit by `w2w zoo build`)"),
    m: int = typer.Option(DirectionsConfig.m, help="leading components used (default: about N/5, at most 1000)"),
    method: str = typer.Option(DirectionsConfig.method, help="least_squares (the paper) | logistic | mean_shift "
                               "(the average change with the attribute)"),
    debias: str = typer.Option("", help="attributes to remove from every other direction, comma-separated "
                               "(e.g. male,young)"),
    debias_mode: str = typer.Option(DirectionsConfig.debias_mode,
                                    help="sequential (one at a time) | joint (their span)"),
    calibrate: bool = typer.Option(True, help="on an embedded-world store: measure strength 1 with the probe as the "
                                   "edit that flips half of the training models tried (a few minutes on a CPU)"),
) -> None:
    """Fit one direction per attribute of the store (a Prefect flow) and save it beside the space."""
    with failing_cleanly():
        config = DirectionsConfig(m=m, method=method, debias=tuple(a.strip() for a in debias.split(",") if a.strip()),
                                  debias_mode=debias_mode)
        _check_store_has(store_url, config)
        from cli.quiet import quiet_prefect_tracebacks
        from flows.directions import fit_directions

        quiet_prefect_tracebacks()

        result = fit_directions(store_url, config, calibration=CalibrationConfig() if calibrate else None)
    typer.echo(json.dumps(result, indent=2))


def _check_store_has(store_url: str, config: DirectionsConfig) -> None:
    """Before Prefect starts: the store has a space of at least m components and every attribute to debias."""
    from storage.space_store import load_space
    from storage.weight_store import WeightStore

    space = load_space(store_url)  # no space: one clear line
    if config.m is not None:
        check_m(config.m, space.k, "--m")
    names = WeightStore.open(store_url, read_only=True).attribute_names
    unknown = [a for a in config.debias if a not in names]
    if unknown:
        raise InputError(f"cannot debias against {unknown}: the store's attributes are {', '.join(names)}")
