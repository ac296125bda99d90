"""The one-identity commands as a user types them: w2w finetune, w2w generate."""
import json
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from typer.testing import CliRunner

from cli.main import app
from w2w_core.lora.files import import_lora_file
from w2w_core.lora.layout import LoraLayout

runner = CliRunner()


def test_finetune_then_generate_from_the_lora_file(tmp_path):
    result = runner.invoke(app, ["finetune", "--seed", "7", "--steps", "2", "--out", str(tmp_path / "id7")])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    layout = LoraLayout.from_json((tmp_path / "id7/layout.json").read_text())
    theta = np.load(tmp_path / "id7/theta.npy")
    assert summary["seed-7"]["n_params"] == layout.n_params == theta.size and summary["seed-7"]["steps"] == 2
    assert np.array_equal(import_lora_file(tmp_path / "id7/lora.safetensors", layout), theta)
    grid = tmp_path / "grid.png"
    result = runner.invoke(app, ["generate", str(tmp_path / "id7/lora.safetensors"), "--n", "2", "--out", str(grid)])
    assert result.exit_code == 0, result.output
    assert Image.open(grid).size == ((2 * 33 + 1) * 4, 33 * 4 + 4)


def test_several_identities_train_as_one_batch_into_their_own_folders(tmp_path):
    from w2w_core import world

    folder = tmp_path / "dog-1"
    folder.mkdir()
    for i, image in enumerate(world.render_identity(world.make_identity(11), 3, 32)):
        Image.fromarray(image).save(folder / f"{i}.png")
    out = tmp_path / "many"
    result = runner.invoke(app, ["finetune", "--seed", "7", "--seed", "8", "--images", str(folder), "--steps", "2",
                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output[result.output.index("{"):])
    assert summary["identities"] == 3 and summary["failed"] == {}
    thetas = [np.load(out / name / "theta.npy") for name in ("seed-7", "seed-8", "dog-1")]
    assert len({t.tobytes() for t in thetas}) == 3


def test_finetune_from_image_files(tmp_path):
    from w2w_core import world

    for i, image in enumerate(world.render_identity(world.make_identity(11), 3, 32)):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    args = ["finetune", "--steps", "1", "--out", str(tmp_path / "out")]
    args += [a for i in range(3) for a in ("--image", str(tmp_path / f"{i}.png"))]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out/lora.safetensors").is_file()


def test_bad_input_gives_a_message_not_a_traceback(tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    on_a_file = runner.invoke(app, ["finetune", "--seed", "1", "--out", str(tmp_path / "a-file")])
    assert on_a_file.exit_code == 2 and "is a file" in on_a_file.output  # refused before any training
    empty = tmp_path / "empty"
    empty.mkdir()
    no_images = runner.invoke(app, ["finetune", "--images", str(empty), "--out", str(tmp_path / "x")])
    assert no_images.exit_code == 2 and "holds no image files" in no_images.output
    nothing = runner.invoke(app, ["finetune", "--out", str(tmp_path / "x")])
    assert nothing.exit_code == 2 and "no identity given" in nothing.output
    missing = runner.invoke(app, ["finetune", "--image", str(tmp_path / "nope.png"), "--out", str(tmp_path / "x")])
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert not (tmp_path / "x").exists()  # nothing half-written
    alien = tmp_path / "alien.safetensors"
    save_file({"unet.down_blocks.9.attn.to_q.lora_A.weight": torch.zeros(1, 5),
               "unet.down_blocks.9.attn.to_q.lora_B.weight": torch.zeros(5, 1)}, alien)
    wrong = runner.invoke(app, ["generate", str(alien), "--out", str(tmp_path / "g.png")])
    assert wrong.exit_code == 2 and "does not fit" in wrong.output
    assert not (tmp_path / "g.png").exists()


def test_generate_names_the_tensor_of_a_lora_file_that_does_not_fit(tmp_path):
    from w2w_core.base_model import load_base_model
    from w2w_core.lora.adapter import layout_for
    from w2w_core.lora.layout import LoraSpec

    base = load_base_model()
    layout = layout_for(base.pipe.unet, LoraSpec(), base.model_id, base.model_hash)
    tensors = {"unet." + k: torch.zeros(s) for k, s in zip(layout.keys, layout.shapes)}
    wrong = "unet." + layout.keys[2]
    tensors[wrong] = torch.zeros(1, layout.shapes[2][1] + 3)  # a valid file whose one factor has the wrong width
    save_file(tensors, tmp_path / "wrong.safetensors")
    result = runner.invoke(app, ["generate", str(tmp_path / "wrong.safetensors"), "--out", str(tmp_path / "g.png")])
    assert result.exit_code == 2 and layout.keys[2] in result.output and "shape" in result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) <= 3
    pickled = tmp_path / "lora.bin"
    pickled.write_bytes(b"\x80\x04")
    refused = runner.invoke(app, ["generate", str(pickled)])
    assert refused.exit_code == 2 and "pickle file" in refused.output


def test_base_train_never_writes_over_the_shipped_model_by_default(tmp_path, monkeypatch):
    import w2w_core.base_training as training

    written = []
    monkeypatch.setattr(training, "train_base_model", lambda config, out: written.append(out) or {"out": str(out)})
    monkeypatch.chdir(tmp_path)
    assert runner.invoke(app, ["base", "train"]).exit_code == 0
    assert written == [Path("w2w-out/tiny_sd")]
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("mine")
    refused = runner.invoke(app, ["base", "train", "--out", str(tmp_path / "notes")])
    assert refused.exit_code == 2 and "holds something other than a model" in refused.output
