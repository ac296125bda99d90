"""Malformed input for every `w2w` command, and what each must say: one line naming the problem, exit 2.

`CASES` is the table docs/reliability.md shows; `prepare` makes the files the
cases point at (a small store with a space and directions, images, LoRA files,
manifests) and `run_case` runs one case as a user would, in a fresh process.
tests/cli/test_bad_input.py runs them all (through tests/cli/bad_inputs.py);
benchmarks/bad_input_latency.py prints the table with the seconds each took (the
bar: within 2 s for every case that needs no model loaded); scripts/bad_input_table.py
prints the table for the docs.
"""
from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from benchmarks.harness import ROOT as REPO

UNREACHABLE_S3 = "s3://w2w/nowhere"  # with AWS_ENDPOINT_URL at a port nothing listens on


@dataclass(frozen=True)
class Case:
    command: str  # the command group as typed, e.g. "dataset build"
    problem: str  # what is wrong, in the words of the table
    args: tuple[str, ...]  # after the command; {name} fields are filled from `prepare`
    expect: str  # a piece of the one-line message
    env: tuple[tuple[str, str], ...] = ()  # environment variables of this case ({name} fields filled too)
    needs_model: bool = False  # only a loaded base model can tell (so the 2 s bar does not apply)


CASES: tuple[Case, ...] = (
    Case("finetune", "no identity given", ("--out", "{out}"), "no identity given"),
    Case("finetune", "steps not a number", ("--seed", "1", "--steps", "many"), "Invalid value for '--steps'"),
    Case("finetune", "zero steps", ("--seed", "1", "--steps", "0", "--out", "{out}"),
         "steps and images_per_step must be positive"),
    Case("finetune", "negative learning rate", ("--seed", "1", "--learning-rate", "-1", "--out", "{out}"),
         "learning_rate must be positive"),
    Case("finetune", "missing image file", ("--image", "{missing}", "--out", "{out}"), "does not exist"),
    Case("finetune", "a file that is not an image", ("--image", "{text_file}", "--out", "{out}"),
         "not a readable image file"),
    Case("finetune", "an empty folder of images", ("--images", "{empty_dir}", "--out", "{out}"),
         "holds no image files"),
    Case("finetune", "--out is a file", ("--seed", "1", "--out", "{text_file}"), "is a file"),
    Case("finetune", "not a diffusers model folder", ("--seed", "1", "--model", "{empty_dir}", "--out", "{out}"),
         "not a diffusers model folder"),
    Case("generate", "missing LoRA file", ("{missing}.safetensors", "--out", "{out}/g.png"), "does not exist"),
    Case("generate", "a pickle LoRA file", ("{pickle_file}", "--out", "{out}/g.png"), "pickle file"),
    Case("generate", "a corrupt safetensors file", ("{text_file_st}", "--out", "{out}/g.png"),
         "not a readable safetensors"),
    Case("generate", "a LoRA tensor of the wrong shape", ("{wrong_shape_lora}", "--out", "{out}/g.png"), "has shape",
         needs_model=True),
    Case("generate", "zero images", ("--n", "0", "--out", "{out}/g.png"), "--n must be at least 1, got 0"),
    Case("generate", "--n -3", ("--n", "-3", "--out", "{out}/g.png"), "--n must be at least 1, got -3"),
    Case("generate", "not a diffusers model folder", ("--model", "{empty_dir}", "--out", "{out}/g.png"),
         "not a diffusers model folder"),
    Case("dataset build", "neither --n nor a manifest", ("{out}/s",), "say how many identities"),
    Case("dataset build", "zero identities", ("{out}/s", "--n", "0"), "--n must be at least 1, got 0"),
    Case("dataset build", "--n -3", ("{out}/s", "--n", "-3"), "--n must be at least 1, got -3"),
    Case("dataset build", "zero batch size", ("{out}/s", "--n", "4", "--batch-size", "0"),
         "batch_size must be positive"),
    Case("dataset build", "zero AdamW eps", ("{out}/s", "--n", "4", "--adam-eps", "0"), "adam_eps must be positive"),
    Case("dataset build", "unknown dtype", ("{out}/s", "--n", "4", "--dtype", "float64"), "dtype must be one of"),
    Case("dataset build", "zero workers", ("{out}/s", "--n", "4", "--workers", "0"),
         "workers and threads_per_worker >= 1"),
    Case("dataset build", "unknown world split", ("{out}/s", "--n", "4", "--world-split", "test"),
         "unknown world split"),
    Case("dataset build", "missing manifest", ("{out}/s", "--identities", "{missing}.csv"), "no manifest at"),
    Case("dataset build", "manifest without an id column", ("{out}/s", "--identities", "{manifest_no_id}"),
         "no 'id' column"),
    Case("dataset build", "manifest with duplicate ids", ("{out}/s", "--identities", "{manifest_duplicates}"),
         "duplicate id"),
    Case("dataset build", "manifest labels outside {0, 1, -1}", ("{out}/s", "--identities", "{manifest_bad_labels}"),
         "labels outside"),
    Case("dataset build", "manifest of another format", ("{out}/s", "--identities", "{text_file}"),
         "not a .csv, .jsonl or .parquet"),
    Case("dataset build", "unreachable S3 server", (UNREACHABLE_S3, "--n", "4"), "could not reach the object store"),
    Case("dataset status", "missing store", ("{missing}",), "no weight store at"),
    Case("dataset status", "a folder that is not a store", ("{empty_dir}",), "no weight store at"),
    Case("dataset status", "unreachable S3 server", (UNREACHABLE_S3,), "could not reach the object store"),
    Case("dataset status", "S3 without credentials", ("s3://w2w/store",),
         "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY",
         env=(("AWS_ENDPOINT_URL", "{listening_endpoint}"),)),
    Case("space fit", "missing store", ("{missing}", "--k", "4"), "no weight store at"),
    Case("space fit", "k = 0", ("{store}", "--k", "0"), "k must be at least 1"),
    Case("space fit", "k larger than the done rows", ("{store}", "--k", "500"), "done rows"),
    Case("space fit", "unknown PCA method", ("{store}", "--k", "3", "--method", "magic"), "unknown PCA method"),
    Case("space fit", "CuPy on a machine without it", ("{store}", "--k", "3", "--backend", "cupy"), "CuPy"),
    Case("space fit", "unreachable S3 server", (UNREACHABLE_S3, "--k", "4"), "could not reach the object store"),
    Case("space show", "no space fit yet", ("{bare_store}",), "no w2w space at"),
    Case("space show", "unreachable S3 server", (UNREACHABLE_S3,), "could not reach the object store"),
    Case("directions fit", "store without a space", ("{bare_store}",), "no w2w space at"),
    Case("directions fit", "m larger than the space", ("{store}", "--m", "99"), "components"),
    Case("directions fit", "unknown method", ("{store}", "--method", "svm"), "unknown direction method"),
    Case("directions fit", "debias against an unknown attribute", ("{store}", "--debias", "tall"),
         "cannot debias against"),
    Case("edit", "unknown attribute", ("0", "--store", "{store}", "--add", "tall=1", "--out", "{out}"),
         "no direction for attribute 'tall'"),
    Case("edit", "strength NaN", ("0", "--store", "{store}", "--add", "beard=nan", "--out", "{out}"),
         "strength for 'beard'"),
    Case("edit", "absurd strength", ("0", "--store", "{store}", "--add", "beard=1e6", "--out", "{out}"), "within +-20"),
    Case("edit", "malformed edit", ("0", "--store", "{store}", "--add", "beard", "--out", "{out}"),
         "ATTRIBUTE=STRENGTH"),
    Case("edit", "nothing to edit", ("0", "--store", "{store}", "--out", "{out}"), "nothing to edit"),
    Case("edit", "a pickle model file", ("{pickle_file}", "--store", "{store}", "--add", "beard=1", "--out", "{out}"),
         "pickle file"),
    Case("edit", "missing LoRA file", ("{missing}.safetensors", "--store", "{store}", "--add", "beard=1", "--out",
         "{out}"), "does not exist"),
    Case("edit", "a typo in the store path", ("0", "--store", "{missing}", "--add", "beard=1", "--out", "{out}"),
         "no weight store at"),
    Case("edit", "--n -3", ("0", "--store", "{store}", "--add", "beard=1", "--n", "-3", "--out", "{out}"),
         "--n must be at least 1, got -3"),
    Case("edit", "a LoRA file of another base model, without w2w's metadata", ("{alien_lora}", "--store", "{store}",
         "--add",
         "beard=1", "--out", "{out}"), "made for another base model or rank: tensor"),
    Case("edit", "not a diffusers model folder", ("0", "--store", "{store}", "--add", "beard=1", "--model",
         "{empty_dir}", "--out", "{out}"),
         "not a diffusers model folder"),
    Case("edit", "no such model", ("nobody", "--store", "{store}", "--add", "beard=1", "--out", "{out}"),
         "no model 'nobody'"),
    Case("edit", "a LoRA file of another base model", ("{other_base_lora}", "--store", "{store}", "--add", "beard=1",
         "--out", "{out}"), "was trained on other/model"),
    Case("edit", "store without directions", ("0", "--store", "{bare_store}", "--add", "beard=1", "--out", "{out}"),
         "no w2w space at"),
    Case("edit", "unknown LoRA format", ("0", "--store", "{store}", "--add", "beard=1", "--format", "ckpt", "--out",
         "{out}"), "unknown LoRA format"),
    Case("edit", "delayed injection past the schedule", ("0", "--store", "{store}", "--add", "beard=1", "--delay",
         "5000", "--out", "{out}"), "delay_t is a timestep"),
    Case("sample", "zero samples", ("{store}", "--n", "0", "--out", "{out}"), "--n must be at least 1, got 0"),
    Case("sample", "--n -3", ("{store}", "--n", "-3", "--out", "{out}"), "--n must be at least 1, got -3"),
    Case("sample", "negative spread", ("{store}", "--spread", "-1", "--out", "{out}"), "--spread must be >= 0"),
    Case("sample", "a typo in the store path", ("{missing}", "--out", "{out}"), "no weight store at"),
    Case("sample", "unknown method", ("{store}", "--method", "uniform", "--out", "{out}"), "unknown sampling method"),
    Case("sample", "negative contrast", ("{store}", "--method", "attributes", "--contrast", "-1", "--out", "{out}"),
         "contrast must be >= 0"),
    Case("sample", "mixing one training model", ("{store}", "--method", "mix", "--mix", "1", "--out", "{out}"),
         "mix must be >= 2"),
    Case("sample", "store without a space", ("{bare_store}", "--out", "{out}"), "no w2w space at"),
    Case("invert", "missing image file", ("{missing}.png", "--store", "{store}", "--out", "{out}"), "does not exist"),
    Case("invert", "--n -3", ("{image}", "--store", "{store}", "--n", "-3", "--out", "{out}"),
         "--n must be at least 1, got -3"),
    Case("invert", "a file that is not an image", ("{text_file}", "--store", "{store}", "--out", "{out}"),
         "not a readable image file"),
    Case("invert", "an empty image file", ("{empty_file}", "--store", "{store}", "--out", "{out}"),
         "not a readable image file"),
    Case("invert", "a 1-pixel image", ("{one_pixel}", "--store", "{store}", "--out", "{out}"), "too small"),
    Case("invert", "an image bomb (30,000 x 30,000 declared)", ("{bomb}", "--store", "{store}", "--out", "{out}"),
         "too large"),
    Case("invert", "m larger than the space", ("{image}", "--store", "{store}", "--m", "99", "--out", "{out}"),
         "the space has"),
    Case("invert", "a mask of another size", ("{image}", "--store", "{store}", "--mask", "{mask_small}", "--out",
         "{out}"), "of the image's size"),
    Case("invert", "a mask that is not binary", ("{image}", "--store", "{store}", "--mask", "{mask_grey}", "--out",
         "{out}"), "not binary"),
    Case("invert", "store without a space", ("{image}", "--store", "{bare_store}", "--out", "{out}"),
         "no w2w space at"),
    Case("invert", "zero steps", ("{image}", "--store", "{store}", "--steps", "0", "--out", "{out}"),
         "steps and samples_per_step"),
    Case("run", "zero identities", ("--n-identities", "0", "--out", "{out}"), "at least 1 identity"),
    Case("run", "one held-out identity", ("--heldout", "1", "--out", "{out}"), "2 held-out"),
    Case("run", "k = 0", ("--k", "0", "--out", "{out}"), "k must be at least 1"),
    Case("report", "missing store", ("{missing}", "--out", "{out}"), "no weight store at"),
    Case("report", "store without a space", ("{bare_store}", "--out", "{out}"), "no w2w space at"),
    Case("report", "unreachable S3 server", (UNREACHABLE_S3, "--out", "{out}"), "could not reach the object store"),
    Case("zoo build", "zero workers", ("--workers", "0", "--out", "{out}"), "workers and threads_per_worker >= 1"),
    Case("s3 serve", "no credentials in the environment", ("--dir", "{out}",), "set AWS_ACCESS_KEY_ID"),
    Case("s3 check", "unreachable S3 server", (UNREACHABLE_S3,), "could not reach the object store"),
    Case("base train", "--out a folder holding other things", ("--out", "{notes_dir}"),
         "holds something other than a model"),
)


