"""The space's work functions without Prefect: fit on a store, summarise, plot."""
from __future__ import annotations

import numpy as np
from PIL import Image

from storage.read_config import ReadConfig
from tasks.space import fit_space_from_store, fit_summary, write_space_plot
from tests.storage.space_stores import write_store
from tests.w2w_core.pca.spectra import exact_pca, matrix_with_spectrum, max_relative_error, separated
from w2w_core.pca import PCAConfig


def test_fit_from_store_matches_the_exact_pca_and_plots(tmp_path):
    x = matrix_with_spectrum(separated(8), 40, 120, np.random.default_rng(1), offset=0.5)
    done = np.ones(40, bool)
    done[[3, 30]] = False
    url = str(tmp_path / "store")
    write_store(url, x, done, rows_per_chunk=8)
    lines: list[str] = []
    space = fit_space_from_store(url, PCAConfig(k=5, method="gram"), read=ReadConfig(block_bytes=16 * 120 * 4),
                                 log=lines.append)
    sigma, _ = exact_pca(x[done], standardize=True)
    assert max_relative_error(sigma, space.singular_values) < 1e-4
    assert space.fit_config["backend"] == "numpy" and space.fit_config["n_rows"] == 38
    assert lines[0].startswith("fitting k=5") and len(lines) == 1 + len(space.fit_config["passes"])
    summary = fit_summary(space, url)
    assert (summary["k"], summary["n_rows"], summary["method"]) == (5, 38, "gram")
    picture = Image.open(write_space_plot(space, tmp_path / "plots" / "space.png"))
    assert picture.format == "PNG" and picture.width > picture.height
