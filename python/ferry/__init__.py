"""Ferry from Python: open a signed, verified model bundle and score with it.

    >>> import ferry, numpy as np
    >>> model = ferry.open("credit-risk.ferry", policy="release.toml")   # doctest: +SKIP
    >>> model.infer({"features": np.zeros((1, 14), np.float32)})         # doctest: +SKIP
    {'probability': array([[0.03]], dtype=float32)}

Every request is held to the bundle's data contract before it reaches ONNX Runtime; a refusal raises
:class:`ContractError` naming the input, feature, index and rule. The GIL is released while a model runs,
so threads score in parallel. A :class:`Model` pickles as (path, digest, policy): a Spark or Ray worker
that unpickles it opens and verifies the bundle on first use, once per process, and refuses a file whose
digest changed.

ONNX Runtime is the library of the ``onnxruntime`` wheel ``pip`` installed beside this package; it must
be the release Ferry pins (its digest is checked).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import weakref
from typing import Any, Mapping, Optional, Sequence, Union

from . import _native
from ._native import (
    BundleError,
    ConfigError,
    ContractError,
    DeviceError,
    FerryError,
    InferenceError,
    PackError,
    PolicyError,
    RecordError,
    RuntimeLibraryError,
    SignError,
    TransformError,
    UntrustedError,
    VerifyError,
)

__version__ = _native.version()

__all__ = [
    "open",
    "verify",
    "pack",
    "sign",
    "keygen",
    "Model",
    "VerifyReport",
    "FerryError",
    "BundleError",
    "BundleChangedError",
    "ConfigError",
    "ContractError",
    "DeviceError",
    "InferenceError",
    "PackError",
    "PolicyError",
    "RecordError",
    "RuntimeLibraryError",
    "SignError",
    "TransformError",
    "UntrustedError",
    "VerifyError",
]

PathLike = Union[str, "os.PathLike[str]"]


class BundleChangedError(UntrustedError):
    """A pickled :class:`Model` was reopened and the file at its path is no longer the bundle it named."""


def _python_prefixes() -> list:
    # This interpreter's prefixes first: the onnxruntime wheel pip installed beside ferry lives there,
    # whether or not its virtual environment is activated.
    seen = []
    for p in (sys.prefix, sys.base_prefix):
        if p and p not in seen:
            seen.append(p)
    return seen


def _path(p: Optional[PathLike]) -> Optional[str]:
    return None if p is None else os.fspath(p)


# Opened models per process, by (digest, policy, device): an unpickled Model (a Spark task, a Ray
# actor) opens its bundle once per worker process, however many tasks carry it.
_cache: dict = {}
_cache_lock = threading.Lock()
_cache_pid = os.getpid()


def _cached(path: str, digest: str, policy: Optional[str], device: str, overrides: tuple = ()):
    global _cache_pid
    key = (digest, policy, device, overrides)
    with _cache_lock:
        if _cache_pid != os.getpid():
            # A forked child inherits the parent's dict but must not share its ONNX Runtime sessions.
            _cache.clear()
            _cache_pid = os.getpid()
        native = _cache.get(key)
        if native is not None:
            return native
    native = _native.open(path, policy, device, _python_prefixes(), list(overrides))
    if native.digest != digest:
        raise BundleChangedError(
            f"{path}: the bundle is {native.digest}, but the model was pickled as {digest}; "
            "the file changed since it was opened"
        )
    with _cache_lock:
        return _cache.setdefault(key, native)


class Model:
    """An opened, verified bundle. Share one between threads; each call is held to the contract."""

    __slots__ = ("_native", "_path", "_digest", "_policy", "_device", "_overrides", "_contract", "__weakref__")

    def __init__(self, native, policy: Optional[str], device: str, overrides: tuple = ()):
        self._native = native
        self._path = native.path
        self._digest = native.digest
        self._policy = policy
        self._device = device
        self._overrides = overrides
        self._contract = None
        _live.add(self)

    def _load(self):
        native = self._native
        if native is None:
            native = _cached(self._path, self._digest, self._policy, self._device, self._overrides)
            self._native = native
        return native

    def infer(self, inputs: Mapping[str, Any]) -> dict:
        """Runs the model: ``{input name: numpy array}`` in, ``{output name: numpy array}`` out.

        Arrays are read through the buffer protocol, in C order whatever their strides. A request that
        breaks the contract raises :class:`ContractError` and never reaches ONNX Runtime.
        """
        return (self._native or self._load()).infer(inputs)

    def infer_records(self, records: Sequence[Union[Mapping[str, Any], str]]) -> list:
        """Runs the bundle's feature transforms and the model on raw records (dicts or JSON texts);
        returns one decision (a dict) per record. Raises :class:`TransformError` when the bundle has
        no transforms, :class:`RecordError` for a refused record."""
        texts = [r if isinstance(r, str) else json.dumps(r) for r in records]
        return [json.loads(d) for d in (self._native or self._load()).infer_records(texts)]

    @property
    def contract(self) -> dict:
        """The bundle's contract: name, version, inputs and outputs as declared (dtype, shape, features
        with their ranges), and whether it takes raw records."""
        if self._contract is None:
            self._contract = json.loads((self._native or self._load()).contract_json)
        return self._contract

    @property
    def path(self) -> str:
        return self._path

    @property
    def digest(self) -> str:
        """The bundle's identity: the digest of its OCI manifest."""
        return self._digest

    @property
    def name(self) -> str:
        return self.contract["name"]

    @property
    def version(self) -> str:
        return self.contract["version"]

    def __reduce__(self):
        return (_reopen, (self._path, self._digest, self._policy, self._device, self._overrides))

    def __repr__(self) -> str:
        return f"ferry.Model(path={self._path!r}, digest={self._digest!r})"


