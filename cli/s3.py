"""`w2w s3 ...`: a local S3-compatible server for development, and a credentials check.

    export AWS_ACCESS_KEY_ID=w2w AWS_SECRET_ACCESS_KEY=...   # the pair the server accepts
    w2w s3 serve --dir ./s3-data            # Ctrl-C (or SIGTERM) stops it; data stays in ./s3-data
    w2w s3 check s3://w2w/weights           # can these credentials reach that bucket?

The secret is read from the environment (or generated into a 0600 env file
with --new-credentials) and never printed.
"""
from __future__ import annotations

import os
import secrets
import signal
from pathlib import Path

import typer

from cli.errors import fail, failing_cleanly
from storage.boundary import redact_url
from storage.s3 import ENV_ENDPOINT, ENV_KEY, ENV_SECRET, S3Config, S3Server, check_bucket_access

app = typer.Typer(help="A local S3 server (rclone serve s3) for development and tests.", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Local object storage."""


def _write_credentials(path: Path, key: str, secret: str, endpoint: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"export {ENV_ENDPOINT}={endpoint}\nexport {ENV_KEY}={key}\nexport {ENV_SECRET}={secret}\n")


def _credentials(new_credentials: Path | None) -> tuple[str, str]:
    if new_credentials is not None:
        return f"w2w-{secrets.token_hex(4)}", secrets.token_hex(20)
    key, secret = os.environ.get(ENV_KEY), os.environ.get(ENV_SECRET)
    if not key or not secret:
        fail(f"set {ENV_KEY} and {ENV_SECRET} first (the server accepts exactly that pair), or pass "
             "--new-credentials FILE to have a pair generated into FILE (mode 0600) and then `source FILE`")
    return key, secret


@app.command()
def serve(
    data_dir: Path = typer.Option(Path("s3-data"), "--dir",
                                  help="Folder holding the data; each top-level folder is a bucket."),
    host: str = typer.Option("127.0.0.1", help="Address to bind; 127.0.0.1 keeps it off the network."),
    port: int = typer.Option(9000, help="TCP port to serve on."),
    bucket: list[str] = typer.Option(["w2w"], help="Bucket(s) to create if missing (repeatable)."),
    new_credentials: Path | None = typer.Option(None, help="Generate a key pair into this env file (0600) "
                                                "instead of reading AWS_* vars."),
) -> None:
    """Serve --dir over S3 in the foreground until Ctrl-C or SIGTERM."""
    key, secret = _credentials(new_credentials)
    server = S3Server(data_dir, key=key, secret=secret, host=host, port=port, buckets=bucket)
    # rclone runs in its own session (a terminal's Ctrl-C reaches this process only), and SIGTERM would end
    # this process at once, leaving rclone serving with no parent: both become the KeyboardInterrupt below
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with failing_cleanly():
            server.start()
        _announce(server, key, secret, new_credentials)
        code = server.wait()
    except KeyboardInterrupt:
        typer.echo("stopping the S3 server")
        server.stop()
        return
    fail(f"the S3 server exited with status {code}; its log ends:\n{server.log_tail()}")


def _announce(server: S3Server, key: str, secret: str, new_credentials: Path | None) -> None:
    """Say where the server is and how to reach it (the secret itself only in the 0600 file)."""
    typer.echo(f"S3 server on {server.endpoint_url} serving {server.root} (buckets: {', '.join(server.buckets)}); "
               "Ctrl-C stops it.")
    if new_credentials is not None:
        _write_credentials(new_credentials, key, secret, server.endpoint_url)
        typer.echo(f"New credentials written to {new_credentials}; in another shell: source {new_credentials}")
    typer.echo(f"export {ENV_ENDPOINT}={server.endpoint_url}")
    typer.echo(f"export {ENV_KEY}={key}")
    typer.echo(f"export {ENV_SECRET}=<{'in ' + str(new_credentials) if new_credentials else 'the secret you set'}>", )


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def check(url: str = typer.Argument(..., help="s3://bucket[/prefix] to try with the AWS_* env vars.")) -> None:
    """Check that the AWS_* credentials reach URL's bucket (never prints the secret)."""
    config = S3Config.from_env()
    with failing_cleanly():
        check_bucket_access(url, config)
    endpoint = redact_url(config.endpoint_url) if config.endpoint_url else "AWS"
    typer.echo(f"ok: {config.key or '(default credentials)'} can read {redact_url(url)} at {endpoint}")
