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

from storage.boundary import has_url_credentials, redact_url, url_user_infos
from storage.s3 import SECRET_OPTION_NAMES, export_credentials, secret_option_names
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
    """Refuse credentials given as a flow parameter: Prefect records parameters.

    Refused: storage options that hold a key, secret or token, or a URL with a `user:password@` part
    (an endpoint_url), and any other parameter of the running flow that holds such a URL (a store at
    s3://key:secret@bucket/...). Prefect has recorded them by the time the flow body runs, so the run's
    own parameters (and its name) are overwritten with the secrets masked before the error is raised.
    """
    found = secret_option_names(storage_options)
    in_urls = _url_credentials(_this_runs_parameters())
    if not found and not in_urls:
        return
    _mask_this_runs_parameters()
    what = [f"storage_options hold credentials ({', '.join(found)})"] if found else []
    what += [f"{', '.join(in_urls)} hold{'s' if len(in_urls) == 1 else ''} a URL with credentials in it "
             "(user:password@)"] if in_urls else []
    raise InputError(f"{'; '.join(what)}: Prefect records flow parameters, so they would be stored with the run "
                     "(this run's copy was masked). Give the worker AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY "
                     "(and AWS_ENDPOINT_URL) in its environment, or a Prefect Secret block and its name as "
                     "`credentials_block` (docs/deployments.md)")


def _this_runs_parameters() -> dict[str, Any]:
    """The parameters Prefect recorded for the flow run this is called in ({} outside a flow run)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return {}
    return {k: v for k, v in dict(context.flow_run.parameters).items() if k != "storage_options"}


def _url_credentials(value: Any, name: str = "") -> list[str]:
    """The (dotted) names of the values inside `value` that hold a URL with credentials in it."""
    if isinstance(value, Mapping):
        return [found for k, v in value.items() for found in _url_credentials(v, f"{name}.{k}" if name else str(k))]
    if isinstance(value, (list, tuple)):
        return [found for i, v in enumerate(value) for found in _url_credentials(v, f"{name}[{i}]")]
    return [name] if isinstance(value, str) and has_url_credentials(value) else []


def _mask_this_runs_parameters() -> None:
    from prefect.client.orchestration import get_client
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return
    parameters = dict(context.flow_run.parameters)
    name = context.flow_run.name
    for user_info in _user_infos(parameters):  # a run name made from a store URL shows its user:password too
        name = name.replace(user_info, REDACTED)
    with get_client(sync_client=True) as client:
        client.update_flow_run(context.flow_run.id, parameters=_masked(parameters), name=name)


def _masked(value: Any) -> Any:
    """`value` with credential fields replaced by *** and every URL's user:password@ part masked."""
    if isinstance(value, Mapping):
        return {k: REDACTED if str(k).lower() in SECRET_OPTION_NAMES and v and not isinstance(v, Mapping)
                else _masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(v) for v in value]
    return redact_url(value) if isinstance(value, str) else value


def _user_infos(value: Any) -> set[str]:
    """The user:password parts of the URLs inside `value`."""
    if isinstance(value, Mapping):
        return {found for v in value.values() for found in _user_infos(v)}
    if isinstance(value, (list, tuple)):
        return {found for v in value for found in _user_infos(v)}
    return set(url_user_infos(value)) if isinstance(value, str) else set()


@task(name="use-credentials-block", cache_policy=NO_CACHE)
def use_credentials_block_task(name: str) -> None:
    use_credentials_block(name)
