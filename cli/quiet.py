"""What a flow command prints: stages, progress, warnings that matter, the result; Prefect's chatter only
with `--verbose`.

By default Prefect's console handler shows warnings and errors only (its
per-task "Finished in state" lines, the temporary server's "Starting temporary
server ..." go to the Prefect API's logs, not the terminal); the setting
travels in the environment (PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL), so worker
processes the flow starts print the same. A user's own setting of it is kept.

Errors the user caused reach them as one line: Prefect's tracebacks of w2w's own errors are left out.

Inside a flow, Prefect logs every exception with its traceback (the flow run,
each task run, the engine), 75-400 lines for one bad input. For a W2WError,
whose message already says what was wrong and what to do, those records are
dropped from the terminal; the command prints the message once (cli/errors.py).
Other exceptions keep their tracebacks: they are bugs worth reporting.
"""
from __future__ import annotations

import logging
import os

from w2w_core.errors import W2WError

CONSOLE_LEVEL = "PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"  # Prefect's logging.yml, overridden from the environment
QUIET_LEVEL = "WARNING"


def set_verbosity(verbose: bool) -> None:
    """Before Prefect is imported: its console shows everything (`--verbose`) or warnings and errors only."""
    if verbose:
        os.environ[CONSOLE_LEVEL] = "NOTSET"  # ("0" is no level name: Prefect would drop its handlers)
    else:
        os.environ.setdefault(CONSOLE_LEVEL, QUIET_LEVEL)

PREFECT_LOGGERS = ("prefect", "prefect.flow_runs", "prefect.task_runs", "prefect.flow_engine", "prefect.task_engine",
                   "prefect.engine")


class _DropW2WErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        return not (isinstance(error, W2WError) or (record.levelno >= logging.ERROR and _mentions_w2w_error(record)))


def _mentions_w2w_error(record: logging.LogRecord) -> bool:
    """Prefect also logs 'Finished in state Failed(...)' lines naming the exception type only."""
    text = record.getMessage()
    return any(name in text for name in _W2W_ERROR_NAMES)


def _error_names() -> tuple[str, ...]:
    names, todo = set(), [W2WError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo += cls.__subclasses__()
    return tuple(names)


_W2W_ERROR_NAMES: tuple[str, ...] = ()


def quiet_prefect_tracebacks() -> None:
    """Filter every handler of Prefect's loggers (call after Prefect is imported, before a flow runs)."""
    global _W2W_ERROR_NAMES
    _W2W_ERROR_NAMES = _error_names()
    import prefect.logging  # noqa: F401 - configures Prefect's handlers

    from tasks.progress import ClearsProgressLine

    handlers = {h for name in PREFECT_LOGGERS for h in logging.getLogger(name).handlers}
    handlers |= set(logging.getLogger().handlers)
    for handler in handlers:
        on_screen = isinstance(handler, logging.StreamHandler)  # not the API's handler
        for kind in (_DropW2WErrors, ClearsProgressLine) if on_screen else (_DropW2WErrors,):
            if not any(isinstance(f, kind) for f in handler.filters):
                handler.addFilter(kind())  # in this order: the progress line is cleared only for shown records
