"""The report's text (issue 25, item 9): every strength a caption states is the one the config made the report use,
the terms a reader meets (k, m, between / within a sample, each sampler) are explained, the inversion text says
when w2w scores below the 1-image LoRA, and a grid's labels are the page's own text, each caption above its grid.

The edit section runs for real on a small gallery: the untrained tiny pipeline, a space of random rows in its LoRA
layout, directions fit on it and the shipped probe (2 denoising steps, one image per model).
"""
from __future__ import annotations

import html
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from tasks.config import SAMPLING_METHODS, PicturesConfig, ReportConfig
from tasks.report import TERMS, report_html, report_plots
from tasks.showcase import SAMPLERS, Gallery, Grid, Section, edit_section, grid_row, inversion_findings, samples_section
from w2w_core.space import Space

N_MODELS, K = 12, 4


@pytest.fixture(scope="module")
def gallery(tiny_model_dir) -> Gallery:
    from w2w_core.base_model import load_base_model
    from w2w_core.directions import DirectionsConfig, fit_directions
    from w2w_core.finetune.config import FinetuneConfig
    from w2w_core.lora.adapter import layout_for
    from w2w_core.probe import load_probe

    base = load_base_model(tiny_model_dir)
    layout = layout_for(base.pipe.unet, FinetuneConfig().lora, base.model_id, base.model_hash)
    rng = np.random.default_rng(0)
    rows = (0.02 * rng.standard_normal((N_MODELS, layout.n_params))).astype(np.float32)
    space = _space(rows)
    probe = load_probe()
    beta = (rows - space.mean) / space.std @ space.components
    labels = np.stack([beta[:, 0] > 0, beta[:, 1] > 0], axis=1)
    directions = fit_directions(beta, labels, ["beard", "glasses"], space, DirectionsConfig(m=K))
    return Gallery(base, layout, space, directions, probe, PicturesConfig(images_per_model=1, steps=2))


def _space(rows: np.ndarray) -> Space:
    """The PCA of `rows`, written out (a real Space: project, reconstruct and edit work on it)."""
    mean, std = rows.mean(axis=0), rows.std(axis=0, ddof=1) + 1e-6
    _, s, vt = np.linalg.svd((rows - mean) / std, full_matrices=False)
    coefficients = (rows - mean) / std @ vt[:K].T
    return Space(mean=mean, std=std.astype(np.float32), components=vt[:K].T.astype(np.float32),
                 singular_values=s[:K].astype(np.float64), explained_variance_ratio=s[:K] ** 2 / np.sum(s ** 2),
                 coef_mean=coefficients.mean(axis=0), coef_std=coefficients.std(axis=0, ddof=1),
                 row_ids=np.arange(len(rows)), fit_config={})


