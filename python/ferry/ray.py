"""Score Ray Data datasets with a ferry bundle.

    import ray
    from ferry.ray import Predictor

    ds = ray.data.read_parquet("/shared/applications/")
    scored = ds.map_batches(
        Predictor,
        fn_constructor_kwargs={"bundle": "/shared/credit-risk.ferry"},
        batch_format="numpy",          # or "pandas"
        batch_size=10_000,
        concurrency=2,
    )

Each actor opens (and verifies) the bundle once, in ``__init__``. ray is imported only by
:func:`score_dataset`.
"""

from __future__ import annotations

from typing import Any, Sequence

from .batch import Scorer

__all__ = ["Predictor", "score_dataset"]


class Predictor:
    """A callable class for ``Dataset.map_batches``: adds a column of scores to each batch.

    ``bundle``: a path to the ``.ferry`` file (readable from every node) or an opened
    ``ferry.Model`` (pickled as path + digest; the actor reopens it and checks the digest).
    ``columns``: ``None`` for the contract's feature names, a list of column names, or one
    string naming a tensor column that holds the ``k`` values of each row.
    ``output_col``: the added column's name (default: the output's name).
    ``digest``: when given, the bundle opened by the actor must have this digest.
    """

    def __init__(
        self,
        bundle: Any,
        *,
        input: str = "features",
        output: str = "probability",
        columns: str | Sequence[str] | None = None,
        policy: Any = None,
        output_col: str | None = None,
        digest: str | None = None,
    ) -> None:
        self.scorer = Scorer(bundle, input=input, output=output, columns=columns, policy=policy, batch_size=None)
        if digest is not None and self.scorer.digest != digest:
            from .batch import _error

            raise _error(
                f"bundle {self.scorer.path!r} has digest {self.scorer.digest}, expected {digest}",
                "BundleChangedError",
            )
        self.output_col = output_col or output

    def __call__(self, batch: Any) -> Any:
        y = self.scorer.predict(batch)
        if isinstance(batch, dict):  # batch_format="numpy": dict of column arrays
            out = dict(batch)
            out[self.output_col] = y
            return out
        if hasattr(batch, "append_column") and hasattr(batch, "schema"):  # pyarrow.Table
            import pyarrow as pa

            col = pa.array(y) if y.ndim == 1 else pa.FixedSizeListArray.from_arrays(pa.array(y.reshape(-1)), y.shape[1])
            return batch.append_column(self.output_col, col)
        # pandas DataFrame
        out = batch.copy(deep=False)
        out[self.output_col] = y if y.ndim == 1 else list(y)
        return out


def score_dataset(
    ds: Any,
    bundle: Any,
    *,
    batch_size: int = 10_000,
    concurrency: int | tuple[int, int] = 2,
    batch_format: str = "numpy",
    num_cpus: float | None = None,
    **kwargs: Any,
):
    """``ds.map_batches(Predictor, ...)`` with the bundle opened and verified here first, so a
    missing or bad bundle fails before any actor starts, and the actors are held to the
    digest seen here. ``kwargs`` go to :class:`Predictor`."""
    import ferry

    model = bundle if hasattr(bundle, "digest") else ferry.open(str(bundle), policy=kwargs.get("policy"))
    Predictor(model, **kwargs)  # checks input/output/columns against the contract
    extra: dict[str, Any] = {}
    if num_cpus is not None:
        extra["num_cpus"] = num_cpus
    return ds.map_batches(
        Predictor,
        fn_constructor_kwargs={"bundle": model.path, "digest": model.digest, **kwargs},
        batch_format=batch_format,
        batch_size=batch_size,
        concurrency=concurrency,
        **extra,
    )
