"""The weight store: one row per identity model, on any fsspec URL.

`weights[identity, param]` holds each identity's flattened LoRA vector
(the paper's data matrix of Sec. 3, one model per row). Per-row arrays
beside it say whether a row is pending, done or failed, and how it was made.
Everything is chunked by `rows_per_chunk`, which equals the training batch
size, so a batch task owns whole chunks and two writers never touch the same
object.

A row becomes done only after its data is written and read back equal:
status is written last, so a crash leaves the row pending, never half-done.
`verify()` re-reads done rows against their stored CRC32 and reports any row
whose data is unreadable, non-finite or changed.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import zarr

from storage import format as fmt
from storage.boundary import is_s3, is_transport_error, redact_url, storage_errors
from storage.repair import rewrite_chunks_with
from storage.rows import checked_rows, read_rows, row_checksums, write_rows
from storage.s3 import ensure_bucket, resolve_storage_options
from storage.safety import check_arrays_are_safe
from storage.spec import StoreSpec, batches, check_reopen, check_spec, group_exists, holds_only_records, n_params_of
from storage.verify import VerifyReport, verify_rows
from w2w_core.errors import InputError, LayoutMismatchError, StorageError, StoreNotFoundError


class WeightStore:
    """An open weight store. Create with `create`, `open` or `open_or_create`."""

    def __init__(self, group: zarr.Group, url: str, storage_options: Mapping[str, Any] | None,
                 read_only: bool, given_options: Mapping[str, Any] | None = None) -> None:
        self._group = group
        self.url = url
        self._options = storage_options  # as used (from the AWS env vars when none were given)
        self._given_options = given_options  # as the caller gave them: what a pickle carries
        self.read_only = read_only
        self._arrays = {name: group[name] for name in (fmt.WEIGHTS, fmt.ATTRIBUTES, *fmt.ROW_ARRAYS)}

    # ---- creating and opening -------------------------------------------------

    @classmethod
    def create(cls, spec: StoreSpec, layout: Mapping[str, Any], train_config: Mapping[str, Any],
               attribute_names: Sequence[str], n_rows: int) -> "WeightStore":
        """A new, empty store of `n_rows` pending rows. Fails if one exists at `spec.url`."""
        check_spec(spec, n_rows)
        layout = fmt.as_json(layout, "layout")
        train_config = fmt.as_json(train_config, "train_config")
        n_params = n_params_of(layout)
        options = resolve_storage_options(spec.url, spec.storage_options)
        if is_s3(spec.url):
            ensure_bucket(spec.url, options)
        with storage_errors(spec.url, "create the weight store", options):
            mode = "a" if holds_only_records(spec.url, options) else "w-"  # never over data that is not ours
            group = zarr.open_group(spec.url, mode=mode, zarr_format=3, storage_options=options)
            fmt.create_arrays(group, n_rows, n_params, spec.rows_per_chunk, spec.params_per_chunk,
                              spec.dtype, spec.codec, list(attribute_names))
            group.attrs.update({  # last: a create cut short leaves no w2w_format, so never opens as a store
                "w2w_format": fmt.FORMAT_VERSION, "layout": layout, "train_config": train_config,
                "attribute_names": list(attribute_names), "rows_per_chunk": spec.rows_per_chunk,
                "dtype": spec.dtype, "codec": spec.codec,
            })
        return cls(group, spec.url, options, read_only=False, given_options=spec.storage_options)

    @classmethod
    def open(cls, url: str, storage_options: Mapping[str, Any] | None = None,
             expect_layout: Mapping[str, Any] | None = None, read_only: bool = False) -> "WeightStore":
        """Open an existing store; with `expect_layout`, fail unless the stored layout equals it."""
        options = resolve_storage_options(url, storage_options)
        check_arrays_are_safe(url, (fmt.WEIGHTS, fmt.ATTRIBUTES, fmt.ATTRIBUTE_NAMES, *fmt.ROW_ARRAYS), options)
        with storage_errors(url, "open the weight store", options):
            try:
                group = zarr.open_group(url, mode="r" if read_only else "r+", zarr_format=3,
                                        storage_options=options)
            except (FileNotFoundError, zarr.errors.GroupNotFoundError) as err:
                raise StoreNotFoundError(f"no weight store at {redact_url(url)}: check the path, or create it first "
                                         f"with `w2w dataset build {redact_url(url)} --n N`") from err
            fmt.check_format(group, url)
            store = cls(group, url, options, read_only, given_options=storage_options)
        if expect_layout is not None:
            store.check_layout(expect_layout)
        return store

    @classmethod
    def open_or_create(cls, spec: StoreSpec, layout: Mapping[str, Any], train_config: Mapping[str, Any],
                       attribute_names: Sequence[str], n_rows: int) -> "WeightStore":
        """Open the store at `spec.url` (checking it matches) and grow it to `n_rows`, or create it."""
        options = resolve_storage_options(spec.url, spec.storage_options)
        with storage_errors(spec.url, "look for the weight store", options):
            exists = group_exists(spec.url, options)
        if not exists:
            return cls.create(spec, layout, train_config, attribute_names, n_rows)
        store = cls.open(spec.url, spec.storage_options, expect_layout=layout)
        check_reopen(store.url, store._group.attrs, spec, train_config, attribute_names)
        if n_rows > store.n_rows:
            store.grow(n_rows)
        return store

    def check_layout(self, expected: Mapping[str, Any]) -> None:
        """Raise LayoutMismatchError naming each field where the store's layout differs."""
        lines = fmt.mapping_differences(self.layout, fmt.as_json(expected, "layout"))
        if lines:
            raise LayoutMismatchError(
                f"the weight store at {redact_url(self.url)} was built for another LoRA layout "
                "or base model:\n  " + "\n  ".join(lines)
                + "\nUse a new store URL for this model, or the model the store was built with."
            )

    # ---- what it holds ------------------------------------------------------------

    @property
    def n_rows(self) -> int:
        return self._arrays[fmt.WEIGHTS].shape[0]

    @property
    def n_params(self) -> int:
        return self._arrays[fmt.WEIGHTS].shape[1]

    @property
    def rows_per_chunk(self) -> int:
        return int(self._group.attrs["rows_per_chunk"])

    @property
    def dtype(self) -> np.dtype:
        return self._arrays[fmt.WEIGHTS].dtype

    @property
    def layout(self) -> dict[str, Any]:
        return dict(self._group.attrs["layout"])

    @property
    def train_config(self) -> dict[str, Any]:
        return dict(self._group.attrs["train_config"])

    @property
    def attribute_names(self) -> list[str]:
        return list(self._group.attrs["attribute_names"])

    @property
    def weights(self) -> zarr.Array:
        """The `weights` array itself, for readers that stream it (the PCA); write through write_rows."""
        return self._arrays[fmt.WEIGHTS]

    def batches(self) -> list[range]:
        """Chunk-aligned row ranges of this store, one per batch task."""
        return batches(self.n_rows, self.rows_per_chunk)

    def __repr__(self) -> str:
        return (f"WeightStore(url={redact_url(self.url)!r}, n_rows={self.n_rows}, n_params={self.n_params}, "
                f"rows_per_chunk={self.rows_per_chunk}, dtype={self.dtype})")

    def __reduce__(self) -> tuple:
        """Pickles as (url, options given) and reopens on the other side (Dask/Prefect workers).

        Credentials that came from the AWS env vars are not pickled: the worker
        reads its own environment.
        """
        return (_reopen, (self.url, self._given_options, self.read_only))

    # ---- growing and labelling ----------------------------------------------------

    def grow(self, n_rows: int) -> None:
        """Resize every row array to `n_rows`; existing chunks are not rewritten.

        Run it from one place (the flow) before batches for the new rows start.
        """
        self._writable()
        if n_rows < self.n_rows:
            raise InputError(f"cannot shrink the store from {self.n_rows} to {n_rows} rows "
                             "(that would delete identities); make a new store instead")
        if n_rows == self.n_rows:
            return
        with storage_errors(self.url, "grow the weight store", self._options):
            for array in self._arrays.values():
                array.resize((n_rows, *array.shape[1:]))

    def assign_identities(self, rows: Iterable[int], identity_ids: Sequence[str], attributes: np.ndarray,
                          seeds: Sequence[int] | None = None) -> None:
        """Record each row's identity id, attribute labels and (embedded world) seed. Idempotent.

        A done row keeps its identity: giving it another id is an error. Write
        only rows of chunks you own (a batch its rows, or the flow before fan-out).
        """
        self._writable()
        rows = self._rows(rows)
        ids = np.array([str(i) for i in identity_ids], dtype=object)
        seeds = np.full(len(rows), -1, np.int64) if seeds is None else np.asarray(seeds, np.int64).reshape(-1)
        attributes = np.asarray(attributes, dtype=bool)
        want = (len(rows), len(self.attribute_names))
        if len(ids) != len(rows) or len(seeds) != len(rows) or attributes.shape != want:
            raise InputError(f"assign_identities needs one id, one seed and {want[1]} attributes per row: got "
                             f"{len(rows)} rows, {len(ids)} ids, {len(seeds)} seeds, attributes {attributes.shape}")
        if any(not i for i in ids):
            raise InputError("identity ids must be non-empty strings")
        with storage_errors(self.url, "write identity labels", self._options):
            status, stored = self._read("status", rows), self._read(fmt.IDENTITY, rows)
            clash = (status == fmt.DONE) & (stored != ids)
            if clash.any():
                i = int(np.flatnonzero(clash)[0])
                raise InputError(f"row {rows[i]} is done as identity {stored[i]!r}; refusing to "
                                 f"relabel it as {ids[i]!r} (the dataset already has a model for it)")
            self._write(fmt.IDENTITY, rows, ids)
            self._write("identity_seed", rows, seeds)
            self._write(fmt.ATTRIBUTES, rows, attributes)

    def identities(self, rows: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
        """(identity ids, attribute labels) of `rows` (repeats allowed); id "" means not assigned yet."""
        with storage_errors(self.url, "read identities", self._options):
            return self._read_any(fmt.IDENTITY, rows), self._read_any(fmt.ATTRIBUTES, rows)

    def identity_seeds(self, rows: Iterable[int]) -> np.ndarray:
        """The embedded world's seed of each of `rows` (-1: not a world identity, or not assigned)."""
        with storage_errors(self.url, "read identity seeds", self._options):
            return self._read_any("identity_seed", rows)

    # ---- the batch task's calls --------------------------------------------------

    def status(self, rows: Iterable[int] | None = None) -> np.ndarray:
        """Status codes (0 pending, 1 done, 2 failed) of `rows`, or of all rows."""
        with storage_errors(self.url, "read row status", self._options):
            if rows is None:
                return self._arrays["status"][:]
            return self._read("status", self._rows(rows))

    def rows_to_train(self, rows: Iterable[int]) -> list[int]:
        """The rows among `rows` that are not done (pending or failed), in the given order."""
        rows = self._rows(rows)
        return [int(r) for r, s in zip(rows, self.status(rows)) if s != fmt.DONE]

    def write_rows(self, rows: Iterable[int], vectors: np.ndarray, final_losses: Sequence[float],
                   training_seeds: Sequence[int], config_hash: str) -> None:
        """Store trained rows, read them back, and only then mark them done.

        Nothing is marked done unless every vector is finite, of the store's
        width, and reads back bit-identical with a matching checksum.
        """
        self._writable()
        rows = self._rows(rows)
        data = self._checked_vectors(rows, vectors)
        losses = np.asarray(final_losses, dtype=np.float32).reshape(-1)
        seeds = np.asarray(training_seeds, dtype=np.int64).reshape(-1)
        if len(losses) != len(rows) or len(seeds) != len(rows):
            raise InputError(f"write_rows needs one final loss and one training seed per row: "
                             f"{len(rows)} rows, {len(losses)} losses, {len(seeds)} seeds")
        sums = row_checksums(data)
        with storage_errors(self.url, "write rows", self._options):
            self._write_status(rows, fmt.PENDING, only_if_not=fmt.PENDING)
            _all_done([  # independent objects: written concurrently, all finished before status
                lambda: self._write_weights(rows, data),
                lambda: self._write("row_checksum", rows, sums),
                lambda: self._write("final_loss", rows, losses),
                lambda: self._write("training_seed", rows, seeds),
                lambda: self._write("config_hash", rows, np.array([config_hash] * len(rows), dtype=object)),
                lambda: self._write("failure_reason", rows, np.array([""] * len(rows), dtype=object)),
            ])
            self._check_read_back(rows, data, sums)
            self._write("status", rows, np.full(len(rows), fmt.DONE, np.uint8))

    def write_chunk(self, rows: Sequence[int], vectors: np.ndarray, final_losses: Sequence[float],
                    training_seeds: Sequence[int], config_hashes: Sequence[str],
                    failed: Mapping[int, str] | None = None) -> None:
        """Store one batch's outcome with one whole-chunk write per array, then status.

        `rows` (trained now, one vector each) become done and the rows of `failed`
        (row -> reason) failed; every other row of their row chunk keeps what it
        has. Each array's chunk is read once, changed in memory and written whole
        (no per-row read-modify-write); the weights are read back and checked
        before the status chunk, written last, marks anything done.
        """
        self._writable()
        rows, failed = self._rows(rows), dict(failed or {})
        data = self._checked_vectors(rows, vectors)
        per_row = {"final_loss": np.asarray(final_losses, np.float32),
                   "training_seed": np.asarray(training_seeds, np.int64),
                   "config_hash": np.asarray(list(config_hashes), object)}
        if any(len(v) != len(rows) for v in per_row.values()):
            raise InputError(f"write_chunk needs one final loss, training seed and config hash per row ({len(rows)})")
        start, stop = self._one_chunk(np.concatenate([rows, np.array(list(failed), dtype=np.int64)]))
        per_row.update(row_checksum=row_checksums(data), failure_reason=np.full(len(rows), "", object))
        with storage_errors(self.url, "write a batch", self._options):
            reads = [lambda n=n: self._arrays[n][start:stop] for n in fmt.ROW_ARRAYS]
            chunk = dict(zip(fmt.ROW_ARRAYS, _all_done(reads)))
            status = chunk.pop("status")
            rewritten = rows[status[rows - start] == fmt.DONE]
            if len(rewritten):  # done rows being replaced are not done while the new bytes are in flight
                self._write_status(rewritten, fmt.PENDING)
            for name, values in per_row.items():
                chunk[name][rows - start] = values
            for row, reason in failed.items():
                chunk["failure_reason"][row - start] = reason[: fmt.MAX_REASON_CHARS]
            chunk[fmt.WEIGHTS] = self._chunk_weights(start, stop, rows)
            chunk[fmt.WEIGHTS][rows - start] = data
            _all_done([lambda n=n, v=v: self._put(n, start, v) for n, v in chunk.items()])
            self._check_read_back(rows, data, per_row["row_checksum"])
            status[rows - start] = fmt.DONE
            status[np.array(list(failed), dtype=np.int64) - start] = fmt.FAILED
            self._put("status", start, status)

    def mark_failed(self, rows: Iterable[int], reason: str) -> list[int]:
        """Mark rows that are not done as failed with `reason`; returns the rows marked.

        Done rows stay done: a later failure in the same batch does not undo them.
        """
        self._writable()
        rows = np.array(self.rows_to_train(rows), dtype=np.int64)
        self._write_failed(rows, [reason] * len(rows))
        return [int(r) for r in rows]

    # ---- reading ---------------------------------------------------------------------

    def read_rows(self, rows: Iterable[int]) -> np.ndarray:
        """The stored vectors of `rows`, repeats allowed (any status: check `status` for done rows)."""
        with storage_errors(self.url, "read rows", self._options):
            return self._read_any(fmt.WEIGHTS, rows)

    def read_row(self, row: int) -> np.ndarray:
        return self.read_rows([row])[0]

    def done_rows(self) -> np.ndarray:
        """Indices of all done rows."""
        return np.flatnonzero(self.status() == fmt.DONE)

    def counts(self, rows: Iterable[int] | None = None) -> dict[str, int]:
        """How many of `rows` (default: all) are pending, done and failed, and how many in total."""
        status = self.status(rows)
        counts = {name: int((status == code).sum()) for code, name in fmt.STATUS_NAMES.items()}
        return {**counts, "total": int(status.size)}

    def failures(self) -> list[tuple[int, str, str]]:
        """(row, identity id, reason) for every failed row."""
        rows = np.flatnonzero(self.status() == fmt.FAILED)
        if not len(rows):
            return []
        with storage_errors(self.url, "read failures", self._options):
            ids = self._read(fmt.IDENTITY, rows)
            reasons = self._read("failure_reason", rows)
        return [(int(r), str(i), str(m)) for r, i, m in zip(rows, ids, reasons)]

    def verify(self, mark_failed: bool = False) -> VerifyReport:
        """Re-read every done row; report unreadable, non-finite or changed ones.

        With `mark_failed`, bad rows become failed (reason "verify: ...") so the
        next build retrains them.
        """
        done = self.done_rows()
        with storage_errors(self.url, "verify rows", self._options):
            report = verify_rows(self._arrays[fmt.WEIGHTS], self._arrays["row_checksum"], done)
        if mark_failed and report.bad:
            self._writable()
            self._write_failed(np.array([b.row for b in report.bad]),
                               [f"verify: {b.reason}" for b in report.bad])
        return report

    # ---- internals ---------------------------------------------------------------------

    def _writable(self) -> None:
        if self.read_only:
            raise InputError(f"the store at {redact_url(self.url)} was opened read-only")

    def _rows(self, rows: Iterable[int]) -> np.ndarray:
        return checked_rows(rows, self.n_rows)

    def _checked_vectors(self, rows: np.ndarray, vectors: np.ndarray) -> np.ndarray:
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[1] != self.n_params:
            raise LayoutMismatchError(
                f"vectors of shape {vectors.shape} do not fit the store: each row must have "
                f"{self.n_params} params (the store's layout); was it flattened with another layout?")
        if vectors.shape[0] != len(rows):
            raise InputError(f"{len(rows)} rows but {vectors.shape[0]} vectors")
        with np.errstate(over="ignore", invalid="ignore"):
            data = np.ascontiguousarray(vectors.astype(self.dtype))
        bad = ~np.isfinite(data).all(axis=1)
        if bad.any():
            raise InputError(
                f"rows {rows[bad].tolist()} have non-finite weights (NaN/inf"
                f"{' or beyond float16 range' if self.dtype == np.float16 else ''}); nothing was "
                "written for this batch: mark them failed and write the others")
        return data

    def _read_any(self, name: str, rows: Iterable[int]) -> np.ndarray:
        """Rows of one array in the order asked, each distinct row read once."""
        unique, back = np.unique(checked_rows(rows, self.n_rows, allow_repeats=True), return_inverse=True)
        return self._read(name, unique)[back.reshape(-1)]

    def _read(self, name: str, rows: np.ndarray) -> np.ndarray:
        return read_rows(self._arrays[name], rows)

    def _write(self, name: str, rows: np.ndarray, values: np.ndarray) -> None:
        write_rows(self._arrays[name], rows, values)

    def _write_weights(self, rows: np.ndarray, data: np.ndarray) -> None:
        """Write weight rows; a corrupt chunk holding no done row besides these is rewritten whole."""
        try:
            self._write(fmt.WEIGHTS, rows, data)
        except Exception as err:  # decoding a corrupt chunk raises assorted types
            if is_transport_error(err):
                raise
            if not rewrite_chunks_with(self._arrays[fmt.WEIGHTS], self._arrays["status"], rows, data):
                raise StorageError(
                    f"could not update weight chunks of rows {rows.tolist()} at {redact_url(self.url)}: "
                    f"the existing chunk is unreadable ({type(err).__name__}: {err}) and holds done rows; "
                    "rewrite every row of its batch together, or mark them failed first "
                    "(`w2w dataset status --verify --mark-failed`)") from err

    def _put(self, name: str, start: int, values: np.ndarray) -> None:
        """Write rows start..start+len(values) of one array (whole chunks when the span is a chunk)."""
        self._arrays[name][start:start + len(values)] = values

    def _one_chunk(self, rows: np.ndarray) -> tuple[int, int]:
        """The row span of the one row chunk holding all of `rows` (the unit a batch owns)."""
        chunks = np.unique(rows // self.rows_per_chunk)
        if len(chunks) != 1:
            raise InputError(f"a batch write covers one row chunk of {self.rows_per_chunk} rows; rows "
                             f"{rows.min()}..{rows.max()} span {len(chunks)} chunks")
        start = int(chunks[0]) * self.rows_per_chunk
        return start, min(start + self.rows_per_chunk, self.n_rows)

    def _chunk_weights(self, start: int, stop: int, rows: np.ndarray) -> np.ndarray:
        """The weight rows start..stop as stored; a chunk that no longer decodes is refused if it holds
        done rows besides `rows`, else replaced by fill values (nothing in it was worth keeping)."""
        weights = self._arrays[fmt.WEIGHTS]
        try:
            return weights[start:stop]
        except Exception as err:  # decoding a corrupt chunk raises assorted types
            if is_transport_error(err):
                raise
            others = np.setdiff1d(np.arange(start, stop), rows)
            if len(others) and (self._read("status", others) == fmt.DONE).any():
                raise StorageError(
                    f"could not update the weight chunk of rows {start}..{stop - 1} at {redact_url(self.url)}: "
                    f"it is unreadable ({type(err).__name__}: {err}) and holds done rows; mark them failed "
                    "first (`w2w dataset status --verify --mark-failed`) so the batch retrains them") from err
            return np.full((stop - start, self.n_params), weights.fill_value, dtype=weights.dtype)

    def _check_read_back(self, rows: np.ndarray, data: np.ndarray, sums: np.ndarray) -> None:
        if not len(rows):
            return
        back, stored_sums = _all_done([lambda: self._read(fmt.WEIGHTS, rows),
                                       lambda: self._read("row_checksum", rows)])
        same = (back.view(np.uint8).reshape(len(rows), -1) == data.view(np.uint8).reshape(len(rows), -1)).all(axis=1)
        same &= stored_sums == sums
        if not same.all():
            raise StorageError(
                f"rows {rows[~same].tolist()} read back different from what was written to "
                f"{redact_url(self.url)}; they stay pending (retry the batch)")

    def _write_status(self, rows: np.ndarray, code: int, only_if_not: int | None = None) -> None:
        if only_if_not is not None:
            rows = rows[self._read("status", rows) != only_if_not]
        if len(rows):
            self._write("status", rows, np.full(len(rows), code, np.uint8))

    def _write_failed(self, rows: np.ndarray, reasons: Sequence[str]) -> None:
        if not len(rows):
            return
        text = np.array([r[: fmt.MAX_REASON_CHARS] for r in reasons], dtype=object)
        with storage_errors(self.url, "mark rows failed", self._options):
            self._write("failure_reason", rows, text)
            self._write("status", rows, np.full(len(rows), fmt.FAILED, np.uint8))


def _all_done(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run store calls concurrently (each is I/O bound); wait for all; raise the first error."""
    with ThreadPoolExecutor(len(jobs)) as pool:
        futures = [pool.submit(job) for job in jobs]
    return [f.result() for f in futures]


def _reopen(url: str, options: Mapping[str, Any] | None, read_only: bool) -> WeightStore:
    return WeightStore.open(url, options, read_only=read_only)


