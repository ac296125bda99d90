"""docs/notebook.ipynb runs end to end on a python3 kernel, what it shows is true of the shipped zoo,
and the outputs committed with it (shown in the docs) are the ones it prints today."""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest
import zarr
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell

from storage.s3 import ENV_ENDPOINT, ENV_KEY, ENV_SECRET, S3Server
from storage.space_store import load_space
from w2w_core.lora.files import import_lora_file
from w2w_core.lora.layout import LoraLayout

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "docs" / "notebook.ipynb"
ZOO = Path(os.environ.get("W2W_STORE", REPO / "w2w_core" / "assets" / "zoo"))  # the notebook's STORE
pytestmark = pytest.mark.slow  # runs the notebook in a kernel: not in the fast tier
MAX_COMMITTED_BYTES = 400_000  # outputs included: small PNGs, a few tens of KB each

# Run in the notebook's kernel after its last cell: what it plotted and generated, and what w2w's own
# generation makes of the same row, for the assertions below.
CHECKS = """
import numpy as np
from w2w_core.generate import generate_with_lora
np.savez("checks.npz", singular_values=spectrum.axes[1].lines[0].get_ydata(),
         variance=spectrum.axes[0].lines[0].get_ydata(), cumulative=spectrum.axes[0].lines[1].get_ydata(),
         traversal=traversal, strengths=strengths, base_images=base_images, lora_images=lora_images,
         w2w_lora_images=generate_with_lora(base, theta, LoraLayout.from_dict(layout), PROMPT, len(lora_images),
                                            seed=0),
         row=row, chosen=chosen)
"""


def execute(notebook: nbformat.NotebookNode, cwd: Path) -> float:
    """Run every cell on a fresh python3 kernel in `cwd` (a failing cell raises); returns the seconds."""
    start = time.perf_counter()
    NotebookClient(notebook, timeout=600, kernel_name="python3", record_timing=False,
                   resources={"metadata": {"path": str(cwd)}}).execute()
    return time.perf_counter() - start


def stdout_of(notebook: nbformat.NotebookNode) -> list[str]:
    return ["".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
            for cell in notebook.cells if cell.cell_type == "code"]


def pngs_of(notebook: nbformat.NotebookNode) -> list[str]:
    return [o.data["image/png"] for cell in notebook.cells if cell.cell_type == "code"
            for o in cell.outputs if "image/png" in o.get("data", {})]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[nbformat.NotebookNode, Path]:
    cwd = tmp_path_factory.mktemp("notebook")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.append(new_code_cell(CHECKS))
    seconds = execute(notebook, cwd)
    print(f"docs/notebook.ipynb executed in {seconds:.1f} s")
    notebook.cells.pop()
    return notebook, cwd


def test_notebook_exports_a_row_as_a_lora_file_equal_to_the_row(executed):
    _, cwd = executed
    checks = np.load(cwd / "checks.npz")
    group = zarr.open_group(str(ZOO), mode="r")
    row, chosen = int(checks["row"]), str(checks["chosen"])
    assert group["identity"][row] == chosen and group["status"][row] == 1
    names = list(group.attrs["attribute_names"])
    assert group["attributes"][row][names.index("glasses")] and group["attributes"][row][names.index("beard")]
    lora = import_lora_file(cwd / "w2w-out" / "notebook" / f"{chosen}.safetensors",
                            LoraLayout.from_dict(group.attrs["layout"]))
    np.testing.assert_array_equal(lora, group["weights"][row].astype(np.float32))


def test_notebook_plots_the_zoo_spectrum(executed):
    _, cwd = executed
    checks = np.load(cwd / "checks.npz")
    space = load_space(str(ZOO))
    np.testing.assert_array_equal(checks["singular_values"], space.singular_values)
    assert np.all(np.diff(checks["singular_values"]) < 0) and np.all(np.diff(checks["variance"]) < 0)
    assert np.all(np.diff(checks["cumulative"]) > 0) and checks["cumulative"][-1] <= 1


