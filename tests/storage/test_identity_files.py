"""Manifests and identity images on a local path and on the real S3 server."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import s3fs

from storage.identity_files import image_reader, read_manifest
from tests.w2w_core.test_identities import png
from w2w_core import world
from w2w_core.errors import InputError

HEADER = ["id", "images", "male", "smiling"]
RECORDS = [{"id": "ana", "images": "ana", "male": 0, "smiling": 1},
           {"id": "bo", "images": "bo/*.png", "male": 1, "smiling": -1}]


def write_manifest(folder, kind: str) -> str:
    path = folder / f"people.{kind}"
    if kind == "csv":
        rows = [",".join(str(r[c]) for c in HEADER) for r in RECORDS]
        path.write_text("\n".join([",".join(HEADER), *rows]) + "\n")
    elif kind == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n")
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(RECORDS), path)
    return str(path)


def write_images(folder, name: str, seed: int, n: int = 3) -> np.ndarray:
    images = world.render_identity(world.make_identity(seed), n, 32)
    (folder / name).mkdir(parents=True, exist_ok=True)
    for i, image in enumerate(images):
        (folder / name / f"{i}.png").write_bytes(png(image))
    return images


@pytest.mark.parametrize("kind", ["csv", "jsonl", "parquet"])
def test_manifest_formats_read_the_same(tmp_path, kind):
    manifest = read_manifest(write_manifest(tmp_path, kind))
    assert manifest.attribute_names == ("male", "smiling")
    assert [(e.identity_id, e.images, e.labels.tolist()) for e in manifest.entries] == [
        ("ana", "ana", [False, True]), ("bo", "bo/*.png", [True, False])]


def test_missing_unparseable_and_unknown_manifests_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="no manifest at"):
        read_manifest(str(tmp_path / "none.csv"))
    (tmp_path / "broken.jsonl").write_text('{"id": "a", "images": "x"}\n[1, 2]\n')
    with pytest.raises(InputError, match="could not be parsed"):
        read_manifest(str(tmp_path / "broken.jsonl"))
    (tmp_path / "m.xlsx").write_text("?")
    with pytest.raises(InputError, match="not a .csv, .jsonl or .parquet"):
        read_manifest(str(tmp_path / "m.xlsx"))


def test_folders_and_globs_are_read_sorted_and_relative_to_the_manifest(tmp_path):
    url = write_manifest(tmp_path, "csv")
    ana = write_images(tmp_path, "ana", 1)
    write_images(tmp_path, "bo", 2, n=2)
    (tmp_path / "ana" / "notes.txt").write_text("not an image")
    read = image_reader(url)
    files = read("ana")
    assert [name for name, _ in files] == ["0.png", "1.png", "2.png"] and files[0][1] == png(ana[0])
    assert [name for name, _ in read("bo/*.png")] == ["0.png", "1.png"]
    assert [name for name, _ in read(str(tmp_path / "ana"))] == ["0.png", "1.png", "2.png"]  # absolute, inside
    assert [name for name, _ in read(f"file://{tmp_path}/bo/*.png")] == ["0.png", "1.png"]


def test_paths_out_of_the_manifests_folder_and_bad_links_are_refused(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    url = write_manifest(root, "csv")
    write_images(tmp_path, "outside", 3)
    read = image_reader(url)
    with pytest.raises(InputError, match="leaves the manifest's folder"):
        read("../outside")
    for absolute in (str(tmp_path / "outside"), f"file://{tmp_path}/outside", f"{tmp_path}/outside/*.png",
                     f"{root}/../outside", "/etc"):  # an absolute path follows the same rule as ../
        with pytest.raises(InputError, match="leaves the manifest's folder"):
            read(absolute)
    with pytest.raises(InputError, match="on another file system than the manifest") as refused:
        read("s3://key:secret@bucket/outside")
    assert "secret" not in str(refused.value)
    (root / "sneaky").mkdir()
    os.symlink(tmp_path / "outside" / "0.png", root / "sneaky" / "0.png")
    with pytest.raises(InputError, match="links outside the manifest's folder"):
        read("sneaky")
    (root / "loop").mkdir()
    os.symlink(root / "loop" / "a.png", root / "loop" / "b.png")
    os.symlink(root / "loop" / "b.png", root / "loop" / "a.png")
    with pytest.raises(InputError, match="looping link|no images|broken"):
        read("loop")
    with pytest.raises(InputError, match="images folder 'nobody' does not exist"):
        read("nobody")
    (root / "file.png").write_bytes(b"x")
    with pytest.raises(InputError, match="is a file, not a folder"):
        read("file.png")


@pytest.mark.integration
def test_manifest_and_images_on_the_s3_server(s3_url, s3_env, s3_storage_options, tmp_path):
    fs = s3fs.S3FileSystem(**s3_storage_options)
    images = world.render_identity(world.make_identity(5), 2, 32)
    for i, image in enumerate(images):
        fs.pipe(f"{s3_url}/ana/{i}.png", png(image))
    fs.pipe(f"{s3_url}/people.csv", b"id,images,male\nana,ana,1\n")
    manifest = read_manifest(f"{s3_url}/people.csv")  # credentials from the AWS_* environment
    assert [e.identity_id for e in manifest.entries] == ["ana"]
    files = image_reader(f"{s3_url}/people.csv")("ana")
    assert [(n, b) for n, b in files] == [("0.png", png(images[0])), ("1.png", png(images[1]))]
    with pytest.raises(InputError, match="does not exist"):
        image_reader(f"{s3_url}/people.csv")("nobody")


def test_an_identity_image_over_the_size_cap_is_refused_before_any_image_is_read(tmp_path, monkeypatch):
    from tests.w2w_core.test_images import padded_png

    url = write_manifest(tmp_path, "csv")
    write_images(tmp_path, "ana", 1)
    padded_png(tmp_path / "ana" / "3.png", 1536 * 2**20)  # a 64x64 PNG padded to 1.5 GB (sparse)
    read_files = []
    monkeypatch.setattr("fsspec.implementations.local.LocalFileSystem.cat_file",
                        lambda self, path, *a, **k: read_files.append(path) or b"")
    with pytest.raises(InputError, match=r"image ana/3.png is a file of 1,536.0 MB: .* at most 64 MB; refused"):
        image_reader(url)("ana")
    assert read_files == []
