"""Identity sources: the embedded world, and a manifest of one's own images, checked before training."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from w2w_core import world
from w2w_core.errors import InputError
from w2w_core.identities.manifest import ManifestSource, parse_manifest
from w2w_core.identities.world import WorldSource
from w2w_core.image_files import decode_images


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares width x height pixels (an image bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body


ROWS = [{"id": "rex", "images": "rex/", "smiling": "1", "big": "-1"},
        {"id": "fido", "images": "fido/*.png", "smiling": "0", "big": "1"}]


def test_world_source_rows_are_train_identities():
    source = WorldSource(seed_offset=3, images_per_identity=4)
    seed = world.train_seeds(1, start=5)[0]
    record = source.record(2)
    assert (record.identity_id, record.world_seed) == (f"world-{seed}", seed) == (source.identity_id(2), seed)
    assert record.labels.tolist() == world.attribute_vector(world.make_identity(seed)).tolist()
    np.testing.assert_array_equal(source.images(2, 32), world.render_identity(world.make_identity(seed), 4, 32))
    assert source.attribute_names == world.ATTRIBUTES and source.n_identities is None


def test_manifest_rows_become_ids_and_labels_in_order():
    manifest = parse_manifest("m.csv", ["id", "images", "smiling", "big"], ROWS)
    assert manifest.attribute_names == ("smiling", "big")
    assert [e.identity_id for e in manifest.entries] == ["rex", "fido"]
    assert [e.labels.tolist() for e in manifest.entries] == [[True, False], [False, True]]  # -1 is CelebA's 0
    numeric = parse_manifest("m.parquet", ["id", "images", "a"], [{"id": 7, "images": "x", "a": np.int64(1)},
                                                                   {"id": 8, "images": "y", "a": -1.0}])
    assert [e.identity_id for e in numeric.entries] == ["7", "8"] and numeric.entries[1].labels.tolist() == [False]


@pytest.mark.parametrize("columns, rows, message", [
    (["name", "images"], ROWS, "no 'id' column"),
    (["id", "pictures"], ROWS, "no 'images' column"),
    (["id", "images", "smiling", "big"], ROWS + [dict(ROWS[0])], "row 3: duplicate id 'rex' (first in row 1)"),
    (["id", "images", "smiling", "big"], [{**ROWS[0], "smiling": "2"}, {**ROWS[1], "big": "yes"}],
     "row 1 (rex): labels outside {0, 1, -1}: smiling='2'; row 2 (fido): labels outside {0, 1, -1}: big='yes'"),
    (["id", "images"], [{"id": "", "images": "a"}, {"id": "b", "images": ""}],
     "row 1: empty id; row 2 (b): empty images"),
    (["id", "images"], [], "lists no identities"),
])
def test_a_bad_manifest_is_refused_with_its_problems_and_row_numbers(columns, rows, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")
                       .replace("}", r"\}").replace("*", r"\*")):
        parse_manifest("m.csv", columns, rows)


def test_many_problems_are_listed_up_to_a_limit():
    rows = [{"id": "same", "images": "x"} for _ in range(15)]
    with pytest.raises(InputError, match=r"has 14 problem\(s\).*and 4 more"):
        parse_manifest("m.csv", ["id", "images"], rows)


def test_manifest_source_reads_each_identitys_images_through_the_reader():
    images = world.render_identity(world.make_identity(4), 3, 32)
    files = {"rex/": [(f"{i}.png", png(im)) for i, im in enumerate(images)], "fido/*.png": []}
    warnings: list[str] = []
    source = ManifestSource(parse_manifest("m.csv", ["id", "images", "smiling", "big"], ROWS), files.__getitem__,
                            warnings.append)
    np.testing.assert_array_equal(source.images(0, 32), images)  # PNG is lossless: the same pixels
    with pytest.raises(InputError, match="identity 'fido': no images in fido/\\*.png"):
        source.images(1, 32)
    assert source.n_identities == 2 and source.record(1).labels.tolist() == [False, True] and not warnings


def test_images_of_mixed_sizes_are_resized_with_a_warning():
    warnings: list[str] = []
    small, big = (np.full((s, s, 3), 80, np.uint8) for s in (32, 64))
    out = decode_images([("a.png", png(small)), ("b.png", png(big))], 32, "identity 'x'", warnings.append)
    assert out.shape == (2, 32, 32, 3) and "2 sizes (32x32, 64x64)" in warnings[0]


@pytest.mark.parametrize("data, message", [
    (b"not an image at all", "not a readable image file: its bytes are in no image format PIL reads"),
    (b"", "not a readable image file: the file is empty"),
    (png(np.zeros((32, 32, 3), np.uint8))[:-40], "not a readable image file: it is truncated or damaged"),
    (png_declaring(30_000, 30_000), "too large: .* refused before decoding"),
    (png_declaring(8_000, 8_000), "too large: it declares 8000 x 8000 pixels .* refused before decoding"),
])
def test_unreadable_truncated_and_bomb_images_are_refused_by_name(data, message):
    with pytest.raises(InputError, match=f"image bad.png (is )?{message}") as refused:
        decode_images([("bad.png", data)], 32)
    assert "BytesIO" not in str(refused.value)  # PIL's own wording names its buffer, not the file


def test_an_image_bomb_is_refused_in_bounded_memory():
    import subprocess
    import sys

    script = ("import resource, sys; from tests.w2w_core.test_identities import png_declaring; "
              "from w2w_core.image_files import decode_images\n"
              "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
              "try:\n    decode_images([('bomb.png', png_declaring(30_000, 30_000))], 32)\n"
              "except Exception as err:\n    print(type(err).__name__)\n"
              "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)")
    from pathlib import Path

    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).resolve().parents[2]).stdout.split()
    assert out[0] == "InputError" and int(out[1]) < 50  # MB of peak growth: the 2.7 GB of pixels are never allocated
