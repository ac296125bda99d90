"""Credentials given as flow parameters are refused and masked where Prefect recorded them: key/secret options, and
a URL with a user:password@ part (an endpoint_url, a store at s3://key:secret@bucket/...)."""
from __future__ import annotations

import pytest

from tasks.credentials import _masked, refuse_secrets_in_parameters
from w2w_core.errors import InputError

ENDPOINT_WITH_PASSWORD = "http://user:password@127.0.0.1:9000"


@pytest.mark.parametrize("options", [{"endpoint_url": ENDPOINT_WITH_PASSWORD},
                                     {"client_kwargs": {"endpoint_url": ENDPOINT_WITH_PASSWORD}}])
def test_an_endpoint_url_with_a_password_is_refused_as_a_storage_option(options):
    with pytest.raises(InputError, match=r"storage_options hold credentials \((client_kwargs\.)?endpoint_url\)") as no:
        refuse_secrets_in_parameters(options)
    assert "password" not in str(no.value)


def test_plain_options_pass():
    refuse_secrets_in_parameters({"endpoint_url": "http://127.0.0.1:9000", "client_kwargs": {"region_name": "x"}})
    refuse_secrets_in_parameters(None)


def test_recorded_parameters_are_masked_url_by_url():
    recorded = {"store_url": "s3://AKIA:topsecret@w2w/store", "paths": ["s3://k:s@b/a.png", "b.png"],
                "storage_options": {"endpoint_url": ENDPOINT_WITH_PASSWORD, "key": "kid", "secret": "s"}, "k": 3}
    assert _masked(recorded) == {"store_url": "s3://***@w2w/store", "paths": ["s3://***@b/a.png", "b.png"],
                                 "storage_options": {"endpoint_url": "http://***@127.0.0.1:9000", "key": "***",
                                                     "secret": "***"}, "k": 3}


@pytest.mark.integration
def test_a_store_url_with_credentials_is_refused_as_a_flow_parameter_and_masked_in_the_run(prefect_api):
    from prefect.client.orchestration import get_client

    from flows.space import fit_space

    state = fit_space("s3://AKIAKEY:topsecret@w2w/store", return_state=True)  # its run is named "…@w2w/store"
    assert state.is_failed() and "store_url holds a URL with credentials in it" in state.message
    assert "topsecret" not in state.message and "AKIAKEY" not in state.message
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(state.state_details.flow_run_id)
        logs = " ".join(log.message for log in client.read_logs())
    assert run.parameters["store_url"] == "s3://***@w2w/store" and run.name == "space of ***@w2w/store"
    assert "topsecret" not in run.name and "topsecret" not in str(run.parameters) and "topsecret" not in logs
