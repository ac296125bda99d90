"""The report of a run: one self-contained HTML page (report.html), its numbers (report.json) and a Prefect artifact.

The page embeds every picture (base64 PNG), so it opens from the file system
with no server; every number it shows carries a `data-key` naming where it is
in report.json, so a test can check the page against the file. Grids of
images are HTML tables whose row, column and image labels are the page's own
text (legible at any zoom), each caption above what it describes; every
caption and sentence that states a strength, a sampler or a comparison is
written from the values the run used. Plain functions first, then the
Prefect task.
"""
from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from prefect import task
from prefect.cache_policies import NO_CACHE

from storage.files import write_atomic
from tasks.showcase import SCORED, Figure, Grid, Section, inversion_findings
from w2w_core.space import Space

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
.lede { color: #555; } figure { margin: 1.2em 0; } figure img { max-width: 100%; image-rendering: pixelated; }
figcaption { color: #555; font-size: 0.9em; } table { border-collapse: collapse; margin: 0.8em 0; }
td, th { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; } th { background: #f5f5f5; }
td:first-child, th:first-child { text-align: left; } .from { font-size: 0.85em; color: #777; }
.facts { display: flex; flex-wrap: wrap; gap: 0 2.5em; align-items: flex-start; }
.facts h3 { margin: 0.8em 0 0; font-size: 1em; }
.terms { color: #444; font-size: 0.95em; } .terms dt { font-weight: bold; float: left; margin-right: 0.4em; }
.terms dd { margin: 0 0 0.3em 0; }
figcaption { margin-bottom: 0.4em; }
.finding { background: #fff6e0; border-left: 3px solid #e0a800; padding: 0.4em 0.8em; }
.grid-wrap { overflow-x: auto; } table.grid { border: none; margin: 0; }
table.grid td, table.grid th { border: none; padding: 2px; text-align: center; vertical-align: top; }
table.grid th { background: none; font-weight: 600; font-size: 13px; color: #333; border-bottom: 1px solid #ccc; }
table.grid th.row { text-align: right; vertical-align: middle; font-weight: normal; font-size: 13px;
                    padding-right: 0.6em; max-width: 12em; border: none; }
table.grid img { width: 64px; height: 64px; display: block; image-rendering: pixelated; }
table.grid .cap { font-size: 12px; color: #444; white-space: nowrap; }
table.grid td.note { text-align: left; vertical-align: middle; font-size: 12px; color: #555; padding-left: 0.8em;
                     min-width: 10em; }
"""


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buffer.getvalue()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def explained_variance_figure(space: Space) -> Figure:
    plt = _pyplot()
    fig, axis = plt.subplots(figsize=(6, 3.2))
    axis.plot(np.arange(1, space.k + 1), np.cumsum(space.explained_variance_ratio))
    axis.set(xlabel="components k", ylabel="cumulative explained variance", ylim=(0, 1), xscale="log")
    axis.grid(alpha=0.3)
    fig.tight_layout()
    return Figure("The w2w space", _png(fig), f"How much of the {len(space.row_ids)} models' variance the first k "
                  f"of the space's {space.k} components explain.")


def bar_figure(title: str, groups: Mapping[str, Mapping[str, float]], ylabel: str, caption: str,
               ylim: tuple[float, float] | None = (0, 1)) -> Figure:
    """Grouped bars: one group per key of `groups`, one bar per inner key."""
    plt = _pyplot()
    labels = list(groups)
    series = list(dict.fromkeys(k for g in groups.values() for k in g))
    fig, axis = plt.subplots(figsize=(max(4.5, 0.9 * len(labels) * max(1, len(series)) + 1.5), 3.2))
    width = 0.8 / max(1, len(series))
    for j, name in enumerate(series):
        values = [groups[label].get(name, np.nan) for label in labels]
        axis.bar(np.arange(len(labels)) + j * width - 0.4 + width / 2, values, width, label=name)
    axis.set_xticks(np.arange(len(labels)), labels, fontsize=8)
    axis.set(ylabel=ylabel)
    if ylim:
        axis.set_ylim(*ylim)
    if len(series) > 1:
        axis.legend(fontsize=8)
    axis.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return Figure(title, _png(fig), caption)


def report_plots(space: Space, sections: Mapping[str, Section]) -> list[Figure]:
    """The space's explained variance, and bar charts of the edit flip rates and the inversion ID scores."""
    plots = [explained_variance_figure(space)]
    if "edits" in sections:
        flips = sections["edits"].numbers["flip_rate"]
        strength = sections["edits"].numbers["flip_strength"]
        plots.append(bar_figure("Edits", {a: {"flip rate": v} for a, v in flips.items()}, "share of identities",
                                f"How often an edit of strength {strength:g} towards what an identity lacked "
                                f"(+{strength:g} to add the attribute, -{strength:g} to remove it) made the probe "
                                "read the attribute as wanted (this run's edited identities)."))
    if "inversion" in sections:
        numbers = sections["inversion"].numbers
        groups = {label: {SCORED.get(name, name): scores[i] for name, scores in numbers["id_score"].items()}
                  for i, label in enumerate(numbers["inputs"])}
        findings = " ".join(inversion_findings(numbers["inputs"], numbers["id_score"]))
        plots.append(bar_figure("Inversion ID scores", groups, "ID score (probe cosine)",
                                "Mean probe cosine of each model's images to the identity's other renders: w2w "
                                "inversion from one image, a 1-image LoRA, and the identity's full multi-image LoRA. "
                                + findings))
    return plots


def number_text(value: Any, key: str) -> str:
    """How the page shows a number of report.json: yes/no for flags, seconds to a tenth, scores to 3 places."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}" if "seconds" in key else f"{value:.3f}"
    return str(value)


def _number(value: Any, key: str) -> str:
    text = html.escape(number_text(value, key))
    return f'<span class="number" data-key="{html.escape(key)}">{text}</span>'


def _numbers_table(numbers: Mapping[str, Any], prefix: str) -> str:
    """A two-column table of a section's scalar numbers (nested dicts flattened, lists left out)."""
    rows = []
    for key, value in _flatten(numbers, prefix):
        label = key.removeprefix(prefix + ".").replace("_", " ").replace(".", ": ")
        rows.append(f"<tr><td>{html.escape(label)}</td><td>{_number(value, key)}</td></tr>")
    return "<table>" + "".join(rows) + "</table>" if rows else ""


def _flatten(value: Any, key: str) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [item for k, v in value.items() for item in _flatten(v, f"{key}.{k}")]
    if isinstance(value, (int, float, str, bool)) and not isinstance(value, bool):
        return [(key, value)]
    return []


def _src(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def _caption(figure: Figure | Grid) -> str:
    return f"<figcaption><b>{html.escape(figure.title)}.</b> {html.escape(figure.caption)}</figcaption>"


def _figure(figure: Figure | Grid) -> str:
    """A chart or a grid, its caption above it."""
    if isinstance(figure, Grid):
        return f"<figure>{_caption(figure)}<div class='grid-wrap'>{_grid(figure)}</div></figure>"
    return f'<figure>{_caption(figure)}<img alt="{html.escape(figure.title)}" src="{_src(figure.png)}"></figure>'


def _grid(grid: Grid) -> str:
    """A table: column headers, then per row its label, its images with their captions, and its note."""
    notes = any(row.note for row in grid.rows)
    head = "<tr><th></th>" + "".join(f"<th colspan='{span}'>{html.escape(text)}</th>" for text, span in grid.columns)
    head += "<th></th></tr>" if notes else "</tr>"
    body = []
    for row in grid.rows:
        cells = "".join(f"<td><img alt='{html.escape(cell.caption or row.label)}' src='{_src(cell.png)}'>"
                        + (f"<div class='cap'>{html.escape(cell.caption)}</div>" if cell.caption else "") + "</td>"
                        for cell in row.cells)
        note = f"<td class='note'>{html.escape(row.note)}</td>" if notes else ""
        body.append(f"<tr><th class='row' scope='row'>{html.escape(row.label)}</th>{cells}{note}</tr>")
    return f"<table class='grid'>{head}{''.join(body)}</table>"


# What the header's terms mean, one sentence each (shown under the header for the terms it holds).
TERMS = {
    "k": "the number of principal components the w2w space keeps: every model in the space is k coefficients, one "
         "per component, and k sets how much of the models' variance the space can hold (explained variance).",
    "m": "the number of leading components, of the k, that the attribute directions are fit in: an edit moves "
         "only these first m coefficients of a model.",
}


def _terms(header: Mapping[str, Any]) -> str:
    items = "".join(f"<dt>{html.escape(term)}</dt><dd>{html.escape(text)}</dd>"
                    for term, text in TERMS.items() if term in header)
    return f"<dl class='terms'>{items}</dl>" if items else ""


def report_html(header: Mapping[str, Any], sections: Sequence[tuple[str, Section]], plots: Sequence[Figure]) -> str:
    """The page: a header of what was run, then each section (its pictures and numbers), then the plots."""
    facts = "".join(f"<tr><td>{html.escape(k.replace('_', ' '))}</td><td>{_number(v, f'header.{k}')}</td></tr>"
                    for k, v in header.items() if not isinstance(v, (dict, list)))
    tables = "".join(f"<div><h3>{html.escape(k.replace('_', ' '))}</h3>{_numbers_table(v, f'header.{k}')}</div>"
                     for k, v in header.items() if isinstance(v, Mapping))
    body = [f"<h1>w2w: the weights of diffusion models as data</h1><p class='lede'>{html.escape(INTRO)}</p>",
            f"<h2>What was run</h2><div class='facts'><div><table>{facts}</table></div>{tables}</div>{_terms(header)}"]
    for key, section in sections:
        body.append(f"<h2>{html.escape(section.title)}</h2><p>{html.escape(section.intro)}</p>")
        body += [_figure(f) for f in section.figures]
        body += [f"<p class='finding'>{html.escape(text)}</p>" for text in section.findings]
        body.append(_numbers_table(section.numbers, key))
    body.append("<h2>Numbers</h2>")
    body += [_figure(p) for p in plots]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>w2w run report</title><style>{STYLE}</style>"
            f"</head><body>{''.join(body)}</body></html>")


INTRO = ("Thousands of identities were each fine-tuned into a rank-1 LoRA of a small diffusion model. Flattened, "
         "every LoRA is a point in weight space, and a linear space fit to those points (weights2weights) behaves "
         "like data: a new point is a new person, a direction is an attribute, and one photo can be projected in. "
         "Every image below is generated by such a point.")


def write_report(out: Path, header: Mapping[str, Any], sections: Sequence[tuple[str, Section]],
                 plots: Sequence[Figure]) -> dict[str, Any]:
    """report.html and report.json under `out`; the numbers."""
    numbers = {"header": dict(header), **{key: section.numbers for key, section in sections}}
    write_atomic(out / "report.json", (json.dumps(numbers, indent=2, default=float) + "\n").encode())
    write_atomic(out / "report.html", report_html(header, sections, plots).encode())
    return {**numbers, "report": str(out / "report.html")}


def headline_markdown(numbers: Mapping[str, Any]) -> str:
    """The artifact shown in the Prefect UI: the run's headline numbers and where the report is."""
    lines = ["# w2w run", f"Report: `{numbers['report']}`", "", "| what | value |", "|---|---|"]
    for key, value in _flatten({k: v for k, v in numbers.items() if k != "report"}, "run"):
        shown = f"{value:.3f}" if isinstance(value, float) else f"{value}"
        lines.append(f"| {key.removeprefix('run.')} | {shown} |")
    return "\n".join(lines)


# ---- Prefect task ------------------------------------------------------------------------------

@task(name="write-report", cache_policy=NO_CACHE)
def write_report_task(out: str, header: Mapping[str, Any], sections: Mapping[str, Section],
                      store_url: str) -> dict[str, Any]:
    """Write the report (with plots of the store's space) and publish its headline numbers as a markdown
    artifact of the flow run, for whoever watches it in the Prefect UI."""
    from prefect.artifacts import create_markdown_artifact

    from storage.space_store import load_space

    plots = report_plots(load_space(store_url), sections)
    numbers = write_report(Path(out), header, list(sections.items()), plots)
    create_markdown_artifact(headline_markdown(numbers), key="w2w-run-report", description="w2w run: headline numbers")
    return numbers
