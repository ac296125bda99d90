"""Local files written whole or not at all, with the permissions the user's umask gives (like any other file)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def _umask() -> int:
    """The process's umask, read without changing it (Linux reports it in /proc; else the common 022)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    return 0o022


def write_atomic(path: str | Path, data: bytes) -> Path:
    """Write to a temporary file beside `path`, then rename: a crash never leaves half a file.

    The temporary file is created private (0600); it gets 0666 minus the umask before the rename, the
    mode a plain `open(path, "w")` would have given, so every file w2w writes follows one rule.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False) as file:
        file.write(data)
    try:
        os.chmod(file.name, 0o666 & ~_umask())
        os.replace(file.name, path)
    finally:
        Path(file.name).unlink(missing_ok=True)
    return path
