"""The PCA over a real weight store, read with Dask: only done rows, bounded blocks, same answers."""
import numpy as np
import pytest

from storage.dask_matrix import ZarrRowMatrix
from storage.read_config import ReadConfig
from tests.storage.space_stores import write_store
from tests.w2w_core.pca.spectra import exact_pca, matrix_with_spectrum, max_relative_error, separated, subspace_cosine
from w2w_core.errors import BackendUnavailableError, InputError, StorageError
from w2w_core.pca import ArrayMatrix, PCAConfig, fit_pca

N, D = 150, 1000


@pytest.fixture(scope="module")
def data():
    x = matrix_with_spectrum(separated(20), N, D, np.random.default_rng(0), offset=2.0)
    done = np.ones(N, bool)
    done[[0, 5, 17, 18, 19, 60, 149]] = False  # pending and failed rows, holding garbage
    done[32:48] = False  # one whole chunk not done
    return x, done


@pytest.fixture(scope="module")
def store_url(data, tmp_path_factory):
    url = str(tmp_path_factory.mktemp("pca") / "store")
    write_store(url, *data, rows_per_chunk=16, params_per_chunk=300)
    return url


@pytest.mark.parametrize("method", ["randomized", "gram"])
def test_fit_on_the_store_equals_the_exact_pca_of_its_done_rows(data, store_url, method):
    x, done = data
    sigma, vt = exact_pca(x[done], standardize=True)
    matrix = ZarrRowMatrix(store_url, config=ReadConfig(block_bytes=40 * D * 4))
    assert list(matrix.row_ids) == list(np.flatnonzero(done)) and matrix.n_rows == done.sum()
    fit = fit_pca(matrix, PCAConfig(k=8, method=method, gram_slab_bytes=int(done.sum()) * 4 * 400))
    assert max_relative_error(sigma, fit.singular_values) < 1e-4
    assert subspace_cosine(vt, fit.components) > 0.9999
    in_memory = fit_pca(ArrayMatrix(x[done]), PCAConfig(k=8, method=method))
    assert np.allclose(fit.components, in_memory.components, atol=1e-4)


def test_blocks_are_whole_chunks_and_bytes_read_are_counted(store_url):
    matrix = ZarrRowMatrix(store_url, config=ReadConfig(block_bytes=40 * D * 4))
    assert matrix._row_chunks[0] == 32  # 40 rows of budget -> two whole 16-row chunks
    fit = fit_pca(matrix, PCAConfig(k=4, method="randomized", n_power_iter=1))
    # a row pass reads every block holding a done row: all rows but the all-failed chunk 32..47
    assert [p.bytes_read for p in fit.passes] == [(N - 16) * D * 4] * 5
    gram = fit_pca(matrix, PCAConfig(k=4, method="gram", gram_slab_bytes=int(matrix.n_rows) * 4 * 400))
    # a 400-column budget becomes slabs of one whole 300-column chunk: each chunk decoded once
    assert [p.bytes_read // ((N - 16) * 4) for p in gram.passes] == [300, 300, 300, 100, D]


def test_float16_store_matches_float32(data, tmp_path):
    x, done = data
    url = str(tmp_path / "half")
    write_store(url, x, done, rows_per_chunk=32, dtype="float16")
    half = fit_pca(ZarrRowMatrix(url), PCAConfig(k=6, method="randomized"))
    full = fit_pca(ArrayMatrix(x[done]), PCAConfig(k=6, method="randomized"))
    assert subspace_cosine(full.components.T.astype(np.float64), half.components) > 0.999
    assert half.passes[0].bytes_read == N * D * 2  # every 32-row chunk holds a done row


def test_clear_errors_for_missing_stores_empty_stores_and_missing_gpu(tmp_path, data):
    with pytest.raises(StorageError, match="no weight store at"):
        ZarrRowMatrix(str(tmp_path / "nothing"))
    url = str(tmp_path / "empty")
    write_store(url, data[0][:20], np.zeros(20, bool))
    with pytest.raises(InputError, match="no done rows to fit \\(of 20\\)"):
        ZarrRowMatrix(url)
    try:
        import cupy  # noqa: F401
    except ImportError:
        with pytest.raises(BackendUnavailableError, match="CuPy"):
            ZarrRowMatrix(url, config=ReadConfig(backend="cupy"))


@pytest.mark.integration
def test_distributed_local_cluster_gives_the_same_fit(store_url):
    from distributed import Client, LocalCluster

    config = PCAConfig(k=6, method="randomized", n_power_iter=2)
    threads = fit_pca(ZarrRowMatrix(store_url), config)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        matrix = ZarrRowMatrix(store_url, client=client, config=ReadConfig(block_bytes=40 * D * 4))
        distributed = fit_pca(matrix, config)
    assert np.allclose(distributed.singular_values, threads.singular_values, rtol=1e-5)
    assert np.allclose(distributed.components, threads.components, atol=1e-4)
    assert len(distributed.passes) == len(threads.passes) == 7
