"""The `build-zoo` flow: the embedded model zoo, a weight store of world identities shipped with w2w.

The zoo is built by the same dataset flow a team runs, with the fixed recipe
of `ZooConfig`, into `w2w_core/assets/zoo` by default; each run continues where
the last stopped (the store is resumable) and appends to `zoo.json` what it does:
the command, the config and the commit before it trains (a killed run keeps its
entry, marked interrupted by the next), how many identities it trained and how
fast once it finishes. Every run then fits the zoo's space (float16 components,
to stay small enough to ship) and its calibrated attribute directions, so that
`w2w sample`, `edit` and `invert` work on the zoo as shipped.
"""
from __future__ import annotations

import time

from prefect import flow

from flows.dataset import build_weights_dataset
from flows.directions import fit_directions
from flows.names import zoo_run
from flows.space import fit_space
from tasks.config import FanOutConfig, ZooConfig
from tasks.dataset import trained_prefix_task
from tasks.zoo import finish_zoo_run_task, start_zoo_run_task
from w2w_core.pca import PCAConfig
from w2w_core.space import default_k


@flow(name="build-zoo", flow_run_name=zoo_run)
def build_zoo(out: str, config: ZooConfig = ZooConfig(), fan_out: FanOutConfig = FanOutConfig(),
              command: str = "") -> dict:
    """Record the run, grow the zoo at `out` to `config.n_identities` identities, fit its space and
    directions (so every application works on the zoo as shipped), then complete the record."""
    index = start_zoo_run_task(out, config, fan_out, command, trained_prefix_task(out))
    started = time.time()
    summary = build_weights_dataset(out, config.n_identities, config.dataset, fan_out)
    trained_s = time.time() - started
    space = fit_space(out, PCAConfig(k=config.k or default_k(summary["done"])),
                      components_dtype=config.components_dtype)
    directions = fit_directions(out, config.directions, calibration=config.calibration)
    return finish_zoo_run_task(out, index, {**summary, "wall_seconds": trained_s, "space": space,
                                            "directions": directions,
                                            "space_and_directions_seconds": time.time() - started - trained_s})
