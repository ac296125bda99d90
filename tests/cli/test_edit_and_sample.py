"""`w2w directions fit`, `w2w edit`, `w2w sample` on a small store of the untrained tiny model (mechanics, not
quality)."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cli.main import app as w2w
from storage.directions_store import load_directions
from storage.space_store import load_space
from storage.weight_store import WeightStore
from tests.flows.dataset_support import build, dataset_config
from w2w_core.lora.files import import_lora_file
from w2w_core.lora.layout import LoraLayout

pytestmark = pytest.mark.integration  # Prefect flows (a temporary API)
runner = CliRunner()


def _json(output: str) -> dict:
    return json.loads(output[output.index("{"): output.rindex("}") + 1])


@pytest.fixture(scope="module")
def store(tmp_path_factory, tiny_model_dir, prefect_api):
    url = str(tmp_path_factory.mktemp("apps") / "store")
    build(url, 24, 8, dataset_config(tiny_model_dir, steps=3))
    fitted = runner.invoke(w2w, ["space", "fit", url, "--k", "6"])
    assert fitted.exit_code == 0, fitted.output
    directions = runner.invoke(w2w, ["directions", "fit", url, "--m", "4", "--debias", "male"])
    assert directions.exit_code == 0, directions.output
    return url


def test_directions_are_saved_beside_the_space(store):
    directions, space = load_directions(store), load_space(store)
    assert directions.m == 4 and directions.debias == ("male",) and directions.vectors.shape[1] == 4
    assert "beard" in directions.names and space.k == 6


def test_edit_a_store_row_writes_loadable_lora_files_and_a_picture(store, tmp_path, tiny_model_dir):
    out = tmp_path / "edit"
    result = runner.invoke(w2w, ["edit", "3", "--store", store, "--add", "beard=1", "--add", "young=-0.5",
                                 "--sweep", "smiling=-1,0,1", "--out", str(out), "--model", str(tiny_model_dir),
                                 "--n", "2"])
    assert result.exit_code == 0, result.output
    summary = _json(result.output)
    assert len(summary["files"]) == 4 and Image.open(summary["grid"]).format == "PNG"
    assert summary["strength_1"] == "1: as far as the farthest training model"  # a store of another base model: raw
    layout = LoraLayout.from_dict(WeightStore.open(store, read_only=True).layout)
    row = WeightStore.open(store, read_only=True).read_row(3)
    zero = import_lora_file(summary["files"]["smiling +0"], layout)
    np.testing.assert_array_equal(zero, row)  # strength 0: the same weights
    assert not np.array_equal(import_lora_file(summary["files"]["beard +1, young -0.5"], layout), row)
    kohya = runner.invoke(w2w, ["edit", summary["files"]["smiling +0"], "--store", store, "--add", "beard=0",
                                "--format", "kohya", "--delay", "700", "--out", str(tmp_path / "k"),
                                "--model", str(tiny_model_dir), "--n", "1"])
    assert kohya.exit_code == 0, kohya.output
    np.testing.assert_array_equal(import_lora_file(_json(kohya.output)["files"]["beard +0"], layout), row)


def test_sample_writes_new_models_beside_their_nearest_training_identities(store, tmp_path, tiny_model_dir):
    result = runner.invoke(w2w, ["sample", store, "--n", "3", "--method", "gaussian", "--out", str(tmp_path / "s"),
                                 "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    summary = _json(result.output)
    assert len(summary["files"]) == 3 and len(summary["nearest"]) == 3
    assert all(-1 <= n["coefficient_cosine"] <= 1 and n["identity"].startswith("world-") for n in summary["nearest"])
    conditioned = runner.invoke(w2w, ["sample", store, "--n", "3", "--method", "attributes", "--contrast", "3",
                                      "--out", str(tmp_path / "a"), "--model", str(tiny_model_dir)])
    assert conditioned.exit_code == 0, conditioned.output
    mixed = runner.invoke(w2w, ["sample", store, "--n", "3", "--method", "mix", "--out", str(tmp_path / "x"),
                                "--model", str(tiny_model_dir)])
    assert mixed.exit_code == 0, mixed.output
    layout = LoraLayout.from_dict(WeightStore.open(store, read_only=True).layout)
    paper, drawn, mix = (import_lora_file(_json(r.output)["files"][0], layout) for r in (result, conditioned, mixed))
    assert np.all(np.isfinite(drawn)) and not np.allclose(paper, drawn)
    assert np.all(np.isfinite(mix)) and not np.allclose(mix, drawn) and not np.allclose(mix, paper)
    default = runner.invoke(w2w, ["sample", store, "--n", "3", "--out", str(tmp_path / "d"),
                                  "--model", str(tiny_model_dir)])
    assert default.exit_code == 0, default.output  # the default sampler: attributes at contrast 3
    np.testing.assert_array_equal(import_lora_file(_json(default.output)["files"][0], layout), drawn)


@pytest.mark.parametrize("args, message", [
    (["edit", "3", "--add", "bearded=1"], "no direction for attribute 'bearded'"),
    (["edit", "3", "--add", "beard=nan"], "strength for 'beard'"),
    (["edit", "3", "--add", "beard=500"], "within +-20"),
    (["edit", "3", "--add", "beard"], "ATTRIBUTE=STRENGTH"),
    (["edit", "3"], "nothing to edit"),
    (["edit", "model.bin", "--add", "beard=1"], "pickle file"),
    (["edit", "no-such-identity", "--add", "beard=1"], "no model 'no-such-identity'"),
    (["directions", "fit", "--m", "99"], "the space has 6"),
])
def test_bad_input_is_one_clear_line(store, args, message, tmp_path):
    full = args[:2] + (["--store", store, "--out", str(tmp_path / "x")] if args[0] == "edit" else [store]) + args[2:]
    result = runner.invoke(w2w, full)
    assert result.exit_code == 2 and message in result.output, result.output
    assert "Traceback" not in result.output and not (tmp_path / "x").exists()


def test_edit_refuses_a_store_without_directions(tmp_path, tiny_model_dir, prefect_api):
    url = str(tmp_path / "bare")
    build(url, 4, 4, dataset_config(tiny_model_dir, steps=2))
    result = runner.invoke(w2w, ["edit", "0", "--store", url, "--add", "beard=1"])
    assert result.exit_code == 2 and "no w2w space at" in result.output


def test_the_applications_on_an_s3_store(s3_url, s3_env, tmp_path, tiny_model_dir, prefect_api):
    from tests.w2w_core.test_identities import png
    from w2w_core import world

    build(s3_url, 12, 4, dataset_config(tiny_model_dir, steps=2))
    for args in (["space", "fit", s3_url, "--k", "5"], ["directions", "fit", s3_url, "--m", "3"]):
        result = runner.invoke(w2w, args)
        assert result.exit_code == 0, result.output
    model = ["--model", str(tiny_model_dir)]
    edited = runner.invoke(w2w, ["edit", "world-1", "--store", s3_url, "--add", "glasses=1",
                                 "--out", str(tmp_path / "e"), "--n", "1", *model])
    assert edited.exit_code == 0, edited.output
    sampled = runner.invoke(w2w, ["sample", s3_url, "--n", "2", "--out", str(tmp_path / "s"), *model])
    assert sampled.exit_code == 0, sampled.output
    image = tmp_path / "face.png"
    image.write_bytes(png(world.render_identity(world.make_identity(9), 1, 32)[0]))
    inverted = runner.invoke(w2w, ["invert", str(image), "--store", s3_url, "--steps", "3",
                                   "--out", str(tmp_path / "i"), *model])
    assert inverted.exit_code == 0, inverted.output
    assert (tmp_path / "i" / "face.safetensors").is_file() and (tmp_path / "i" / "face.coefficients.json").is_file()
    inverted_model = str(tmp_path / "i" / "face.safetensors")  # an inverted model is an identity model like any other
    edited = runner.invoke(w2w, ["edit", inverted_model, "--store", s3_url, "--add", "glasses=1",
                                 "--out", str(tmp_path / "ie"), "--n", "1", *model])
    assert edited.exit_code == 0 and (tmp_path / "ie" / "edit.png").is_file(), edited.output
    generated = runner.invoke(w2w, ["generate", inverted_model, "--n", "1", "--out", str(tmp_path / "g.png"), *model])
    assert generated.exit_code == 0 and (tmp_path / "g.png").is_file(), generated.output


@pytest.mark.parametrize("make, extra, message", [
    (lambda p: p.write_text("not an image"), [], "not a readable image file"),
    (lambda p: p.write_bytes(b""), [], "not a readable image file"),
    (lambda p: Image.new("RGB", (1, 1)).save(p), [], "too small"),
    (lambda p: Image.new("RGB", (32, 32)).save(p), ["--m", "99"], "the space has 6"),
    (lambda p: Image.new("RGB", (32, 32)).save(p), ["--mask", "MASK_OTHER_SIZE"], "give a mask of the image's size"),
    (lambda p: Image.new("RGB", (32, 32)).save(p), ["--mask", "MASK_GREY"], "not binary"),
    (lambda p: Image.new("RGB", (32, 32)).save(p), ["--prior-weight", "-1"], "prior_weight must be >= 0"),
])
def test_invert_refuses_bad_input_before_any_model_loads(store, tmp_path, make, extra, message, monkeypatch):
    import w2w_core.base_model

    image = tmp_path / "in.png"
    make(image)
    Image.new("L", (16, 16), 255).save(tmp_path / "other.png")
    Image.new("L", (32, 32), 128).save(tmp_path / "grey.png")
    named = {"MASK_OTHER_SIZE": str(tmp_path / "other.png"), "MASK_GREY": str(tmp_path / "grey.png")}
    extra = [named.get(a, a) for a in extra]
    monkeypatch.setattr(w2w_core.base_model, "load_base_model", lambda *a: pytest.fail("a model was loaded"))
    result = runner.invoke(w2w, ["invert", str(image), "--store", store, "--out", str(tmp_path / "o"), *extra])
    assert result.exit_code == 2 and message in result.output, result.output
    assert not (tmp_path / "o").exists()


def test_invert_writes_a_picture_of_each_input_beside_its_models_images(store, tmp_path, tiny_model_dir):
    """Like edit.png and samples.png: one row per input image, the input first, then --n generated images;
    the summary names the file."""
    from tests.w2w_core.test_identities import png
    from w2w_core import world

    images = []
    for seed in (3, 9):
        images.append(tmp_path / f"face{seed}.png")
        images[-1].write_bytes(png(world.render_identity(world.make_identity(seed), 1, 32)[0]))
    out = tmp_path / "i"
    result = runner.invoke(w2w, ["invert", *map(str, images), "--store", store, "--steps", "2", "--n", "3",
                                 "--out", str(out), "--model", str(tiny_model_dir)])
    assert result.exit_code == 0, result.output
    summary = _json(result.output)
    assert summary["grid"] == str(out / "invert.png") and sorted(summary["models"]) == ["face3", "face9"]
    grid = Image.open(summary["grid"])
    assert grid.format == "PNG" and grid.width > 1.5 * grid.height  # 4 columns (the input, 3 images) by 2 rows
    pixels = np.asarray(grid.convert("RGB"))
    for row, image in enumerate(images):  # each input's background colour: in the first column, in its own row
        background = np.asarray(Image.open(image).convert("RGB"))[0, 0]
        ys, xs = np.nonzero((pixels == background).all(-1))
        assert len(xs) > 100, (row, len(xs))
        assert np.quantile(xs, 0.95) < 0.3 * grid.width
        assert (np.median(ys) < grid.height / 2) == (row == 0)


def test_invert_refuses_a_store_without_a_space(tmp_path, tiny_model_dir, prefect_api):
    url = str(tmp_path / "bare")
    build(url, 4, 4, dataset_config(tiny_model_dir, steps=2))
    Image.new("RGB", (32, 32)).save(tmp_path / "in.png")
    result = runner.invoke(w2w, ["invert", str(tmp_path / "in.png"), "--store", url])
    assert result.exit_code == 2 and "no w2w space at" in result.output
