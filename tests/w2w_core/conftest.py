import pytest

from w2w_core import world
from w2w_core.base_model import BaseModel, TinyModelConfig, build_tiny_pipeline


@pytest.fixture()
def untrained_base() -> BaseModel:
    """A randomly initialised tiny pipeline: the code paths of the real one, built in a second."""
    pipe = build_tiny_pipeline(TinyModelConfig(), world.PROMPT_WORDS, seed=0)
    pipe.set_progress_bar_config(disable=True)
    return BaseModel(pipe, "test/untrained", "0000")
