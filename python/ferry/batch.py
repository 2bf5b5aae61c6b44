"""Batch scoring over tabular data: the part that Spark, Ray and MLflow share.

A :class:`Scorer` names one input of a bundle (a ``[batch, k]`` tensor, ``features`` by
default), the ``k`` table columns that fill it (the contract's feature names unless told
otherwise) and one output (``probability`` by default). It turns a pandas DataFrame, a dict
of numpy columns or a ``[N, k]`` matrix into that output as a numpy array, flattened to
``[N]`` when the output is ``[batch, 1]``.

A Scorer pickles as ``(path, digest, policy, input, output, columns, batch_size)``: the
process that unpickles it opens the bundle on first use, re-verifies it, refuses it unless
its digest is the one the Scorer was made with, and keeps the opened model in a
per-process cache, so a Spark or Ray worker opens a bundle once whatever the number of
tasks it runs.

Only numpy is needed here; pandas is used when it is handed a DataFrame.
"""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping, Sequence

import numpy as np

__all__ = ["Scorer", "open_cached", "resolve_bundle_path", "feature_columns"]

DEFAULT_BATCH_SIZE = 10_000

def _ferry():
    import ferry  # the package this module belongs to; imported late to avoid a cycle

    return ferry


def _error(message: str, kind: str = "FerryError") -> Exception:
    """An exception of ferry's own types where they can be constructed, else ValueError."""
    ferry = _ferry()
    cls = getattr(ferry, kind, None) or getattr(ferry, "FerryError", None)
    try:
        return cls(message)  # type: ignore[misc]
    except Exception:  # pragma: no cover - only if ferry's exceptions cannot be built from Python
        return ValueError(message)


def resolve_bundle_path(path: str) -> str:
    """The local path of a bundle: ``path`` itself when it exists here, else a file of the
    same name shipped with ``spark.files`` / ``SparkContext.addFile`` (``SparkFiles.get``)."""
    path = os.fspath(path)
    if os.path.exists(path):
        return path
    if "pyspark" in sys.modules:
        try:
            from pyspark import SparkFiles

            shipped = SparkFiles.get(os.path.basename(path))
            if os.path.exists(shipped):
                return shipped
        except Exception:
            pass
    raise FileNotFoundError(
        f"ferry bundle not found: {path!r} (put it on storage every worker can read, or ship it "
        "with spark.files / SparkContext.addFile, or a Ray runtime_env working_dir)"
    )


def open_cached(path: str, digest: str | None = None, policy: Any = None):
    """A :class:`ferry.Model` for ``path``, opened (and verified) once per process.

    Without ``digest`` the bundle is opened now. With it, the model is ferry's own lazy reopen
    (what unpickling a ``ferry.Model`` gives): opened on first use, cached per process by digest
    and policy, and refused with ``BundleChangedError`` unless the file still is that bundle, so a
    file replaced between planning a job and running it is never scored with another model.
    """
    ferry = _ferry()
    local = resolve_bundle_path(path)
    if digest is None:
        return ferry.open(local, policy=policy)
    return ferry._reopen(local, digest, ferry._path(policy), "cpu")


def clear_cache() -> None:
    """Forget the models this process opened (tests, or to re-read a replaced bundle)."""
    _ferry()._cache.clear()


def _find(specs: Sequence[Mapping[str, Any]], name: str, what: str) -> Mapping[str, Any]:
    for spec in specs:
        if spec.get("name") == name:
            return spec
    names = [s.get("name") for s in specs]
    raise _error(f"the bundle has no {what} named {name!r} (it has {names})", "ContractError")


def _width(spec: Mapping[str, Any], what: str) -> int | None:
    shape = list(spec.get("shape") or [])
    if len(shape) == 1:
        return 1  # a [batch] tensor: one column
    if len(shape) != 2:
        raise _error(
            f"{what} {spec.get('name')!r} has shape {shape}; batch scoring of table columns "
            "needs a [batch, k] tensor",
            "ContractError",
        )
    return shape[1] if isinstance(shape[1], int) else None


def feature_columns(contract: Mapping[str, Any], input: str = "features") -> list[str]:
    """The contract's feature names for ``input``, in tensor column order."""
    spec = _find(contract.get("inputs", []), input, "input")
    feats = spec.get("features") or []
    if not feats:
        raise _error(
            f"input {input!r} declares no feature names in the contract; pass columns=[...]",
            "ContractError",
        )
    return [f["name"] for f in feats]


