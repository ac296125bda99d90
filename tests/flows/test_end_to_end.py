"""`w2w run`'s flow end to end through a real (temporary) Prefect API, on the untrained tiny model without the zoo
(fewer identities, steps and images than the default run: the mechanics, not the quality; test_run_report.py
checks the real run's numbers)."""
from __future__ import annotations

import json
from dataclasses import replace

import pytest
from PIL import Image

from storage.space_store import load_space
from storage.weight_store import WeightStore
from tasks.config import PicturesConfig, ReportConfig, RunConfig, ZooConfig
from tests.flows.dataset_support import dataset_config
from w2w_core.finetune.config import FinetuneConfig
from w2w_core.inversion.config import InversionConfig

pytestmark = pytest.mark.integration


def small_run(model_dir) -> RunConfig:
    report = ReportConfig(pictures=PicturesConfig(images_per_model=2, steps=4), n_samples=3, n_edited=4,
                          edit_attributes=("beard", "smiling"), inversion=InversionConfig(steps=5),
                          single_image=FinetuneConfig(steps=3))
    return RunConfig(n_identities=10, use_zoo=False, n_heldout=2, k=6,
                     zoo=replace(ZooConfig(), dataset=dataset_config(model_dir, steps=3, batch_size=4)), report=report)


@pytest.fixture(scope="module")
def run_folder(prefect_api, tmp_path_factory, tiny_model_dir):
    from flows.end_to_end import w2w_run

    folder = tmp_path_factory.mktemp("run")
    return folder, w2w_run(str(folder), small_run(tiny_model_dir))


def test_run_writes_a_self_contained_report_and_every_model_it_shows(run_folder, tiny_model_dir):
    from flows.end_to_end import w2w_run

    tmp_path, numbers = run_folder
    store = WeightStore.open(str(tmp_path / "store"), read_only=True)
    assert store.counts()["done"] == 10 and store.verify().ok
    assert load_space(str(tmp_path / "store")).k == 6
    saved = json.loads((tmp_path / "report.json").read_text())
    assert saved["header"]["models_in_store"] == 10 and saved["header"]["zoo_used"] is False
    assert set(saved) >= {"header", "dataset", "samples", "edits", "inversion"}
    assert set(saved["edits"]["flip_rate"]) == {"beard", "smiling"}
    assert len(saved["inversion"]["id_score"]["w2w"]) == 2
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") >= 6 and 'src="data:image/png;base64,' in page and "http" not in page.split("<body>")[1]
    files = sorted((tmp_path / "models").glob("*.safetensors"))
    report = small_run(tiny_model_dir).report
    edits = report.n_edited * len(report.edit_attributes) * sum(1 for s in report.edit_strengths if s)
    samples = report.n_samples * len(report.sample_methods)  # every sampler's
    assert set(saved["samples"]) == set(report.sample_methods)
    assert len(files) == saved["header"]["model_files_written"] == samples + edits + 1 + 2  # and multi, inverted
    assert numbers["report"].endswith("report.html")
    again = w2w_run(str(tmp_path), small_run(tiny_model_dir))  # a rerun trains nothing
    assert again["header"]["trained_now"] == 0


def test_the_report_renders_in_headless_chromium_with_every_image_and_number(run_folder, tmp_path):
    from tests.browser import open_page

    folder, _ = run_folder
    with open_page(folder / "report.html", tmp_path) as browser:
        images = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth])")
        shown = browser.execute_script(
            "return [...document.querySelectorAll('.number')].map(e => [e.dataset.key, e.textContent])")
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        browser.save_screenshot(str(tmp_path / "report.png"))
    assert len(images) >= 6 and all(done and width > 0 for done, width in images)
    assert not errors, errors
    saved = json.loads((folder / "report.json").read_text())
    assert len(shown) > 10
    for key, text in shown:
        value = saved
        for part in key.split("."):
            value = value[part]
        if isinstance(value, bool):
            assert text == ("yes" if value else "no"), key
        elif isinstance(value, float):
            assert float(text) == pytest.approx(value, abs=0.05 if "seconds" in key else 5e-4), key
        else:
            assert text == str(value), key
    assert Image.open(tmp_path / "report.png").size[0] > 0


def test_w2w_report_shows_any_world_store_with_its_space_and_directions(run_folder, tiny_model_dir, tmp_path):
    from flows.report import store_report

    folder, _ = run_folder
    store, heldout = str(folder / "store"), str(folder / "heldout")
    numbers = store_report(store, str(tmp_path / "report"), heldout, small_run(tiny_model_dir).report)
    saved = json.loads((tmp_path / "report" / "report.json").read_text())
    assert set(saved) == {"header", "dataset", "samples", "edits", "inversion"} and numbers["report"].endswith(".html")
    assert saved["header"]["models_in_store"] == 10 and saved["header"]["k"] == 6
    assert saved["dataset"]["identities"] == [str(i) for i in WeightStore.open(store).identities(range(4))[0]]
    assert set(saved["edits"]["flip_rate"]) == {"beard", "smiling"}
    assert len(list((tmp_path / "report" / "models").glob("*.safetensors"))) == saved["header"]["model_files_written"]
    without = store_report(store, str(tmp_path / "plain"), None, small_run(tiny_model_dir).report)
    assert "inversion" not in without and without["header"]["heldout_store"].startswith("none")


def test_w2w_report_of_a_store_without_a_space_fails_in_one_line(run_folder, tmp_path):
    from typer.testing import CliRunner

    from cli.main import app

    folder, _ = run_folder
    result = CliRunner().invoke(app, ["report", str(folder / "heldout"), "--out", str(tmp_path / "r")])
    assert result.exit_code == 2 and "no w2w space at" in result.output and len(result.output.strip().splitlines()) == 1