HEAVY = ("torch", "diffusers", "transformers", "prefect")  # 10-20 s to load: never before an input is checked


def run_case(case: Case, paths: dict[str, str], out: Path, without_heavy: bool = False) -> subprocess.CompletedProcess:
    """The case as a user runs it: `w2w <command> <args>` in a fresh process, without S3 credentials.
    `without_heavy`: importing torch, diffusers, transformers or Prefect fails in that process, so a case
    whose check comes only after one of them loads gives another message (and its test fails)."""
    args = [a.format(out=out, **paths) for a in case.args]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_API"))}
    path = [str(_heavy_blocker(out.parent / "heavy-blocker"))] if without_heavy else []
    env.update(AWS_ENDPOINT_URL="http://127.0.0.1:9", PYTHONPATH=os.pathsep.join([*path, str(REPO)]),
               OMP_NUM_THREADS="1", PREFECT_SERVER_ANALYTICS_ENABLED="false",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)  # this user's ~/.aws: not read
    env.update({name: value.format(**paths) for name, value in case.env})
    if case.command == "s3 check":
        env.update(AWS_ACCESS_KEY_ID="kid", AWS_SECRET_ACCESS_KEY="not-a-secret")
    command = [sys.executable, "-c", "from cli.main import main; main()", *case.command.split(), *args]
    return subprocess.run(command, cwd=out.parent, env=env, capture_output=True, text=True, timeout=300)