class Scorer:
    """One input, its columns and one output of a bundle, ready to score table batches.

    ``bundle`` is a path to a ``.ferry`` file or an opened :class:`ferry.Model`.
    ``columns``: ``None`` for the contract's feature names, a list of column names (in the
    order of the tensor's last axis), or a single string naming one array column that already
    holds the ``k`` values of each row.
    """

    def __init__(
        self,
        bundle: Any,
        *,
        input: str = "features",
        output: str = "probability",
        columns: str | Sequence[str] | None = None,
        policy: Any = None,
        batch_size: int | None = DEFAULT_BATCH_SIZE,
    ) -> None:
        if hasattr(bundle, "infer") and hasattr(bundle, "contract"):
            model = bundle
        else:
            model = open_cached(os.fspath(bundle), None, policy)
        self.path: str = model.path
        self.digest: str = model.digest
        self.policy = policy
        self.input = input
        self.output = output
        self.batch_size = batch_size
        contract = model.contract
        in_spec = _find(contract.get("inputs", []), input, "input")
        out_spec = _find(contract.get("outputs", []), output, "output")
        width = _width(in_spec, "input")
        self.dtype = np.dtype(in_spec.get("dtype", "float32"))
        self.output_dtype = np.dtype(out_spec.get("dtype", "float32"))
        out_shape = list(out_spec.get("shape") or [])
        # A [batch] or [batch, 1] output becomes one scalar per row; anything wider, a vector.
        self.output_width: int | None = (
            1 if len(out_shape) <= 1 or out_shape[1] == 1 else (out_shape[1] if isinstance(out_shape[1], int) else None)
        )
        self.array_column: str | None = None
        if columns is None:
            self.columns: list[str] = feature_columns(contract, input)
        elif isinstance(columns, str):
            self.array_column = columns
            self.columns = [columns]
        else:
            self.columns = [str(c) for c in columns]
        self.width = width if width is not None else (None if self.array_column else len(self.columns))
        if self.array_column is None and width is not None and len(self.columns) != width:
            raise _error(
                f"input {input!r} has {width} columns but {len(self.columns)} column names were given",
                "ContractError",
            )
        self._model = model

    # -- pickling: the model is reopened (and re-verified) where the Scorer lands ------------
    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_model"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    @property
    def model(self):
        """The opened :class:`ferry.Model` (opened on first use in this process)."""
        if self._model is None:
            self._model = open_cached(self.path, self.digest, self.policy)
        return self._model

    @property
    def scalar_output(self) -> bool:
        return self.output_width == 1

    # -- scoring ------------------------------------------------------------------------------
    def predict_matrix(self, x: np.ndarray) -> np.ndarray:
        """Score a ``[N, k]`` matrix; returns ``[N]`` (scalar output) or ``[N, m]``."""
        x = np.ascontiguousarray(x, dtype=self.dtype)
        if x.ndim == 1:
            x = x.reshape(-1, 1)
        n = x.shape[0]
        step = self.batch_size or n or 1
        model = self.model
        parts = []
        for start in range(0, n, step):
            result = model.infer({self.input: x[start : start + step]})
            if self.output not in result:
                raise _error(f"the model returned no output {self.output!r} (got {sorted(result)})")
            parts.append(np.asarray(result[self.output]))
        if not parts:
            shape = (0,) if self.scalar_output else (0, self.output_width or 0)
            return np.empty(shape, dtype=self.output_dtype)
        y = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=0)
        if self.scalar_output:
            y = y.reshape(n)
        return y

    def stack(self, cols: Sequence[Any]) -> np.ndarray:
        """Stack ``k`` one-dimensional columns (any numeric dtype, NaN for missing) into the
        ``[N, k]`` input matrix, casting each straight to the input's dtype."""
        if len(cols) != len(self.columns):
            raise _error(f"expected {len(self.columns)} columns, got {len(cols)}", "ContractError")
        n = len(cols[0]) if cols else 0
        x = np.empty((n, len(cols)), dtype=self.dtype)
        for j, c in enumerate(cols):
            x[:, j] = _as_float_column(c, self.dtype)
        return x

    def matrix_from_array_column(self, values: Any) -> np.ndarray:
        """The ``[N, k]`` matrix from one column whose rows are length-``k`` sequences."""
        arr = np.asarray(values)
        if arr.dtype == object:
            arr = np.stack([np.asarray(v, dtype=self.dtype) for v in arr]) if len(arr) else np.empty((0, self.width or 0))
        return np.asarray(arr, dtype=self.dtype).reshape(len(arr), -1)

    def matrix(self, batch: Any) -> np.ndarray:
        """The input matrix from a pandas DataFrame or a dict of numpy columns."""
        getter = batch.__getitem__
        missing = [c for c in self.columns if c not in batch]
        if missing:
            raise _error(f"columns missing from the batch: {missing}", "ContractError")
        if self.array_column is not None:
            col = getter(self.array_column)
            return self.matrix_from_array_column(col.to_numpy() if hasattr(col, "to_numpy") else col)
        return self.stack([getter(c) for c in self.columns])

    def predict(self, batch: Any) -> np.ndarray:
        """Score a pandas DataFrame or a dict of numpy columns."""
        return self.predict_matrix(self.matrix(batch))

    def __repr__(self) -> str:
        cols = self.array_column or f"{len(self.columns)} columns"
        return f"Scorer({self.path!r}, input={self.input!r} <- {cols}, output={self.output!r})"


def _as_float_column(c: Any, dtype: np.dtype) -> np.ndarray:
    if hasattr(c, "to_numpy"):  # pandas Series (nullable dtypes: missing -> NaN)
        try:
            return c.to_numpy(dtype=dtype, na_value=np.nan)
        except (TypeError, ValueError):
            c = c.to_numpy()
    a = np.asarray(c)
    if a.dtype == object:
        a = np.array([np.nan if v is None else v for v in a], dtype=np.float64)
    return a
