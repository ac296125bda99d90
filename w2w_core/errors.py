"""One small exception hierarchy for w2w.

Every error a user can cause (bad input, a file that does not fit the model,
a training run that diverged) is a `W2WError` whose message says what was
wrong and what to do. Library errors are caught where the input entered and
re-raised as one of these, so nobody sees a traceback from deep inside torch.
"""


class W2WError(Exception):
    """Base class of every error w2w raises on purpose."""


class InputError(W2WError, ValueError):
    """An argument, file or image handed to w2w is missing, unreadable or malformed."""


class LayoutMismatchError(W2WError, ValueError):
    """A LoRA file, weight vector or store does not fit the base model's LoRA layout."""


class TrainingDivergedError(W2WError, RuntimeError):
    """A fine-tune produced a non-finite loss; its result is discarded."""


class BackendUnavailableError(W2WError, RuntimeError):
    """A requested compute backend (CuPy, a GPU) is not installed or not present."""


class StorageError(W2WError, OSError):
    """The weight store or object storage refused or could not complete an operation."""


class StoreNotFoundError(StorageError):
    """There is no weight store (or no space) at the URL: nothing was ever created there."""
