"""Weight datasets from one's own images: a manifest of labelled folders, local and on the S3 server."""
from __future__ import annotations

import numpy as np
import pytest
import s3fs
import xarray as xr
from PIL import Image
from typer.testing import CliRunner

from cli.main import app as w2w
from storage import format as fmt
from storage.weight_store import WeightStore
from tests.flows.dataset_support import build, dataset_config, store_rows
from tests.w2w_core.test_identities import png
from w2w_core import world

pytestmark = pytest.mark.integration  # a temporary Prefect server, and the S3 server

NAMES = ["ada", "ben", "cy", "dee", "eve"]


def world_manifest(n: int, images_per_identity: int) -> tuple[str, dict[str, bytes]]:
    """The first n train identities of the world as a manifest: CSV text and {path: PNG bytes}."""
    lines = [",".join(["id", "images", *world.ATTRIBUTES])]
    files = {}
    for name, seed in zip(NAMES, world.train_seeds(n)):
        identity = world.make_identity(seed)
        labels = world.attribute_vector(identity).astype(int)
        lines.append(",".join([name, f"people/{name}", *map(str, labels * 2 - 1)]))  # CelebA's -1 / 1
        for i, image in enumerate(world.render_identity(identity, images_per_identity, 32)):
            files[f"people/{name}/{i:02d}.png"] = png(image)
    return "\n".join(lines) + "\n", files


def write_local(folder, text: str, files: dict[str, bytes]) -> str:
    for path, data in files.items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    (folder / "people.csv").write_text(text)
    return str(folder / "people.csv")


def test_a_manifest_of_world_renders_gives_the_world_paths_models(tmp_path, tiny_model_dir, prefect_api):
    world_config = dataset_config(tiny_model_dir)
    build(str(tmp_path / "world.zarr"), 4, 2, world_config)
    manifest = write_local(tmp_path, *world_manifest(4, world_config.images_per_identity))
    summary = build(str(tmp_path / "mine.zarr"), None, 2, dataset_config(tiny_model_dir, manifest=manifest))
    assert summary["identities"] == 4 and summary["done"] == 4  # every row of the manifest
    mine, theirs = store_rows(str(tmp_path / "mine.zarr")), store_rows(str(tmp_path / "world.zarr"))
    np.testing.assert_array_equal(mine["vectors"], theirs["vectors"])  # same images, same seeds: same models
    np.testing.assert_array_equal(mine["attributes"], theirs["attributes"])
    assert mine["ids"].tolist() == NAMES[:4] and (mine["seeds"] == -1).all()
    ds = xr.open_zarr(str(tmp_path / "mine.zarr"), consolidated=False)
    assert ds.identity.values.tolist() == NAMES[:4] and int(ds.status.sel(identity="cy")) == fmt.DONE


def test_a_manifest_on_the_s3_server(s3_url, s3_env, s3_storage_options, tmp_path, tiny_model_dir, prefect_api):
    config = dataset_config(tiny_model_dir)
    build(str(tmp_path / "world.zarr"), 4, 2, config)
    text, files = world_manifest(4, config.images_per_identity)
    fs = s3fs.S3FileSystem(**s3_storage_options)
    for path, data in files.items():
        fs.pipe(f"{s3_url}/{path}", data)
    fs.pipe(f"{s3_url}/people.csv", text.encode())
    summary = build(f"{s3_url}/store", None, 2, dataset_config(tiny_model_dir, manifest=f"{s3_url}/people.csv"))
    assert summary["done"] == 4
    np.testing.assert_array_equal(store_rows(f"{s3_url}/store")["vectors"],
                                  store_rows(str(tmp_path / "world.zarr"))["vectors"])


def test_identities_whose_images_fail_are_marked_failed_and_the_rest_train(tmp_path, tiny_model_dir, prefect_api):
    text, files = world_manifest(5, 3)
    files = {p: d for p, d in files.items() if not p.startswith(("people/ben/", "people/eve/"))}
    files["people/cy/01.png"] = files["people/cy/01.png"][:-40]  # cy: one truncated image
    big = Image.fromarray(np.full((48, 48, 3), 90, np.uint8))  # dee: images of two sizes (resized, warned)
    big.save(tmp_path / "big.png")
    files["people/dee/99.png"] = (tmp_path / "big.png").read_bytes()
    manifest = write_local(tmp_path, text, files)  # ben: no folder at all
    (tmp_path / "people" / "eve").mkdir()  # eve: an empty folder
    url = str(tmp_path / "w.zarr")
    state = build(url, None, 5, dataset_config(tiny_model_dir, manifest=manifest), return_state=True)
    assert state.is_failed() and "3 failed" in state.message
    store = WeightStore.open(url, read_only=True)
    assert store.status().tolist() == [fmt.DONE, fmt.FAILED, fmt.FAILED, fmt.DONE, fmt.FAILED]
    reasons = {identity: reason for _, identity, reason in store.failures()}
    assert reasons["ben"] == "InputError: images folder 'people/ben' does not exist"
    assert reasons["cy"].startswith("InputError: image 01.png is not a readable image file: ")
    assert reasons["eve"] == "InputError: identity 'eve': no images in people/eve"
    assert store.verify().ok


def test_bad_manifests_are_refused_before_anything_is_trained_or_written(tmp_path, tiny_model_dir, prefect_api):
    text, files = world_manifest(2, 2)
    manifest = write_local(tmp_path, text.replace("ben,", "ada,"), files)  # a duplicate id
    runner, url = CliRunner(), str(tmp_path / "w.zarr")
    args = ["dataset", "build", url, "--identities", manifest, "--model", str(tiny_model_dir), "--steps", "2",
            "--no-progress", "--workers", "1"]
    duplicate = runner.invoke(w2w, args)
    assert duplicate.exit_code == 2 and "row 2: duplicate id 'ada' (first in row 1)" in duplicate.output
    assert not (tmp_path / "w.zarr").exists()  # nothing written
    write_local(tmp_path, text.replace("ada,people/ada,", "ada,people/ada,7,"), files)
    assert "labels outside {0, 1, -1}" in runner.invoke(w2w, args).output


def test_a_manifest_with_other_attributes_than_the_store_is_refused(tmp_path, tiny_model_dir, prefect_api):
    text, files = world_manifest(2, 2)
    manifest = write_local(tmp_path, text, files)
    url, config = str(tmp_path / "w.zarr"), dataset_config(tiny_model_dir, manifest=manifest)
    build(url, None, 2, config)
    write_local(tmp_path, text.replace(",smiling,", ",grinning,"), files)
    state = build(url, None, 2, config, return_state=True)
    assert state.is_failed() and "has attributes" in state.message and "grinning" in state.message
