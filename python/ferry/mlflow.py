"""An MLflow flavour for ferry bundles.

    import ferry.mlflow
    info = ferry.mlflow.log_model("credit-risk.ferry", name="credit-risk")
    model = ferry.mlflow.load_model(info.model_uri)          # an mlflow.pyfunc.PyFuncModel
    model.predict(pandas_df)                                  # DataFrame with a "probability" column
    udf = mlflow.pyfunc.spark_udf(spark, info.model_uri, env_manager="local")

The bundle file is copied into the MLflow model as the artifact ``bundle``; the model's
``MLmodel`` carries a ``ferry`` flavour (digest, input, output, columns) next to
``python_function``. Loading opens the copied bundle, verifies it, and refuses it unless its
digest is the one recorded when the model was saved.

mlflow is imported only when a function here is called.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

from .batch import DEFAULT_BATCH_SIZE, Scorer, open_cached

__all__ = ["FLAVOR_NAME", "save_model", "log_model", "load_model", "FerryPythonModel"]

FLAVOR_NAME = "ferry"


class _FerryPythonModelBase:
    """The state and logic of the pyfunc model; mixed with mlflow's PythonModel below."""

    def __init__(
        self,
        *,
        digest: str,
        input: str,
        output: str,
        columns: str | list[str],
        policy: Any = None,
        batch_size: int | None = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.digest = digest
        self.input = input
        self.output = output
        self.columns = columns
        self.policy = policy
        self.batch_size = batch_size
        self._scorer: Scorer | None = None

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_scorer"] = None
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def load_context(self, context) -> None:
        path = context.artifacts["bundle"]
        model = open_cached(path, self.digest, self.policy)
        self._scorer = Scorer(
            model,
            input=self.input,
            output=self.output,
            columns=self.columns,
            policy=self.policy,
            batch_size=self.batch_size,
        )

    def predict(self, context, model_input, params=None):
        """``model_input``: a pandas DataFrame with the feature columns. Returns a DataFrame
        with one column, named after the output."""
        import pandas as pd

        if self._scorer is None:  # pragma: no cover - mlflow always calls load_context first
            self.load_context(context)
        assert self._scorer is not None
        if not isinstance(model_input, pd.DataFrame):
            model_input = pd.DataFrame(model_input)
        y = self._scorer.predict(model_input)
        values = y if y.ndim == 1 else list(y)
        return pd.DataFrame({self.output: values}, index=model_input.index)


def __getattr__(name: str):
    # FerryPythonModel subclasses mlflow.pyfunc.PythonModel, so it is defined on first use
    # (importing this module must not import mlflow). It is published as
    # ferry.mlflow.FerryPythonModel, so MLflow's cloudpickle stores it by reference.
    if name == "FerryPythonModel":
        from mlflow.pyfunc import PythonModel

        cls = type(
            "FerryPythonModel",
            (_FerryPythonModelBase, PythonModel),
            {"__module__": __name__, "__qualname__": "FerryPythonModel", "__doc__": _FerryPythonModelBase.__doc__},
        )
        globals()["FerryPythonModel"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _signature(scorer: Scorer):
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    contract = scorer.model.contract
    spec = next(i for i in contract["inputs"] if i["name"] == scorer.input)
    nullable = {f["name"]: bool(f.get("nullable")) for f in spec.get("features") or []}
    if scorer.array_column is not None:
        inputs = None  # an array column of a DataFrame: left unchecked by MLflow
    else:
        # Tables usually hold doubles; MLflow would refuse float64 columns declared "float".
        inputs = Schema([ColSpec("double", c, required=not nullable.get(c, False)) for c in scorer.columns])
    out_type = {"float32": "float", "float64": "double", "int32": "integer", "int64": "long"}.get(
        str(scorer.output_dtype), "double"
    )
    if scorer.scalar_output:
        outputs = Schema([ColSpec(out_type, scorer.output)])
    else:
        from mlflow.types.schema import Array

        outputs = Schema([ColSpec(Array(out_type), scorer.output)])
    return ModelSignature(inputs=inputs, outputs=outputs)


def _default_requirements() -> list[str]:
    from importlib import metadata

    reqs = []
    for dist in ("ferry", "numpy", "pandas"):
        try:
            reqs.append(f"{dist}=={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            if dist == "ferry":
                reqs.append("ferry")
    return reqs


def save_model(
    bundle: Any,
    path: str,
    *,
    input: str = "features",
    output: str = "probability",
    columns: str | Sequence[str] | None = None,
    policy: Any = None,
    batch_size: int | None = DEFAULT_BATCH_SIZE,
    mlflow_model: Any = None,
    signature: Any = "infer",
    input_example: Any = None,
    pip_requirements: Sequence[str] | None = None,
    extra_pip_requirements: Sequence[str] | None = None,
    metadata: dict | None = None,
    **kwargs: Any,
) -> None:
    """Save ``bundle`` (a path or an opened ``ferry.Model``) as an MLflow model at ``path``.

    The bundle is opened and verified here; its file is copied in as the artifact
    ``bundle``. ``signature="infer"`` writes one double column per feature (nullable features
    not required) and the output column; pass ``None`` for no signature.
    ``pip_requirements`` defaults to ferry, numpy and pandas at the installed versions.
    """
    import mlflow.pyfunc
    from mlflow.models import Model

    scorer = Scorer(bundle, input=input, output=output, columns=columns, policy=policy, batch_size=batch_size)
    if mlflow_model is None:
        mlflow_model = Model()
    if signature == "infer":
        signature = _signature(scorer)
    cls = __getattr__("FerryPythonModel")
    python_model = cls(
        digest=scorer.digest,
        input=input,
        output=output,
        columns=scorer.array_column or list(scorer.columns),
        policy=policy,
        batch_size=batch_size,
    )
    mlflow_model.add_flavor(
        FLAVOR_NAME,
        bundle=f"artifacts/{os.path.basename(scorer.path)}",
        digest=scorer.digest,
        input=input,
        output=output,
        columns=scorer.array_column or list(scorer.columns),
        ferry_version=_ferry_version(),
    )
    mlflow.pyfunc.save_model(
        path,
        python_model=python_model,
        artifacts={"bundle": scorer.path},
        mlflow_model=mlflow_model,
        signature=signature,
        input_example=input_example,
        pip_requirements=list(pip_requirements) if pip_requirements is not None else (
            None if extra_pip_requirements is not None else _default_requirements()
        ),
        extra_pip_requirements=extra_pip_requirements,
        metadata=metadata,
        **kwargs,
    )


def log_model(
    bundle: Any,
    name: str | None = None,
    *,
    artifact_path: str | None = None,
    registered_model_name: str | None = None,
    **kwargs: Any,
):
    """Log ``bundle`` to the active run (MLflow 3: ``name=``; ``artifact_path=`` is accepted
    for MLflow 2 habits). ``kwargs`` go to :func:`save_model`. Returns MLflow's ModelInfo."""
    import sys

    from mlflow.models import Model

    return Model.log(
        artifact_path=artifact_path,
        name=name,
        flavor=sys.modules[__name__],
        registered_model_name=registered_model_name,
        bundle=bundle,
        **kwargs,
    )


def load_model(model_uri: str, **kwargs: Any):
    """Load a model saved by this flavour as an ``mlflow.pyfunc.PyFuncModel``."""
    import mlflow.pyfunc

    return mlflow.pyfunc.load_model(model_uri, **kwargs)


def _ferry_version() -> str:
    try:
        import ferry

        return str(getattr(ferry, "__version__", "unknown"))
    except Exception:  # pragma: no cover
        return "unknown"
