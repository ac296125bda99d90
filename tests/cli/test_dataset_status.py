"""`w2w dataset status [--verify] [--mark-failed]` on a local store."""
from __future__ import annotations

from typer.testing import CliRunner

from cli.main import app as w2w
from tests.storage.test_weight_store import make_store, write_batch


def test_status_counts_reasons_and_verify(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=12)
    write_batch(store, range(4))
    write_batch(store, range(4, 8), seed=1)
    store.mark_failed(range(8, 10), "loss went NaN")
    runner = CliRunner()

    plain = runner.invoke(w2w, ["dataset", "status", store.url])
    assert plain.exit_code == 0, plain.output
    assert "done 8  failed 2  pending 2  (of 12)" in plain.output
    assert "2 x loss went NaN" in plain.output

    chunk = tmp_path / "s.zarr" / "weights" / "c" / "1" / "0"
    chunk.write_bytes(chunk.read_bytes()[:-3] + b"bad")
    checked = runner.invoke(w2w, ["dataset", "status", store.url, "--verify"])
    assert checked.exit_code == 1
    assert "verify: 8 done rows re-read, 4 bad" in checked.output and "row 5: weights chunk (1, 0)" in checked.output
    assert store.counts()["done"] == 8  # plain --verify only reports

    marked = runner.invoke(w2w, ["dataset", "status", store.url, "--verify", "--mark-failed"])
    assert marked.exit_code == 1 and "now marked failed" in marked.output
    assert store.counts() == {"pending": 2, "done": 4, "failed": 6, "total": 12}
    assert runner.invoke(w2w, ["dataset", "status", store.url, "--verify"]).exit_code == 0


def test_status_of_a_missing_store_is_a_clear_error(tmp_path):
    result = CliRunner().invoke(w2w, ["dataset", "status", str(tmp_path / "none.zarr")])
    assert result.exit_code == 2 and "no weight store at" in result.output
