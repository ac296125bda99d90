import numpy as np
import pytest
from PIL import Image

from w2w_core.errors import InputError
from w2w_core.images import check_images, image_grid, load_image_files, resize_images, to_tensor, to_uint8


def test_tensor_round_trip_is_exact():
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3), dtype=np.uint8)
    tensor = to_tensor(images)
    assert tensor.shape == (3, 3, 8, 8) and tensor.min() >= -1 and tensor.max() <= 1
    np.testing.assert_array_equal(to_uint8(tensor), images)


@pytest.mark.parametrize("bad", [np.zeros((0, 8, 8, 3), np.uint8), np.zeros((2, 8, 8, 3), np.float32),
                                 np.zeros((8, 8, 3), np.uint8)])
def test_bad_image_batches_are_refused(bad):
    with pytest.raises(InputError):
        check_images(bad)


def test_missing_and_unreadable_files_are_named(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        load_image_files([tmp_path / "nope.png"], 32)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(InputError, match="junk.png"):
        load_image_files([junk], 32)
    with pytest.raises(InputError, match="no images"):
        load_image_files([], 32)


def test_files_load_resized_as_rgb(tmp_path):
    Image.new("L", (64, 48), 200).save(tmp_path / "gray.png")
    images = load_image_files([tmp_path / "gray.png"], 32)
    assert images.shape == (1, 32, 32, 3) and images.dtype == np.uint8
    assert abs(int(images.mean()) - 200) <= 1


def test_resize_and_grid_shapes():
    images = np.full((5, 32, 32, 3), 100, np.uint8)
    assert resize_images(images, 64).shape == (5, 64, 64, 3)
    assert resize_images(images, 32) is images
    grid = image_grid(images, columns=3, scale=2)
    assert grid.size == ((3 * 33 + 1) * 2, (2 * 33 + 1) * 2)


def padded_png(path, size_bytes: int):
    """A 64x64 PNG padded with zeros to `size_bytes` (a sparse file: it costs no disk, only a reader's memory)."""
    Image.new("RGB", (64, 64), (90, 120, 150)).save(path)
    with open(path, "r+b") as file:
        file.truncate(size_bytes)
    return path


def test_an_image_file_over_the_size_cap_is_refused_before_it_is_read(tmp_path):
    import tracemalloc

    from w2w_core.image_files import MAX_FILE_BYTES

    fine = padded_png(tmp_path / "fine.png", MAX_FILE_BYTES)  # at the cap: read, and the padding ignored
    assert load_image_files([fine], 32).shape == (1, 32, 32, 3)
    huge = padded_png(tmp_path / "huge.png", 1536 * 2**20)  # the 1.5 GB of the issue
    tracemalloc.start()
    try:
        with pytest.raises(InputError, match=r"image .*huge.png is a file of 1,536.0 MB: .* at most 64 MB; refused "
                                             "before reading it"):
            load_image_files([huge], 32)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20  # nothing of the file was read
