"""Every command of the README's table, run as its example says, with its default store.

The table is read from README.md, so a command added there without an example
here fails `test_every_readme_command_has_an_example`. Each example runs the
real `w2w` in a subprocess; only the step counts are lowered where the README's
command takes a `--steps` (training identities for real is tested elsewhere).
`w2w run` has its own test (tests/flows/test_run_report.py), as does retraining
the base model (tests/w2w_core/test_base_training.py, a tiny config): both are
named here so the mapping stays complete.
"""
from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from w2w_core import world

ROOT = Path(__file__).resolve().parents[2]
FEW_STEPS = "5"  # fine-tune steps where the README's example trains (CI may use fewer steps)
COVERED_ELSEWHERE = {
    "w2w run": "tests/flows/test_run_report.py (the real w2w run and its report)",
    "w2w base train [--out DIR]": "tests/w2w_core/test_base_training.py and tests/cli/test_identity.py",
    "w2w finetune --model /path/to/stable-diffusion-v1-5 ...":
        "tests/w2w_core/test_base_model.py (an SD-shaped folder)",
}


def readme_commands() -> list[str]:
    """The first cell of every row of the README's Commands table."""
    text = (ROOT / "README.md").read_text()
    table = text.split("## Commands", 1)[1].split("\n\n", 2)[1]
    return [re.match(r"\| `([^`]+)`", line).group(1) for line in table.splitlines() if line.startswith("| `")]


