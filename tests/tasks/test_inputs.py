"""tasks/inputs.py: what a command is handed is checked before torch, diffusers or Prefect load."""
from __future__ import annotations

import subprocess
import sys

HEAVY = ("torch", "diffusers", "transformers", "prefect", "dask", "matplotlib")


def test_the_cli_and_its_checks_load_without_torch_diffusers_or_prefect():
    """The 2 s bar of a bad input rests on this: every check of tasks/inputs.py, and the `w2w` app itself,
    import none of the libraries that take 10-20 s to load."""
    code = ("import sys, cli.main, tasks.inputs, tasks.models, w2w_core.lora.files, w2w_core.base_model_folder; "
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_an_empty_finetune_is_refused_before_any_file_is_read(tmp_path):
    import pytest

    from tasks.inputs import check_finetune
    from w2w_core.errors import InputError

    with pytest.raises(InputError, match="no identity given"):
        check_finetune([], [], [], tmp_path / "out", None)
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is a file"):
        check_finetune([1], [], [], tmp_path / "file", None)
    with pytest.raises(InputError, match="not a diffusers model folder"):
        check_finetune([1], [], [], tmp_path / "out", tmp_path)


def test_the_inversion_picture_puts_each_input_first_in_its_row(tmp_path):
    """Colour-coded images: the inputs (red, then green) must land in the first column, each in its own
    row, and the generated images (blue) to their right."""
    import numpy as np
    from PIL import Image

    from tasks.inversion import write_inversion_grid

    def solid(rgb):
        return np.broadcast_to(np.array(rgb, np.uint8), (32, 32, 3)).copy()

    inputs = np.stack([solid((255, 0, 0)), solid((0, 255, 0))])
    generated = np.stack([np.stack([solid((0, 0, 255))] * 3)] * 2)
    path = write_inversion_grid(tmp_path / "invert.png", ["a", "b"], inputs, generated)
    pixels = np.asarray(Image.open(path).convert("RGB")).astype(int)

    def where(rgb):
        ys, xs = np.nonzero((np.abs(pixels - np.array(rgb)).sum(-1) < 30))
        return ys, xs

    (red_y, red_x), (green_y, green_x), (_, blue_x) = where((255, 0, 0)), where((0, 255, 0)), where((0, 0, 255))
    assert len(red_x) > 500 and len(green_x) > 500 and len(blue_x) > 6 * 500
    assert red_x.max() < blue_x.min() and green_x.max() < blue_x.min()  # inputs in the first column
    assert red_y.max() < green_y.min()  # the first input's row above the second's
    assert abs(red_x.mean() - green_x.mean()) < 2  # the same column


def test_an_image_padded_past_the_cap_is_refused_before_it_is_read(tmp_path):
    """A 64 px PNG padded to 1.5 GB (a sparse file): refused by name, without reading it whole."""
    import tracemalloc

    import pytest
    from PIL import Image

    from tasks.inputs import check_finetune, read_images
    from w2w_core.errors import InputError
    from w2w_core.image_files import MAX_FILE_BYTES

    path = tmp_path / "padded.png"
    Image.new("RGB", (64, 64)).save(path)
    with open(path, "r+b") as f:
        f.truncate(1_500_000_000)
    assert path.stat().st_size > MAX_FILE_BYTES
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match="padded.png"):
            read_images([path], 32)  # w2w invert
        with pytest.raises(InputError, match="padded.png"):
            check_finetune([], [path], [], tmp_path / "out", None)  # w2w finetune --image
        assert tracemalloc.get_traced_memory()[1] < 100 * 2**20
    finally:
        tracemalloc.stop()


def test_a_run_name_never_shows_the_credentials_of_a_store_url():
    from flows.names import _where

    assert _where("s3://AKIAKEY:topsecret@bucket/team/store") == "team/store"
    assert "topsecret" not in _where("s3://AKIAKEY:topsecret@bucket")
