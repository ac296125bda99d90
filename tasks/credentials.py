"""S3 credentials from a Prefect Secret block, by name: never a flow parameter, never printed.

The block's value is JSON (or a dict) with `key`, `secret` and optionally
`endpoint_url`; the task loads it where the flow runs (on the worker) and puts
it into the process's AWS_* environment, which the stores and the local worker
processes read. Create one with:

    from prefect.blocks.system import Secret
    Secret(value={"key": "...", "secret": "...", "endpoint_url": "http://s3.internal:9000"}).save("w2w-s3")
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.s3 import export_credentials, secret_option_names
from w2w_core.errors import InputError

REDACTED = "***"


def use_credentials_block(name: str) -> None:
    """Load the Secret block `name` and export its S3 credentials to this process's environment."""
    from prefect.blocks.system import Secret

    try:
        value = Secret.load(name).get()
    except ValueError as err:
        raise InputError(f"no Prefect Secret block named {name!r}: "
                         "create it first (tasks/credentials.py shows how)") from err
    export_credentials(json.loads(value) if isinstance(value, str) else dict(value))


def refuse_secrets_in_parameters(storage_options: Mapping[str, Any] | None) -> None:
    """Refuse storage options that hold credentials as a flow parameter: Prefect records parameters.

    Prefect has recorded them by the time the flow body runs, so the run's own parameters are
    overwritten with the secrets masked before the error is raised.
    """
    found = secret_option_names(storage_options)
    if not found:
        return
    _mask_this_runs_parameters()
    raise InputError(f"storage_options hold credentials ({', '.join(found)}): Prefect records flow parameters, so "
                     "they would be stored with the run (this run's copy was masked). Give the worker "
                     "AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its environment, or a Prefect Secret block "
                     "and its name as `credentials_block` (docs/deployments.md)")


def _mask_this_runs_parameters() -> None:
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    masked = _masked(dict(context.flow_run.parameters))
    with get_client(sync_client=True) as client:
        client.update_flow_run(context.flow_run.id, parameters=masked)


def _masked(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: REDACTED if secret_option_names({k: v}) and not isinstance(v, Mapping) else _masked(v)
                for k, v in value.items()}
    return value


@task(name="use-credentials-block", cache_policy=NO_CACHE)
def use_credentials_block_task(name: str) -> None:
    use_credentials_block(name)