def w2w(*args: str, cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    done = subprocess.run([sys.executable, "-c", "from cli.main import main; main()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"w2w {' '.join(args)}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def summary(done: subprocess.CompletedProcess) -> dict:
    return json.loads(done.stdout[done.stdout.index("{"):])


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user's folder with a few images of one identity (a.png, b.png and dogs/rex/) and a manifest."""
    folder = tmp_path_factory.mktemp("readme")
    rex = folder / "dogs" / "rex"
    rex.mkdir(parents=True)
    for i, image in enumerate(world.render_identity(world.make_identity(11), 3, 32)):
        Image.fromarray(image).save(rex / f"{i}.png")
    for name, image in zip("ab", world.render_identity(world.make_identity(12), 2, 32)):
        Image.fromarray(image).save(folder / f"{name}.png")
    Image.fromarray(world.render_identity(world.make_identity(13), 1, 32)[0]).save(folder / "photo.png")
    with open(folder / "people.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "images", "beard"])
        writer.writerow(["rex", "dogs/rex", 0])
        writer.writerow(["ann", "ann", 1])
    (folder / "ann").mkdir()
    for i, image in enumerate(world.render_identity(world.make_identity(14), 3, 32)):
        Image.fromarray(image).save(folder / "ann" / f"{i}.png")
    return folder


def test_every_readme_command_has_an_example():
    commands = readme_commands()
    assert len(commands) >= 18
    missing = [c for c in commands if c not in EXAMPLES and c not in COVERED_ELSEWHERE]
    assert not missing, f"README commands without an example in this test: {missing}"


def _finetune_seed(work: Path) -> None:
    w2w("finetune", "--seed", "7", "--out", "DIR", "--steps", FEW_STEPS, cwd=work)
    assert {p.name for p in (work / "DIR").iterdir()} >= {"lora.safetensors", "theta.npy", "layout.json"}


def _finetune_images(work: Path) -> None:
    w2w("finetune", "--image", "a.png", "--image", "b.png", "--out", "DIR2", "--steps", FEW_STEPS, cwd=work)
    assert (work / "DIR2" / "lora.safetensors").is_file()


def _finetune_batch(work: Path) -> None:
    w2w("finetune", "--seed", "7", "--seed", "8", "--images", "dogs/rex", "--out", "DIR3", "--steps", FEW_STEPS,
        cwd=work)
    assert all((work / "DIR3" / name / "lora.safetensors").is_file() for name in ("seed-7", "seed-8", "rex"))


def _generate(work: Path) -> None:
    if not (work / "DIR" / "lora.safetensors").is_file():
        _finetune_seed(work)
    w2w("generate", "DIR/lora.safetensors", "--prompt", "a photo of sks person", "--out", "grid.png", cwd=work)
    assert Image.open(work / "grid.png").size[0] > 32


def _store(work: Path) -> str:
    """A small world store (the README's URL), built once by `w2w dataset build`, with a space and directions."""
    if not (work / "store" / "directions").exists():
        w2w("dataset", "build", "store", "--n", "6", "--batch-size", "3", "--steps", FEW_STEPS, "--no-progress",
            cwd=work)
        w2w("space", "fit", "store", cwd=work)  # the default k: N - 1 = 5 of 6 models
        w2w("directions", "fit", "store", "--no-calibrate", cwd=work)
    return "store"


def _dataset_build(work: Path) -> None:
    assert summary(w2w("dataset", "build", "built", "--n", "2", "--batch-size", "2", "--steps", FEW_STEPS,
                       "--no-progress", cwd=work))["done"] == 2


def _dataset_manifest(work: Path) -> None:
    done = w2w("dataset", "build", "mine", "--identities", "people.csv", "--steps", FEW_STEPS, "--no-progress",
               cwd=work)
    assert summary(done)["done"] == 2


def _dataset_status(work: Path) -> None:
    assert "done 6  failed 0  pending 0" in w2w("dataset", "status", _store(work), "--verify", cwd=work).stdout


def _space(work: Path) -> None:
    _store(work)
    w2w("space", "show", "store", "--plot", "space.png", cwd=work)
    w2w("space", "show", cwd=work)  # the default store: the shipped zoo
    assert (work / "space.png").is_file() and (work / "w2w-out" / "space.png").is_file()


def _directions(work: Path) -> None:
    w2w("directions", "fit", _store(work), "--no-calibrate", cwd=work)
    assert (work / "store" / "directions" / "zarr.json").is_file()


def _sample(work: Path) -> None:
    w2w("sample", "--n", "8", "--out", "samples", cwd=work)  # the default store: the shipped zoo
    assert len(list((work / "samples").glob("*.safetensors"))) == 8 and (work / "samples" / "samples.png").is_file()


def _edit(work: Path) -> None:
    if not (work / "DIR" / "lora.safetensors").is_file():
        _finetune_seed(work)
    w2w("edit", "DIR/lora.safetensors", "--add", "glasses=1", "--out", "edited", cwd=work)
    assert list((work / "edited").glob("*.safetensors")) and (work / "edited" / "edit.png").is_file()


def _invert(work: Path) -> None:
    w2w("invert", "photo.png", "--steps", "20", "--out", "inverted", cwd=work)  # the default store: the zoo
    assert (work / "inverted" / "photo.safetensors").is_file()


def _report(work: Path) -> None:
    w2w("report", _store(work), "--out", "report", cwd=work)
    assert (work / "report" / "report.html").is_file()


def _s3_serve(work: Path) -> None:
    """`w2w s3 serve --new-credentials s3.env` serves until Ctrl-C, and the file it wrote reaches it."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    server = subprocess.Popen([sys.executable, "-c", "from cli.main import main; main()", "s3", "serve",
                               "--new-credentials", "s3.env", "--port", str(port)], cwd=work, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while not (work / "s3.env").is_file() and time.monotonic() < deadline and server.poll() is None:
            time.sleep(0.5)
        assert server.poll() is None and f"127.0.0.1:{port}" in (work / "s3.env").read_text()
        with socket.create_connection(("127.0.0.1", port), timeout=10):
            pass
    finally:
        server.send_signal(signal.SIGINT)
        assert server.wait(timeout=30) == 0


def _zoo_build(work: Path) -> None:
    """`w2w zoo build --n N` into a new folder: trains N identities with the zoo's recipe, then fits and
    records its space and directions (without the minutes of calibration, which tests/tasks covers)."""
    w2w("zoo", "build", "--n", "4", "--out", "zoo", "--no-calibrate", cwd=work, timeout=1800)
    record = json.loads((work / "zoo" / "zoo.json").read_text())["runs"][-1]
    assert record["status"] == "finished" and record["identities_trained"] == 4 and record["space"]["k"] == 3
    assert (work / "zoo" / "space" / "zarr.json").is_file() and (work / "zoo" / "directions" / "zarr.json").is_file()


EXAMPLES = {
    "w2w finetune --seed 7 --out DIR": _finetune_seed,
    "w2w finetune --image a.png --image b.png --out DIR": _finetune_images,
    "w2w finetune --seed 7 --seed 8 --images dogs/rex --out DIR": _finetune_batch,
    'w2w generate DIR/lora.safetensors --prompt "a photo of sks person" --out grid.png': _generate,
    "w2w dataset build URL --n N": _dataset_build,
    "w2w dataset build URL --identities people.csv": _dataset_manifest,
    "w2w dataset status URL [--verify]": _dataset_status,
    "w2w space fit URL [--k K]": _space,
    "w2w space show [URL]": _space,
    "w2w directions fit URL": _directions,
    "w2w sample --n 8 --out DIR": _sample,
    "w2w edit MODEL.safetensors --add glasses=1 --out DIR": _edit,
    "w2w invert photo.png --out DIR": _invert,
    "w2w report URL --out DIR [--heldout URL]": _report,
    "w2w s3 serve --new-credentials s3.env": _s3_serve,
    "w2w zoo build [--n N]": _zoo_build,
}


@pytest.mark.acceptance
@pytest.mark.parametrize("command", sorted(EXAMPLES))
def test_the_readme_example_runs_with_its_default_store(command, work):
    EXAMPLES[command](work)
