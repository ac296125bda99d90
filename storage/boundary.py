"""Where library errors from zarr, fsspec and s3fs become w2w `StorageError`s.

The messages say which store, what went wrong and what to check. They never
include credentials: storage options are not formatted into any message and
the user-info part of every URL in one (s3://key:secret@bucket, an
AWS_ENDPOINT_URL of http://user:password@host:9000) is masked.
"""
from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from w2w_core.errors import StorageError, W2WError

_USER_INFO = re.compile(r"\b([a-zA-Z][\w+.-]*://)[^/?#@\s'\"]+@")  # scheme://user:password@


def redact_url(url: str) -> str:
    """`url` (or any text) with the `user:password@` part of every URL in it replaced by `***@`."""
    return _USER_INFO.sub(r"\1***@", str(url))


def has_url_credentials(text: str) -> bool:
    """True if `text` holds a URL with a user-info part (a key, user or password before an @)."""
    return bool(_USER_INFO.search(str(text)))


def url_user_infos(text: str) -> list[str]:
    """The `user:password` parts of the URLs in `text` (to mask them where they were copied without a scheme)."""
    return [match.group(0).split("://", 1)[1][:-1] for match in _USER_INFO.finditer(str(text))]


def is_s3(url: str) -> bool:
    return str(url).startswith(("s3://", "s3a://"))


def _endpoint(storage_options: Mapping[str, Any] | None) -> str:
    opts = storage_options or {}
    endpoint = opts.get("endpoint_url") or (opts.get("client_kwargs") or {}).get("endpoint_url")
    return f" at {redact_url(endpoint)}" if endpoint else ""


def _is_connection_error(err: BaseException) -> bool:
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(names & {"EndpointConnectionError", "ConnectionError", "ClientConnectorError",
                         "ServerDisconnectedError", "ConnectTimeoutError", "ReadTimeoutError"})


def is_transport_error(err: BaseException) -> bool:
    """True for errors of reaching the store (network, credentials), not of the bytes in it."""
    return _is_connection_error(err) or isinstance(err, (PermissionError, ConnectionError, TimeoutError))


CREDENTIALS_HOWTO = ("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a server other "
                     "than AWS) in the environment; a Prefect deployment can instead name a Prefect Secret block "
                     "holding key and secret as credentials_block (docs/deployments.md)")


def _is_missing_credentials(err: BaseException) -> bool:
    """botocore found no key pair anywhere it looks (environment, ~/.aws, instance metadata), or half of one."""
    return bool({cls.__name__ for cls in type(err).__mro__} & {"NoCredentialsError", "PartialCredentialsError"})


def _is_library_error(err: BaseException) -> bool:
    module = type(err).__module__.split(".")[0]
    return isinstance(err, OSError) or module in {"botocore", "aiobotocore", "aiohttp", "s3fs", "fsspec"}


def translate(err: BaseException, url: str, action: str,
              storage_options: Mapping[str, Any] | None = None) -> StorageError:
    """A `StorageError` that says what `action` on `url` met, and what to do about it (every URL in it,
    the library's own words included, without its credentials)."""
    return StorageError(redact_url(_message(err, url, action, storage_options)))


def _message(err: BaseException, url: str, action: str, storage_options: Mapping[str, Any] | None) -> str:
    where = f"{url}{_endpoint(storage_options)}"
    if _is_missing_credentials(err):
        return f"no S3 credentials for {where} (needed to {action}): {CREDENTIALS_HOWTO}"
    if isinstance(err, PermissionError) and is_s3(url):
        return (
            f"S3 refused the credentials for {where} while trying to {action}: the access key id "
            "or secret is wrong, or this key may not use that bucket. Check AWS_ACCESS_KEY_ID and "
            "AWS_SECRET_ACCESS_KEY (or key/secret in storage_options)."
        )
    if _is_connection_error(err):
        return (
            f"could not reach the object store for {where} while trying to {action}: "
            f"is the S3 server running and AWS_ENDPOINT_URL right? ({type(err).__name__})"
        )
    if isinstance(err, PermissionError):
        return f"permission denied to {action} at {where}: {err}"
    return f"could not {action} at {where}: {type(err).__name__}: {err}"


@contextlib.contextmanager
def storage_errors(url: str, action: str,
                   storage_options: Mapping[str, Any] | None = None) -> Iterator[None]:
    """Re-raise I/O and object-store errors inside the block as `StorageError`."""
    try:
        yield
    except W2WError:
        raise
    except Exception as err:  # filtered just below
        if not _is_library_error(err) and not _is_connection_error(err):
            raise
        # a library's own message may hold a URL with its credentials: then it is not chained on (a traceback,
        # Prefect's log of a failed task among them, would print it)
        raise translate(err, url, action, storage_options) from (None if has_url_credentials(str(err)) else err)