def _reopen(path: str, digest: str, policy: Optional[str], device: str, overrides: tuple = ()) -> Model:
    # Lazily: unpickling costs nothing until the first call, which opens and verifies the bundle.
    m = Model.__new__(Model)
    m._native = None
    m._path = path
    m._digest = digest
    m._policy = policy
    m._device = device
    m._overrides = tuple(overrides)
    m._contract = None
    _live.add(m)
    return m


# Every Model of this process, weakly: a forked child must not share its parent's ONNX Runtime
# sessions, so after a fork each model drops its handle and reopens (verified, by digest) on its next
# call. Nothing is checked per call.
_live: "weakref.WeakSet[Model]" = weakref.WeakSet()


def _after_fork_in_child() -> None:
    global _cache_pid
    _cache.clear()
    _cache_pid = os.getpid()
    for m in list(_live):
        m._native = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def open(  # noqa: A001 - ferry.open is the package's entry point, as in the Rust library
    path: PathLike,
    *,
    policy: Optional[PathLike] = None,
    device: str = "cpu",
    overrides: Optional[Mapping[str, str]] = None,
) -> Model:
    """Opens a bundle: digests, format version, pins, and with ``policy`` (a release policy's
    ``[trust]`` table) its signatures are checked before anything runs.

    ``device`` is ``cpu``, ``cuda``, ``cuda:N`` or ``auto``. ``overrides`` are config ``key=value``
    pairs, as ``ferry run --set``.
    """
    # Absolute, so that a pickled model names the same files in a worker whatever its working directory.
    policy_s = None if policy is None else os.path.abspath(os.fspath(policy))
    pairs = tuple((str(k), str(v)) for k, v in (overrides or {}).items())
    native = _native.open(os.path.abspath(os.fspath(path)), policy_s, device, _python_prefixes(), list(pairs))
    return Model(native, policy_s, device, pairs)


class VerifyReport(dict):
    """The verifier's report (the same JSON ``ferry verify --format json`` writes), as a dict, with
    :attr:`passed`."""

    @property
    def passed(self) -> bool:
        return bool(self["passed"])

    def __bool__(self) -> bool:
        return self.passed


def verify(
    path: PathLike,
    *,
    policy: Optional[PathLike] = None,
    keys: Sequence[PathLike] = (),
    data: Optional[PathLike] = None,
    rebuild: Optional[PathLike] = None,
) -> VerifyReport:
    """Runs every check of ``ferry verify`` and returns the report; it does not raise when a check
    fails (look at ``report.passed``), only when the verifier could not run (:class:`VerifyError`,
    :class:`PolicyError`)."""
    _, text = _native.verify(
        os.fspath(path),
        _path(policy),
        [os.fspath(k) for k in keys],
        _path(data),
        _path(rebuild),
        _python_prefixes(),
    )
    return VerifyReport(json.loads(text))


def pack(src: PathLike, out: PathLike, *, reference: Optional[PathLike] = None) -> str:
    """Packs a bundle source directory (with its ``ferry.toml``) into ``out``, deterministically;
    returns the bundle's digest. Nothing is left at ``out`` when packing fails. ``reference`` names a
    reference sample to profile in place of ``[reference] data``."""
    return _native.pack(os.fspath(src), os.fspath(out), _path(reference), _python_prefixes())


def sign(
    bundle: PathLike,
    key: PathLike,
    *,
    out: Optional[PathLike] = None,
    passphrase: Optional[Union[str, bytes]] = None,
) -> str:
    """Signs a bundle with a private key (an OpenSSF Model Signing signature), in place or into
    ``out``; returns the signature's digest."""
    if isinstance(passphrase, str):
        passphrase = passphrase.encode()
    return _native.sign(os.fspath(bundle), os.fspath(key), _path(out), passphrase)


def keygen(private: PathLike, public: PathLike, *, passphrase: Optional[Union[str, bytes]] = None) -> None:
    """Makes an ECDSA P-256 signing key pair, as ``ferry keygen``: the private key (PEM, encrypted with
    ``passphrase`` when given; mode 0600) and the public key. Refuses to overwrite either file."""
    if isinstance(passphrase, str):
        passphrase = passphrase.encode()
    _native.keygen(os.fspath(private), os.fspath(public), passphrase)
