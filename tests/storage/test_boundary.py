"""storage/boundary.py: library errors become one line that says what to do."""
from __future__ import annotations

from botocore.exceptions import NoCredentialsError, PartialCredentialsError

from storage.boundary import translate


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
