"""Local files written whole or not at all (the one implementation lives in w2w_core/files.py)."""
from w2w_core.files import write_atomic

__all__ = ["write_atomic"]
