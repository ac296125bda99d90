"""The fit-space flow for real: Prefect (ephemeral API), a weight store on disk, the CLI."""
import json

import numpy as np
import pytest
from threadpoolctl import threadpool_limits
from typer.testing import CliRunner

from cli.main import app as w2w
from flows.space import fit_space
from storage.space_store import load_space
from tests.storage.space_stores import write_store
from tests.w2w_core.pca.spectra import exact_pca, matrix_with_spectrum, max_relative_error, separated, subspace_cosine
from w2w_core.pca import PCAConfig
from w2w_core.space import project, reconstruct

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module", autouse=True)
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(), threadpool_limits(limits=1, user_api="blas"):
        yield


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    x = matrix_with_spectrum(separated(16), 120, 700, np.random.default_rng(0), offset=1.5)
    done = np.ones(120, bool)
    done[[3, 4, 50, 51, 52, 119]] = False
    url = str(tmp_path_factory.mktemp("flow") / "store")
    write_store(url, x, done, rows_per_chunk=8)
    return url, x, done


def test_flow_fits_and_saves_the_space_of_the_done_rows(store):
    url, x, done = store
    result = fit_space(url, PCAConfig(k=10, method="randomized", n_power_iter=2))
    assert result["space_url"] == f"{url}/space" and result["n_rows"] == done.sum()
    assert result["passes"] == 2 * 2 + 3 and result["method"] == "randomized"
    space = load_space(url)
    sigma, vt = exact_pca(x[done], standardize=True)
    assert max_relative_error(sigma, space.singular_values) < 1e-4
    assert subspace_cosine(vt, space.components) > 0.9999
    assert list(space.row_ids) == list(np.flatnonzero(done))
    assert [p["label"].split(":")[0] for p in space.fit_config["passes"]][:2] == ["moments", "sketch"]
    rows = x[done][:4]  # rank-16 data: 10 components reconstruct most of each row
    residual = np.linalg.norm((reconstruct(space, project(space, rows)) - rows) / space.std)
    assert residual < 0.5 * np.linalg.norm((rows - space.mean) / space.std)


def test_cli_fit_then_show_prints_the_summary_and_writes_a_png(store, tmp_path):
    url, _, done = store
    runner = CliRunner()
    fitted = runner.invoke(w2w, ["space", "fit", url, "--k", "6", "--space-url", str(tmp_path / "sp")])
    assert fitted.exit_code == 0, fitted.output
    assert json.loads(fitted.output[fitted.output.index("{"):])["method"] == "gram"  # auto, small N
    plot = tmp_path / "plots" / "space.png"
    shown = runner.invoke(w2w, ["space", "show", str(tmp_path / "sp"), "--group", "", "--plot", str(plot)])
    assert shown.exit_code == 0, shown.output
    info = json.loads(shown.output[: shown.output.rindex("}") + 1])
    assert info["k"] == 6 and info["n_rows"] == done.sum() and info["method"] == "gram"
    assert 0 < info["explained_variance"] <= 1
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_reports_errors_without_a_traceback(tmp_path):
    shown = CliRunner().invoke(w2w, ["space", "show", str(tmp_path / "nothing")])
    assert shown.exit_code == 2 and "no w2w space at" in shown.output
