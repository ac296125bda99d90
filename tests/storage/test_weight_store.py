"""The weight store on a local path: round trips, growth, status discipline, verify."""
from __future__ import annotations

import multiprocessing
import pickle
import signal
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import zarr

from storage import format as fmt
from storage.weight_store import StoreSpec, WeightStore, batches
from w2w_core.errors import InputError, LayoutMismatchError, StorageError

ATTRS = ["male", "glasses", "beard"]
REPO = Path(__file__).resolve().parents[2]


def tiny_layout(n_params: int = 24, base_model_hash: str = "h-tiny") -> dict:
    """A layout dict shaped like LoraLayout.to_dict() (rank-1 A/B pairs)."""
    half = n_params // 4
    return {
        "keys": ["down.q.lora_A", "down.q.lora_B", "up.k.lora_A", "up.k.lora_B"],
        "shapes": [(1, half), (half, 1), (1, half), (half, 1)],
        "rank": 1, "alpha": 1.0, "target_modules": ["to_q", "to_k"],
        "base_model_id": "w2w/tiny-sd", "base_model_hash": base_model_hash, "n_params": n_params,
    }


def vectors(n: int, n_params: int = 24, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 0.02, (n, n_params)).astype(np.float32)


def make_store(path: Path, n_rows: int = 10, rows_per_chunk: int = 4, **spec) -> WeightStore:
    return WeightStore.create(StoreSpec(str(path), rows_per_chunk, **spec), tiny_layout(),
                              {"steps": 50, "lr": 1e-3}, ATTRS, n_rows)


def write_batch(store: WeightStore, rows: range, seed: int = 0) -> np.ndarray:
    data = vectors(len(rows), store.n_params, seed)
    store.write_rows(rows, data, [0.5] * len(rows), [seed] * len(rows), "cfg-1")
    return data


def test_batches_are_chunk_aligned_and_cover_all_rows():
    assert batches(10, 4) == [range(0, 4), range(4, 8), range(8, 10)]
    assert batches(0, 4) == []


def test_create_open_round_trip(tmp_path):
    store = make_store(tmp_path / "s.zarr")
    store.assign_identities(range(4), ["a", "b", "c", "d"], np.eye(4, 3, dtype=bool), seeds=[10, 11, 12, 13])
    data = write_batch(store, range(4))

    again = WeightStore.open(str(tmp_path / "s.zarr"), expect_layout=tiny_layout())
    assert (again.n_rows, again.n_params, again.rows_per_chunk) == (10, 24, 4)
    assert again.layout == {**tiny_layout(), "shapes": [[1, 6], [6, 1], [1, 6], [6, 1]]}
    assert again.attribute_names == ATTRS and again.train_config == {"steps": 50, "lr": 1e-3}
    np.testing.assert_array_equal(again.read_rows(range(4)), data)
    np.testing.assert_array_equal(again.read_row(2), data[2])
    ids, attrs = again.identities([0, 3, 5])
    assert ids.tolist() == ["a", "d", ""] and again.identity_seeds([0, 3, 5]).tolist() == [10, 13, -1]
    assert attrs.tolist() == [[True, False, False], [False, False, False], [False, False, False]]
    assert again.counts() == {"pending": 6, "done": 4, "failed": 0, "total": 10}
    assert again.rows_to_train(range(10)) == list(range(4, 10))
    assert pickle.loads(pickle.dumps(again)).read_row(1).tolist() == data[1].tolist()


def test_create_refuses_an_existing_store(tmp_path):
    make_store(tmp_path / "s.zarr")
    with pytest.raises(StorageError, match="create the weight store"):
        make_store(tmp_path / "s.zarr")


def test_open_missing_store_says_create_it(tmp_path):
    with pytest.raises(StorageError, match="no weight store at .*create it first"):
        WeightStore.open(str(tmp_path / "nothing.zarr"))