class _Text(HTMLParser):
    """The page's visible text, in order, and each figure's caption / grid order."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = False

    def handle_starttag(self, tag, attrs):
        self._skip = tag in ("style", "script")
        self.parts.append(f"<{tag}>")

    def handle_endtag(self, tag):
        self._skip = False

    def handle_data(self, data):
        if not self._skip:
            self.parts.append(data)


def _text(page: str) -> str:
    parser = _Text()
    parser.feed(page)
    return re.sub(r"\s+", " ", "".join(p for p in parser.parts if not p.startswith("<")))


def _edits_page(gallery: Gallery, config: ReportConfig) -> str:
    models = [(f"model {i}", gallery.space.mean + 0.0) for i in range(2)]
    section = edit_section(gallery, models, config.edit_attributes, config.edit_strengths, config.flip_strength)
    plots = report_plots(gallery.space, {"edits": section})
    return report_html({"k": gallery.space.k, "m": gallery.directions.m}, [("edits", section)], plots)


@pytest.mark.parametrize("strengths, flip", [((-6.0, -3.0, 0.0, 3.0, 6.0), 6.0), ((-1.5, 0.0, 2.0), 1.0)])
def test_edit_captions_state_the_strengths_the_config_holds(gallery, strengths, flip):
    config = ReportConfig(edit_attributes=("beard",), edit_strengths=strengths, flip_strength=flip)
    text = _text(_edits_page(gallery, config))
    listed = ", ".join(f"{s:+g}" if s else "0" for s in strengths[:-1]) + f" and {strengths[-1]:+g}"
    assert f"at strengths {listed}" in text  # the beard grid's caption
    assert f"edits each identity by {flip:g} towards what it lacks" in text  # the section's text
    assert f"an edit of strength {flip:g} towards what an identity lacked (+{flip:g} to add" in text  # the chart's
    headers = re.findall(r"<th colspan='1'>([^<]*)</th>", _edits_page(gallery, config))
    assert headers == [f"strength {s:+g}" if s else "0 (unedited)" for s in strengths]
    others = {6.0, 1.0} - {flip}
    assert not any(f"strength {o:g} " in text for o in others) and "±1" not in text


def test_each_attributes_caption_is_above_its_grid_and_its_labels_are_text(gallery):
    page = _edits_page(gallery, ReportConfig(edit_attributes=("beard", "glasses"), edit_strengths=(-2.0, 0.0, 2.0)))
    for name in ("beard", "glasses"):
        caption = page.index(f"<figcaption><b>{name}.</b>")
        grid = page.index("<table class='grid'>", caption)
        assert page.rfind("<figure>", 0, caption) > page.rfind("</figure>", 0, caption)  # the caption opens the figure
        assert page.find("</figure>", caption) > grid  # and its grid follows, inside the same figure
    assert re.search(r"<th class='row' scope='row'>model 0</th>", page)
    assert re.search(r"<div class='cap'>beard: [01]\.\d\d</div>", page)  # the probe's reading under each image


def test_the_header_explains_k_and_m_and_the_samples_explain_between_and_within():
    page = report_html({"k": 900, "m": 600, "store": "here"}, [("samples", samples_section([], {}))], [])
    text = _text(page)
    for term, sentence in TERMS.items():
        assert f"<dt>{term}</dt><dd>{html.escape(sentence)}</dd>" in page, term
    assert "Between samples:" in text and "Within a sample:" in text
    assert "one person" in text and "distinct people" in text


def test_every_sampler_has_one_sentence_on_what_it_trades():
    assert set(SAMPLING_METHODS) <= set(SAMPLERS)  # a new `w2w sample --method` needs its line in SAMPLERS
    for method, sentence in SAMPLERS.items():
        assert sentence.startswith(method) and sentence.count(". ") == 0 and ":" in sentence, method
    assert "paper" in SAMPLERS["gaussian"] and "independently" in SAMPLERS["gaussian"]
    assert "frequencies" in SAMPLERS["mix"] and "close to training identities" in SAMPLERS["mix"]


INPUTS = ["held-out 3001, one render", "held-out 3002, a painting"]


def test_the_inversion_text_says_when_w2w_scores_below_the_one_image_lora():
    scores = {"w2w": [0.76, 0.50], "single": [0.79, 0.58], "multi": [0.90, 0.80]}
    below = inversion_findings(INPUTS, scores)
    assert len(below) == 1 and "below the 1-image LoRA" in below[0]
    assert "held-out 3001, one render (0.760 against 0.790)" in below[0] and "(0.500 against 0.580)" in below[0]
    mixed = inversion_findings(INPUTS, {**scores, "w2w": [0.80, 0.50]})
    assert "below" in mixed[0] and "one render" not in mixed[0] and "one render (0.800 against 0.790)" in mixed[1]


def test_the_inversion_text_says_nothing_is_below_when_w2w_is_not():
    findings = inversion_findings(INPUTS, {"w2w": [0.81, 0.60], "single": [0.79, 0.58], "multi": [0.9, 0.8]})
    assert not any("below" in f for f in findings)
    assert findings == ["w2w inversion scores at or above the 1-image LoRA baseline from held-out 3001, one render "
                        "(0.810 against 0.790); held-out 3002, a painting (0.600 against 0.580)."]


def test_the_inversion_findings_reach_the_page_and_the_charts_caption():
    image = np.zeros((2, 8, 8, 3), np.uint8)
    scores = {"w2w": [0.76, 0.50], "single": [0.79, 0.58], "multi": [0.90, 0.80]}
    section = Section("Inversion", "intro", [Grid("Inversion from one image", "caption", (("input", 2),),
                                                 (grid_row(INPUTS[0], image),))],
                      {"id_score": scores, "inputs": INPUTS}, inversion_findings(INPUTS, scores))
    rng = np.random.default_rng(0)
    components = np.linalg.qr(rng.standard_normal((20, 3)))[0].astype(np.float32)
    space = Space(np.zeros(20, np.float32), np.ones(20, np.float32), components, np.array([3.0, 2, 1]),
                  np.array([0.5, 0.3, 0.1]), np.zeros(3), np.ones(3), np.arange(5))
    plots = report_plots(space, {"inversion": section})
    page = report_html({"k": 3}, [("inversion", section)], plots)
    assert page.count("below the 1-image LoRA baseline from held-out 3001") == 2  # the section and the chart
    assert "<p class='finding'>" in page


def test_a_grids_long_title_is_wrapped_inside_the_picture_not_clipped():
    """samples.png's title ran off both sides of the picture (issue 25): its ink must now stop short of the edges."""
    from io import BytesIO

    from PIL import Image

    from tasks.models import labelled_grid

    title = "new identities sampled from the w2w space, each above its nearest training identity (same noise)"
    rows = [(f"sample {i}", np.full((4, 32, 32, 3), 255, np.uint8)) for i in range(2)]
    picture = np.asarray(Image.open(BytesIO(labelled_grid(rows, title))).convert("L"))
    band = picture[: picture.shape[0] // 8]  # the title, above the first row of (white) images
    ink = np.flatnonzero((band < 128).any(axis=0))
    assert len(ink) and ink[0] > 2 and ink[-1] < picture.shape[1] - 3, (ink[:1], ink[-1:], picture.shape)


def test_the_report_and_the_editing_benchmark_score_an_edit_with_one_function(gallery):
    """Issue 26: flip, preserved and ID of an edit are w2w_core.evaluate.edit_scores in the report's edit section
    and in benchmarks/editing.py alike, and on one input (the same models, edit and noise) they give one number."""
    import benchmarks.editing as benchmark
    import tasks.showcase as showcase
    from w2w_core.directions import edit
    from w2w_core.evaluate import Reader, edit_scores
    from w2w_core.space import reconstruct

    assert benchmark.edit_scores is showcase.edit_scores is edit_scores
    rng = np.random.default_rng(1)
    thetas = np.asarray(reconstruct(gallery.space, 2 * rng.standard_normal((3, K)).astype(np.float32)), np.float32)
    before, before_embeddings = gallery.read(gallery.images(thetas))
    report = showcase.edit_towards_lacking(gallery, thetas, before, before_embeddings, "beard", 2.0)

    a = gallery.attribute("beard")  # the benchmark's steps (benchmarks/editing.py: context, evaluate_edits)
    ctx = {"base": gallery.base, "layout": gallery.layout, "pictures": gallery.pictures, "thetas": thetas,
           "delay_t": None}
    reader = Reader(gallery.probe)
    original_read, original_embeddings = reader.read(benchmark.edited_images(ctx, thetas))
    targets = ~original_read[:, a]
    edited = np.stack([edit(theta, gallery.space, gallery.directions, {"beard": 2.0 if t else -2.0})
                       for theta, t in zip(thetas, targets)])
    read, embeddings = reader.read(benchmark.edited_images(ctx, edited))
    scores = benchmark.edit_scores(read, embeddings, targets, a, original_read, original_embeddings)
    assert set(scores) == set(report) >= {"flip", "preserved", "id_unedited"}
    np.testing.assert_equal(scores, report)
    section = edit_section(gallery, [(f"model {i}", theta) for i, theta in enumerate(thetas)], ["beard"], (0.0,), 2.0)
    assert section.numbers["flip_rate"]["beard"] == report["flip"]