def _heavy_blocker(folder: Path) -> Path:
    """A folder of packages named like the heavy libraries whose import raises, to put first on sys.path."""
    for name in HEAVY:
        (folder / name).mkdir(parents=True, exist_ok=True)
        (folder / name / "__init__.py").write_text(
            f"raise ImportError('{name} was imported before the input was checked')\n")
    return folder


def error_lines(result: subprocess.CompletedProcess) -> list[str]:
    """The lines a user reads: everything printed, without Prefect's own INFO chatter."""
    lines = (result.stdout + result.stderr).splitlines()
    return [line for line in lines if line.strip() and "| INFO " not in line and not line.startswith("See https://www.prefect.io")]


def prepare(folder: Path, model_dir: Path) -> dict[str, str]:
    """The files the cases point at, made without Prefect (a store with a space and directions, one without)."""
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import save_file

    from storage.directions_store import save_directions
    from storage.space_store import save_space
    from tasks.config import DatasetConfig
    from tasks.dataset import prepare_store
    from tasks.directions import fit_directions_from_store
    from tasks.space import fit_space_from_store
    from tasks.training import train_batch
    from w2w_core.base_model import load_base_model
    from w2w_core.directions import DirectionsConfig
    from w2w_core.finetune.config import FinetuneConfig
    from w2w_core.lora.adapter import layout_for
    from w2w_core.lora.files import export_lora_file
    from w2w_core.lora.layout import LoraLayout, LoraSpec
    from w2w_core.pca import PCAConfig

    folder.mkdir(parents=True, exist_ok=True)
    paths = {name: str(folder / name) for name in ("store", "bare_store")}
    config = DatasetConfig(finetune=FinetuneConfig(steps=2), base_model=str(model_dir), images_per_identity=4,
                           batch_size=6)
    for name, n in (("store", 12), ("bare_store", 6)):
        store, _ = prepare_store(paths[name], n, config)
        for rows in store.batches():
            train_batch(paths[name], list(rows), config, log=lambda _: None)
    save_space(fit_space_from_store(paths["store"], PCAConfig(k=6), log=lambda _: None), paths["store"])
    save_directions(fit_directions_from_store(paths["store"], DirectionsConfig(m=4)), paths["store"])
    files = {"missing": folder / "missing", "text_file": folder / "notes.txt",
             "text_file_st": folder / "garbage.safetensors", "empty_dir": folder / "empty",
             "pickle_file": folder / "lora.bin", "empty_file": folder / "empty.png",
             "one_pixel": folder / "pixel.png", "bomb": folder / "bomb.png", "image": folder / "face.png",
             "mask_small": folder / "mask16.png", "mask_grey": folder / "grey.png", "notes_dir": folder / "notes"}
    files["text_file"].write_text("just some text")
    files["text_file_st"].write_bytes(b"not a safetensors header")
    files["empty_dir"].mkdir(exist_ok=True)
    files["pickle_file"].write_bytes(b"\x80\x04K\x01.")
    files["empty_file"].write_bytes(b"")
    Image.new("RGB", (1, 1)).save(files["one_pixel"])
    files["bomb"].write_bytes(png_declaring(30_000, 30_000))
    Image.new("RGB", (32, 32), (120, 90, 80)).save(files["image"])
    Image.new("L", (16, 16), 255).save(files["mask_small"])
    Image.new("L", (32, 32), 128).save(files["mask_grey"])
    files["notes_dir"].mkdir(exist_ok=True)
    (files["notes_dir"] / "mine.txt").write_text("keep me")
    base = load_base_model()
    layout = layout_for(base.pipe.unet, LoraSpec(), base.model_id, base.model_hash)
    wrong = {"unet." + k: torch.zeros(s) for k, s in zip(layout.keys, layout.shapes)}
    wrong["unet." + layout.keys[0]] = torch.zeros(1, layout.shapes[0][1] + 1)
    save_file(wrong, folder / "wrong-shape.safetensors")
    from storage.weight_store import WeightStore

    mine = LoraLayout.from_dict(WeightStore.open(paths["store"], read_only=True).layout)
    other = LoraLayout(mine.keys, mine.shapes, mine.spec, "other/model", "0123456789abcdef")
    export_lora_file(np.zeros(other.n_params, np.float32), other, folder / "other-base.safetensors")
    # a LoRA of another base model written by another tool: no w2w metadata, half the tensors, one wider
    alien = {"unet." + k: torch.zeros(s) for k, s in list(zip(mine.keys, mine.shapes))[: len(mine.keys) // 2]}
    alien["unet." + mine.keys[0]] = torch.zeros(mine.shapes[0][0], 2 * mine.shapes[0][1])
    save_file(alien, folder / "alien.safetensors")
    manifests = {"manifest_no_id": "name,images\na,x\n", "manifest_duplicates": "id,images\na,x\na,y\n",
                 "manifest_bad_labels": "id,images,male\na,x,2\n"}
    for name, text in manifests.items():
        (folder / f"{name}.csv").write_text(text)
        paths[name] = str(folder / f"{name}.csv")
    paths.update({name: str(path) for name, path in files.items()})
    paths.update(wrong_shape_lora=str(folder / "wrong-shape.safetensors"),
                 other_base_lora=str(folder / "other-base.safetensors"), alien_lora=str(folder / "alien.safetensors"),
                 listening_endpoint=listening_endpoint())
    return paths


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares width x height pixels (an image bomb's header)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 16))
            + chunk(b"IEND", b""))


_LISTENERS: list[socket.socket] = []  # kept open while the cases run


def listening_endpoint() -> str:
    """An http:// endpoint that takes connections and never answers: a request that gets as far as being
    sent would hang, so a case that uses it shows that its error came before any request."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    _LISTENERS.append(listener)
    return f"http://127.0.0.1:{listener.getsockname()[1]}"