def test_notebook_traversal_moves_the_images_along_each_component(executed):
    _, cwd = executed
    checks = np.load(cwd / "checks.npz")
    traversal, strengths = checks["traversal"].astype(float), checks["strengths"]
    assert traversal.shape[:2] == (2, len(strengths)) and traversal.shape[2:] == (32, 32, 3)
    middle = int(np.flatnonzero(strengths == 0)[0])
    np.testing.assert_array_equal(traversal[0, middle], traversal[1, middle])  # both rows start at the mean
    for component in range(2):
        ends = traversal[component, [0, -1]]
        assert np.abs(ends - traversal[component, middle]).mean() > 10  # of 255: visibly different pictures
    assert np.abs(traversal[0, -1] - traversal[1, -1]).mean() > 10  # PC1 and PC2 are different moves


def test_notebook_generates_with_the_lora_file_in_diffusers(executed):
    _, cwd = executed
    checks = np.load(cwd / "checks.npz")
    lora, base = checks["lora_images"].astype(int), checks["base_images"].astype(int)
    assert lora.shape == base.shape == (5, 32, 32, 3)
    assert np.abs(lora - base).mean() > 10  # the LoRA changes what the base model generates
    # diffusers' load_lora_weights on the file makes the same model as w2w's own loading of the row
    assert np.abs(lora - checks["w2w_lora_images"]).max() <= 1


def test_committed_notebook_shows_its_current_outputs(executed):
    fresh, _ = executed
    committed = nbformat.read(NOTEBOOK, as_version=4)
    assert NOTEBOOK.stat().st_size < MAX_COMMITTED_BYTES
    assert [c.source for c in committed.cells] == [c.source for c in fresh.cells]
    code = [c for c in committed.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1))  # executed top to bottom, once
    assert stdout_of(committed) == stdout_of(fresh), \
        "docs/notebook.ipynb shows stale outputs: re-execute it (.venv/bin/python -m tests.docs.test_notebook)"
    assert len(pngs_of(committed)) == len(pngs_of(fresh)) == 3  # spectrum, traversal, LoRA images


@pytest.mark.integration
def test_notebook_reads_the_zoo_from_s3_with_env_credentials(monkeypatch, tmp_path):
    """The store's cells (all but the two that run the diffusion model) print the same from an s3:// copy
    of the zoo, reached through the AWS_* variables alone, as the committed notebook does from disk."""
    shutil.copytree(ZOO, tmp_path / "s3" / "w2w" / "zoo")  # a fresh server serves its folder as the bucket
    with S3Server(tmp_path / "s3", buckets=("w2w",)) as server:
        for name, value in {ENV_ENDPOINT: server.endpoint_url, ENV_KEY: server.key,
                            ENV_SECRET: server.config.secret, "W2W_STORE": "s3://w2w/zoo"}.items():
            monkeypatch.setenv(name, value)
        committed = nbformat.read(NOTEBOOK, as_version=4)
        notebook = nbformat.read(NOTEBOOK, as_version=4)
        keep = ["diffusion" not in cell.metadata.get("tags", []) for cell in notebook.cells]
        assert keep.count(False) == 2
        notebook.cells = [cell for cell, kept in zip(notebook.cells, keep) if kept]
        execute(notebook, tmp_path)
    committed.cells = [cell for cell, kept in zip(committed.cells, keep) if kept]
    assert stdout_of(notebook) == stdout_of(committed)
    assert len(pngs_of(notebook)) == 1  # the spectrum


if __name__ == "__main__":  # .venv/bin/python -m tests.docs.test_notebook: re-execute the notebook, keep its outputs
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    with tempfile.TemporaryDirectory() as folder:
        print(f"executed in {execute(notebook, Path(folder)):.1f} s", file=sys.stderr)
    nbformat.write(notebook, NOTEBOOK)
