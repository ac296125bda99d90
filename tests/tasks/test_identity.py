"""One identity behind `w2w finetune` / `w2w generate`: where its images come from."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tasks.config import DatasetConfig
from tasks.identity import identity_images
from w2w_core import world
from w2w_core.errors import InputError


def test_images_come_from_the_world_or_from_files(tmp_path):
    renders = identity_images(7, None, 32)
    assert renders.shape == (DatasetConfig.images_per_identity, 32, 32, 3)
    np.testing.assert_array_equal(renders, world.render_identity(world.make_identity(7), len(renders), 32))
    Image.fromarray(renders[0]).resize((48, 48)).save(tmp_path / "a.png")
    assert identity_images(None, [tmp_path / "a.png"], 32).shape == (1, 32, 32, 3)


def test_images_need_exactly_one_source(tmp_path):
    with pytest.raises(InputError, match="either --seed or --image"):
        identity_images(7, [tmp_path / "a.png"], 32)
    with pytest.raises(InputError, match="no identity given"):
        identity_images(None, None, 32)