def test_layout_mismatch_names_the_differing_field(tmp_path):
    make_store(tmp_path / "s.zarr")
    with pytest.raises(LayoutMismatchError, match=r"base_model_hash: the store has 'h-tiny', expected 'h-other'"):
        WeightStore.open(str(tmp_path / "s.zarr"), expect_layout=tiny_layout(base_model_hash="h-other"))
    other_keys = {**tiny_layout(), "keys": ["down.q.lora_A", "down.q.lora_B", "up.v.lora_A", "up.v.lora_B"]}
    with pytest.raises(LayoutMismatchError, match=r"keys\[2\]: the store has 'up.k.lora_A', expected 'up.v.lora_A'"):
        WeightStore.open(str(tmp_path / "s.zarr"), expect_layout=other_keys)


def test_open_or_create_grows_and_checks_batch_size_and_config(tmp_path):
    spec = StoreSpec(str(tmp_path / "s.zarr"), 4)
    store = WeightStore.open_or_create(spec, tiny_layout(), {"steps": 50}, ATTRS, 8)
    data = write_batch(store, range(4))
    grown = WeightStore.open_or_create(spec, tiny_layout(), {"steps": 50}, ATTRS, 12)
    assert grown.n_rows == 12 and grown.counts()["done"] == 4
    np.testing.assert_array_equal(grown.read_rows(range(4)), data)
    with pytest.raises(InputError, match="rows_per_chunk=4, but the batch size is 8"):
        WeightStore.open_or_create(StoreSpec(spec.url, 8), tiny_layout(), {"steps": 50}, ATTRS, 12)
    with pytest.raises(InputError, match="steps: the store has 50, expected 80"):
        WeightStore.open_or_create(spec, tiny_layout(), {"steps": 80}, ATTRS, 12)
    with pytest.raises(LayoutMismatchError, match="n_params"):
        WeightStore.open_or_create(spec, tiny_layout(n_params=32), {"steps": 50}, ATTRS, 12)


def test_grow_keeps_data_without_rewriting_chunks(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=8)
    data = write_batch(store, range(4))
    chunk = tmp_path / "s.zarr" / "weights" / "c" / "0" / "0"
    before = chunk.read_bytes(), chunk.stat().st_mtime_ns
    store.grow(20)
    assert store.n_rows == 20 and (chunk.read_bytes(), chunk.stat().st_mtime_ns) == before
    reopened = WeightStore.open(str(tmp_path / "s.zarr"))
    assert all(a.shape[0] == 20 for a in reopened._arrays.values())
    np.testing.assert_array_equal(reopened.read_rows(range(4)), data)
    assert reopened.rows_to_train(range(20)) == list(range(4, 20))
    with pytest.raises(InputError, match="cannot shrink"):
        reopened.grow(10)


