"""The `w2w` command: one module per command group, all failing the same way (cli/errors.py).

Each command checks its input, then calls one flow (flows/) or one plain
function (tasks/). Modules here import only light things at the top (typer,
configs), so `w2w --help` does not load torch, Prefect or Dask.
"""
