"""storage/boundary.py: library errors become one line that says what to do."""
from __future__ import annotations

import pytest
from botocore.exceptions import EndpointConnectionError, NoCredentialsError, PartialCredentialsError

from storage.boundary import redact_url, storage_errors, translate
from storage.s3 import S3Config, check_endpoint, free_port, secret_option_names
from w2w_core.errors import StorageError


def test_missing_s3_credentials_name_the_variables_and_the_secret_block_to_set():
    for error in (NoCredentialsError(), PartialCredentialsError(provider="env", cred_var="AWS_SECRET_ACCESS_KEY")):
        message = str(translate(error, "s3://bucket/store", "open the weight store",
                                {"endpoint_url": "http://127.0.0.1:9000"}))
        assert message.startswith("no S3 credentials for s3://bucket/store at http://127.0.0.1:9000")
        assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message
        assert "Prefect Secret block" in message and "credentials_block" in message


def test_a_url_with_a_key_in_it_is_masked_in_the_message():
    message = str(translate(NoCredentialsError(), "s3://AKIAKEY:topsecret@bucket/store", "open the weight store"))
    assert "topsecret" not in message and "AKIAKEY" not in message and "s3://***@bucket/store" in message


ENDPOINT_WITH_PASSWORD = "http://user:password@127.0.0.1:9000"


def test_a_password_in_the_endpoint_url_is_masked_in_every_message():
    error = EndpointConnectionError(endpoint_url=f"{ENDPOINT_WITH_PASSWORD}/w2w/store/zarr.json")
    nested = {"client_kwargs": {"endpoint_url": ENDPOINT_WITH_PASSWORD}}
    for options in ({"endpoint_url": ENDPOINT_WITH_PASSWORD}, nested):
        message = str(translate(error, "s3://w2w/store", "open the weight store", options))
        assert "password" not in message and "http://***@127.0.0.1:9000" in message
    try:  # the library's own error is not chained on when its words hold the password (tracebacks print it)
        with storage_errors("s3://w2w/store", "open the weight store", {"endpoint_url": ENDPOINT_WITH_PASSWORD}):
            raise OSError(f"could not fetch {ENDPOINT_WITH_PASSWORD}/w2w/store")
    except Exception as err:  # noqa: BLE001 - inspected just below
        assert "password" not in str(err) and err.__cause__ is None and err.__suppress_context__


def test_an_unreachable_endpoint_with_a_password_is_named_without_it():
    endpoint = f"http://user:password@127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(StorageError) as refused:
        check_endpoint("s3://user:password@w2w/store", {"endpoint_url": endpoint})
    assert "password" not in str(refused.value) and "http://***@127.0.0.1" in str(refused.value)


def test_s3_config_and_option_names_see_a_password_in_the_endpoint_url():
    assert "password" not in repr(S3Config.from_env({"AWS_ENDPOINT_URL": ENDPOINT_WITH_PASSWORD}))
    assert secret_option_names({"endpoint_url": ENDPOINT_WITH_PASSWORD}) == ["endpoint_url"]
    assert secret_option_names({"client_kwargs": {"endpoint_url": ENDPOINT_WITH_PASSWORD}}) == [
        "client_kwargs.endpoint_url"]
    assert secret_option_names({"endpoint_url": "http://127.0.0.1:9000", "anon": False}) == []


def test_every_url_in_a_text_is_masked():
    text = f"'{ENDPOINT_WITH_PASSWORD}/b' and s3://AKIA:top@bucket/x, not s3://bucket/a@b or file:///tmp/a@b"
    assert redact_url(text) == ("'http://***@127.0.0.1:9000/b' and s3://***@bucket/x, not s3://bucket/a@b or "
                                "file:///tmp/a@b")