def test_crash_before_status_leaves_rows_pending(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s.zarr")
    real_write = WeightStore._write

    def crash_on_status(self, name, rows, values):
        if name == "status" and (values == 1).all():
            raise KeyboardInterrupt("killed between data and status")
        return real_write(self, name, rows, values)

    monkeypatch.setattr(WeightStore, "_write", crash_on_status)
    with pytest.raises(KeyboardInterrupt):
        write_batch(store, range(4))
    monkeypatch.undo()
    reopened = WeightStore.open(str(tmp_path / "s.zarr"))
    assert np.abs(reopened.read_rows(range(4))).sum() > 0  # the data did land
    assert reopened.counts()["done"] == 0
    assert reopened.rows_to_train(range(4)) == [0, 1, 2, 3]


def test_non_finite_or_misshapen_vectors_are_refused_and_nothing_is_done(tmp_path):
    store = make_store(tmp_path / "s.zarr")
    data = vectors(4)
    data[2, 5] = np.nan
    with pytest.raises(InputError, match=r"rows \[2\] have non-finite"):
        store.write_rows(range(4), data, [0.1] * 4, [0] * 4, "cfg")
    with pytest.raises(LayoutMismatchError, match="each row must have 24 params"):
        store.write_rows(range(4), vectors(4, 30), [0.1] * 4, [0] * 4, "cfg")
    assert store.counts()["done"] == 0
    assert np.abs(store.read_rows(range(4))).sum() == 0  # nothing written at all


def test_mark_failed_failures_and_retry(tmp_path):
    store = make_store(tmp_path / "s.zarr")
    store.assign_identities(range(4, 8), ["id40", "id41", "id42", "id43"], np.zeros((4, 3), bool))
    write_batch(store, range(4))
    assert store.mark_failed([3, 4, 5], "CUDA out of memory") == [4, 5]  # done row 3 stays done
    assert store.failures() == [(4, "id40", "CUDA out of memory"), (5, "id41", "CUDA out of memory")]
    assert store.counts() == {"pending": 4, "done": 4, "failed": 2, "total": 10}
    assert store.rows_to_train(range(4, 8)) == [4, 5, 6, 7]
    write_batch(store, range(4, 8), seed=1)
    assert store.failures() == [] and store.counts()["done"] == 8


def test_float16_option(tmp_path):
    store = make_store(tmp_path / "s.zarr", dtype="float16")
    data = write_batch(store, range(4))
    back = store.read_rows(range(4))
    assert back.dtype == np.float16
    np.testing.assert_array_equal(back, data.astype(np.float16))
    too_big = vectors(4)
    too_big[1, 0] = 1e6  # beyond float16's range: would store inf
    with pytest.raises(InputError, match=r"rows \[5\].*float16 range"):
        store.write_rows(range(4, 8), too_big, [0.1] * 4, [0] * 4, "cfg")
    assert store.verify().ok


def test_verify_detects_a_corrupted_chunk_file(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=10)
    for rows in store.batches():
        write_batch(store, rows)
    chunk = tmp_path / "s.zarr" / "weights" / "c" / "1" / "0"
    raw = bytearray(chunk.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    chunk.write_bytes(bytes(raw))

    report = store.verify()
    assert report.checked == 10 and report.bad_rows == [4, 5, 6, 7]
    assert "weights chunk (1, 0) unreadable" in report.bad[0].reason
    store.verify(mark_failed=True)
    assert store.rows_to_train(range(10)) == [4, 5, 6, 7]
    write_batch(store, range(4, 8), seed=3)  # the batch rewrites its whole chunk
    assert store.verify().ok and store.counts()["done"] == 10


def test_verify_detects_checksum_mismatch_across_param_chunks(tmp_path):
    store = make_store(tmp_path / "s.zarr", params_per_chunk=10)  # 3 param chunks per row chunk
    for rows in store.batches():
        write_batch(store, rows)
    assert store.verify().ok
    raw = zarr.open_array(str(tmp_path / "s.zarr" / "weights"), mode="r+")
    raw[5, 22] = 0.75  # silent change: the chunk decodes, the row's bytes differ
    (tmp_path / "s.zarr" / "weights" / "c" / "2" / "1").unlink()  # a lost object reads as zeros
    report = store.verify()
    assert report.bad_rows == [5, 8, 9]
    assert all("checksum mismatch" in b.reason for b in report.bad)


def test_corrupt_edge_chunk_can_be_rewritten_after_verify(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=10)
    for rows in store.batches():
        write_batch(store, rows)
    chunk = tmp_path / "s.zarr" / "weights" / "c" / "2" / "0"  # rows 8-9: a partial edge chunk
    chunk.write_bytes(b"garbage")
    with pytest.raises(StorageError, match="holds done rows; rewrite every row of its batch"):
        write_batch(store, range(8, 9))  # row 9 is still done: its chunk is not dropped under it
    assert store.verify(mark_failed=True).bad_rows == [9]  # row 8 went back to pending
    data = write_batch(store, range(8, 10), seed=9)
    np.testing.assert_array_equal(store.read_rows(range(8, 10)), data)
    assert store.verify().ok


def test_corrupt_chunk_without_done_rows_is_rewritten_row_by_row(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=10)
    for rows in store.batches():
        write_batch(store, rows)
    (tmp_path / "s.zarr" / "weights" / "c" / "1" / "0").write_bytes(b"garbage")  # rows 4-7
    assert store.verify(mark_failed=True).bad_rows == [4, 5, 6, 7]
    data = vectors(4, seed=5)
    for i, row in enumerate(range(4, 8)):  # a batch task storing each identity once trained
        store.write_rows([row], data[i:i + 1], [0.5], [5], "cfg-1")
    np.testing.assert_array_equal(store.read_rows(range(4, 8)), data)
    assert store.verify().ok and store.counts()["done"] == 10


def _write_batches(url: str, batch_ids: list[int]) -> list[int]:
    store = WeightStore.open(url)
    for b in batch_ids:
        rows = store.batches()[b]
        store.write_rows(rows, vectors(len(rows), seed=b), [b] * len(rows), [b] * len(rows), "cfg")
    return batch_ids


def test_concurrent_writers_on_their_own_chunks_lose_nothing(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=40, rows_per_chunk=4)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=ctx) as pool:
        list(pool.map(_write_batches, [store.url] * 2, [[0, 2, 4, 6, 8], [1, 3, 5, 7, 9]]))
    assert store.counts()["done"] == 40
    for b, rows in enumerate(store.batches()):
        np.testing.assert_array_equal(store.read_rows(rows), vectors(4, seed=b))
    assert store.verify().ok


def test_read_only_store_refuses_writes(tmp_path):
    make_store(tmp_path / "s.zarr")
    store = WeightStore.open(str(tmp_path / "s.zarr"), read_only=True)
    with pytest.raises(InputError, match="read-only"):
        write_batch(store, range(4))


WRITER = """
import sys
from storage.weight_store import WeightStore
from tests.storage.test_weight_store import vectors
store = WeightStore.open(sys.argv[1])
for b, rows in enumerate(store.batches()):
    print(f"batch {b}", flush=True)
    store.write_rows(rows, vectors(len(rows), store.n_params, b), [0.0] * len(rows), [b] * len(rows), "cfg")
print("finished", flush=True)
"""


def test_kill_9_mid_run_leaves_whole_batches_and_a_rerun_completes_the_rest(tmp_path):
    n_params = 400_000  # 6.4 MB per batch: the kill lands while a batch is being written
    store = WeightStore.create(StoreSpec(str(tmp_path / "s.zarr"), 4), tiny_layout(n_params), {}, ATTRS, 64)
    proc = subprocess.Popen([sys.executable, "-c", WRITER, store.url], cwd=REPO, stdout=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if line.strip() == "batch 4":
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)

    done = set(store.done_rows().tolist())
    finished = [b for b, rows in enumerate(store.batches()) if set(rows) <= done]
    assert done == {r for b in finished for r in store.batches()[b]}  # whole batches only
    assert finished == list(range(len(finished))) and len(finished) >= 4
    assert store.verify().ok
    first_chunk = tmp_path / "s.zarr" / "weights" / "c" / "0" / "0"
    stamp = first_chunk.stat().st_mtime_ns

    todo = store.rows_to_train(range(64))
    assert todo == list(range(4 * len(finished), 64))
    for b, rows in enumerate(store.batches()):
        if rows.start in todo:
            store.write_rows(rows, vectors(4, n_params, b), [0.0] * 4, [b] * 4, "cfg")
    assert store.counts()["done"] == 64 and store.verify().ok
    assert first_chunk.stat().st_mtime_ns == stamp  # finished batches were not written again
    for b in (0, len(finished), 15):
        np.testing.assert_array_equal(store.read_rows(store.batches()[b]), vectors(4, n_params, b))


def test_bad_spec_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(InputError, match="unknown store codec 'lzma'"):
        make_store(tmp_path / "s.zarr", codec="lzma")
    with pytest.raises(InputError, match="dtype must be one of"):
        make_store(tmp_path / "s.zarr", dtype="float64")
    assert not (tmp_path / "s.zarr").exists()
    make_store(tmp_path / "s.zarr")  # the URL is still free


def test_write_chunk_stores_a_batch_with_one_write_per_array_and_keeps_done_rows(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s.zarr", n_rows=10, rows_per_chunk=4)
    first = vectors(4, seed=1)
    store.write_rows([5], first[1:2], [0.1], [0], "old")  # row 5 of chunk 1 is done already
    writes: list[tuple[str, int]] = []
    original = WeightStore._put
    monkeypatch.setattr(WeightStore, "_put", lambda self, name, start, values: (
        writes.append((name, len(values))), original(self, name, start, values))[1])
    store.write_chunk([4, 7], first[[0, 3]], [0.4, 0.7], [1, 1], ["h4", "h7"], failed={6: "diverged"})
    assert sorted(writes) == sorted([(n, 4) for n in ("weights", *fmt.ROW_ARRAYS)])  # whole chunk, once each
    assert writes[-1][0] == "status"  # last
    np.testing.assert_array_equal(store.read_rows([4, 5, 7]), first[[0, 1, 3]])
    assert store.status(range(4, 8)).tolist() == [fmt.DONE, fmt.DONE, fmt.FAILED, fmt.DONE]
    assert store.failures() == [(6, "", "diverged")] and store.verify().ok
    with pytest.raises(InputError, match="one row chunk"):
        store.write_chunk([3, 4], first[:2], [0, 0], [0, 0], ["h", "h"])


def test_write_chunk_cut_short_before_status_leaves_rows_not_done(tmp_path, monkeypatch):
    store = make_store(tmp_path / "s.zarr", n_rows=8, rows_per_chunk=4)
    original = WeightStore._put

    def crash_at_status(self, name, start, values):
        if name == "status":
            raise KeyboardInterrupt("killed")
        original(self, name, start, values)

    monkeypatch.setattr(WeightStore, "_put", crash_at_status)
    with pytest.raises(KeyboardInterrupt):
        store.write_chunk([0, 1, 2, 3], vectors(4), [0] * 4, [0] * 4, ["h"] * 4)
    assert store.counts()["done"] == 0 and store.verify().ok


def test_write_chunk_over_an_unreadable_chunk(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=8, rows_per_chunk=4)
    store.write_chunk([0, 1, 2, 3], vectors(4), [0] * 4, [0] * 4, ["h"] * 4)
    (tmp_path / "s.zarr" / "weights" / "c" / "0" / "0").write_bytes(b"garbage")
    with pytest.raises(StorageError, match="--verify --mark-failed"):
        store.write_chunk([0], vectors(1, seed=3), [0], [0], ["h"])  # rows 1-3 say done: refused
    store.verify(mark_failed=True)
    again = vectors(4, seed=4)
    store.write_chunk([0, 1, 2, 3], again, [0] * 4, [0] * 4, ["h"] * 4)
    np.testing.assert_array_equal(store.read_rows(range(4)), again)
    assert store.verify().ok


def test_reading_and_labelling_no_rows_is_a_no_op(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=4)
    assert store.identities([])[0].shape == (0,) and store.read_rows([]).shape == (0, 24)
    store.assign_identities([], [], np.zeros((0, 3), bool))
    assert store.counts([]) == {"pending": 0, "done": 0, "failed": 0, "total": 0}


def test_a_batch_of_only_failures_marks_them_and_writes_no_rows(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=8, rows_per_chunk=4)
    store.write_chunk([], np.zeros((0, 24), np.float32), [], [], [], failed={1: "diverged", 2: "no images"})
    assert store.status(range(4)).tolist() == [fmt.PENDING, fmt.FAILED, fmt.FAILED, fmt.PENDING]
    assert [reason for _, _, reason in store.failures()] == ["diverged", "no images"]


def test_reads_take_repeated_rows_in_the_order_asked(tmp_path):
    store = make_store(tmp_path / "s.zarr", n_rows=8)
    data = write_batch(store, range(4))
    np.testing.assert_array_equal(store.read_rows([2, 0, 2]), data[[2, 0, 2]])
    with pytest.raises(InputError, match="duplicates"):
        store.write_rows([1, 1], data[:2], [0, 0], [0, 0], "h")
