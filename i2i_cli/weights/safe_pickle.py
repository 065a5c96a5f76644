"""A restricted unpickler: it builds only what an allow-list names and runs nothing else.

``restricted_load(file, allow)`` reads a plain pickle (EDM's ``.pkl`` network snapshots) or a
``torch.save`` zip archive (its ``data.pkl``, with the storages read from the archive). Every
global the pickle asks for (a class to build, a function a ``__reduce__`` calls) is looked up by
its ``module.qualname`` in ``tensor_globals()`` (what tensors and torch.save's containers need)
updated by the caller's ``allow``, which maps a name to the object used in its place: a real
class, a ``stand_in`` class that only records what it is given, or a function of the caller's
that rebuilds the record. Nothing is imported on the pickle's behalf, and any other name stops
the load with one line naming it and the file, before anything it would call has run.

A function in the allow-list may raise ``Refusal`` to reject what the pickle handed it; the load
then stops with the same kind of line.
"""

from __future__ import annotations

import _compat_pickle
import io
import os
import pickle
import sys
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, ClassVar

from i2i_cli.base.errors import I2IError
from i2i_cli.base.paths import unreachable
from i2i_cli.weights.file_kind import file_fault
from i2i_cli.weights.loading import corrupt_message, error_reason, fault_message

ZIP_MAGIC = b"PK\x03\x04"
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
"""The first pickle of a legacy (non-zip) ``torch.save`` stream."""

Source = str | os.PathLike[str] | IO[bytes]
PersistentLoad = Callable[[Any], Any]


class UnsafePickleError(I2IError):
    """A pickle asked for something the allow-list does not name; it was not unpickled."""


class MissingFile(I2IError):
    """The file to unpickle does not exist."""


class Refusal(Exception):
    """Raised by an allow-listed function to refuse what the pickle handed it."""


@dataclass(frozen=True)
class StorageKind:
    """What a torch storage class name (``torch.FloatStorage``) unpickles as: its dtype only."""

    dtype: Any


class StandIn:
    """An instance of an allow-listed class the caller does not build for real.

    It keeps what the pickle gave it: the constructor arguments (``args``, ``kwargs``) and the
    state of the ``BUILD`` step (``state``, usually the instance ``__dict__``).
    """

    pickled_as: ClassVar[str] = "?"
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    state: Any

    def __new__(cls, *args: Any, **kwargs: Any) -> StandIn:
        """A stand-in holding the arguments it was created with."""
        instance = super().__new__(cls)
        instance.args, instance.kwargs, instance.state = args, kwargs, None
        return instance

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Nothing more: ``__new__`` kept the arguments."""

    def __setstate__(self, state: Any) -> None:
        """Keep the pickled state as it is."""
        self.state = state

    def __repr__(self) -> str:
        """``StandIn(module.qualname)``."""
        return f"StandIn({self.pickled_as})"


def stand_in(qualified_name: str) -> type[StandIn]:
    """A ``StandIn`` class for ``qualified_name``, to put in an allow-list under that name."""
    return type(qualified_name.rpartition(".")[2], (StandIn,), {"pickled_as": qualified_name})


# ----------------------------------------------------------------------------------------------
# The allow-lists the core provides.


def tensor_globals() -> dict[str, Any]:
    """What tensors need: torch's tensor rebuild functions, storages, and pickle's containers.

    ``torch.storage._load_from_bytes`` (how a plain pickle holds a storage) is answered by a
    loader that reads the bytes with ``torch.load(weights_only=True)``; tensors with backward
    hooks are refused.
    """
    import torch

    allowed: dict[str, Any] = {
        "collections.OrderedDict": OrderedDict,
        "builtins.set": set,
        "builtins.frozenset": frozenset,
        "builtins.bytearray": bytearray,
        "_codecs.encode": _latin1_bytes,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
        "torch._utils._rebuild_parameter_with_state": _rebuild_parameter_with_state,
        "torch.storage._load_from_bytes": _storage_from_bytes,
        "torch.UntypedStorage": StorageKind(torch.uint8),
    }
    for dtype, name in torch.storage._dtype_to_storage_type_map().items():
        allowed[f"torch.{name}"] = StorageKind(dtype)
    return allowed


def numpy_scalar_globals() -> dict[str, Any]:
    """What numpy scalars need (e.g. EDM's ``skip_scale = np.sqrt(0.5)``), numpy 1.x and 2.x.

    Dtypes holding Python objects are refused: their scalars would be built from raw bytes.
    """
    return {
        "numpy.core.multiarray.scalar": _numpy_scalar,
        "numpy._core.multiarray.scalar": _numpy_scalar,
        "numpy.dtype": _numpy_dtype,
    }


def _latin1_bytes(text: str, encoding: str = "utf-8") -> bytes:
    """How protocol-2 pickles spell ``bytes``: ``_codecs.encode(text, 'latin1')``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Refusal(f"_codecs.encode with {type(text).__name__} and encoding {encoding!r}")
    return text.encode("latin1")


def _no_hooks(backward_hooks: Any) -> None:
    """Refuse a tensor that arrives with backward hooks (they would run at backward time)."""
    if backward_hooks:
        raise Refusal("a tensor with backward hooks")


def _rebuild_tensor_v2(storage: Any, offset: int, size: Any, stride: Any, *rest: Any) -> Any:
    """``torch._utils._rebuild_tensor_v2`` for a storage this load produced, without hooks."""
    import torch

    if not isinstance(storage, torch.storage.TypedStorage):
        raise Refusal(f"a tensor over a {type(storage).__name__}, not a storage")
    _no_hooks(rest[1] if len(rest) > 1 else None)
    return torch._utils._rebuild_tensor_v2(storage, offset, size, stride, *rest)


def _rebuild_parameter(data: Any, requires_grad: bool, backward_hooks: Any) -> Any:
    """``torch._utils._rebuild_parameter`` without hooks."""
    import torch

    _no_hooks(backward_hooks)
    return torch._utils._rebuild_parameter(data, requires_grad, backward_hooks)


def _rebuild_parameter_with_state(
    data: Any, requires_grad: bool, backward_hooks: Any, state: Any
) -> Any:
    """``torch._utils._rebuild_parameter_with_state`` without hooks."""
    import torch

    _no_hooks(backward_hooks)
    return torch._utils._rebuild_parameter_with_state(data, requires_grad, backward_hooks, state)


def _storage_from_bytes(data: bytes) -> Any:
    """A storage pickled as legacy ``torch.save`` bytes, read with ``weights_only=True``."""
    import torch

    if not isinstance(data, bytes):
        raise Refusal(f"a storage from {type(data).__name__}, not bytes")
    try:
        storage = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise Refusal(f"a storage whose bytes are not plain data ({error_reason(error)})") from None
    if not isinstance(storage, torch.storage.TypedStorage):
        raise Refusal(f"storage bytes holding a {type(storage).__name__}")
    return storage


def _numpy_dtype(*args: Any) -> Any:
    """``numpy.dtype(*args)`` for dtypes of plain numbers."""
    import numpy as np

    dtype = np.dtype(*args)
    if dtype.hasobject:
        raise Refusal(f"the numpy dtype {dtype} (it holds Python objects)")
    return dtype


def _numpy_scalar(dtype: Any, data: Any = None) -> Any:
    """``numpy.core.multiarray.scalar``: a numpy number from its dtype and raw bytes."""
    import numpy as np

    plain = isinstance(dtype, np.dtype) and not dtype.hasobject
    if not (plain and isinstance(data, bytes) and len(data) == dtype.itemsize):
        raise Refusal(f"a numpy scalar of {dtype!r} from {type(data).__name__}")
    return np.frombuffer(data, dtype=dtype, count=1)[0]


# ----------------------------------------------------------------------------------------------
# The unpickler.


class RestrictedUnpickler(pickle.Unpickler):
    """A ``pickle.Unpickler`` whose globals come only from an allow-list, never from imports."""

    def __init__(
        self,
        file: IO[bytes],
        allowed: Mapping[str, Any],
        label: str,
        persistent_load: PersistentLoad | None = None,
    ) -> None:
        """Unpickle ``file`` (called ``label`` in messages) with the globals of ``allowed``."""
        super().__init__(file)
        self._allowed = allowed
        self._label = label
        self._persistent = persistent_load

    def find_class(self, module: str, name: str) -> Any:
        """The allow-listed object for ``module.name``; any other name -> UnsafePickleError."""
        module, name = _compat_pickle.NAME_MAPPING.get(
            (module, name), (_compat_pickle.IMPORT_MAPPING.get(module, module), name)
        )
        key = f"{module}.{name}"
        if key in self._allowed:
            return self._allowed[key]
        raise UnsafePickleError(
            f"{self._label} contains code or objects that are not allowed to run: it asks for "
            f"{key}, which is not allow-listed; refusing to unpickle it (nothing from the file "
            "was run)"
        )

    def persistent_load(self, pid: Any) -> Any:
        """The object a persistent id stands for, from the loader given; none -> refused."""
        if self._persistent is None:
            raise UnsafePickleError(
                f"refusing to unpickle {self._label}: it holds persistent ids "
                "and no loader for them was given"
            )
        return self._persistent(pid)


def restricted_load(
    file: Source,
    allow: Mapping[str, Any] | None = None,
    *,
    persistent_load: PersistentLoad | None = None,
) -> Any:
    """Unpickle ``file`` building only ``tensor_globals()`` and what ``allow`` names.

    ``allow`` maps ``module.qualname`` (as the pickle spells it) to the class or function to use
    in its place, and takes precedence over the defaults. A ``torch.save`` zip archive is read
    from its ``data.pkl`` with its storages on the CPU; a plain pickle's persistent ids go to
    ``persistent_load`` (none given: refused). Anything refused -> UnsafePickleError, a file
    that cannot be read -> I2IError, each one line naming the file.
    """
    label = _label_of(file)
    allowed = {**tensor_globals(), **(allow or {})}
    try:
        with _opened(file) as stream:
            if stream.read(4) == ZIP_MAGIC:
                stream.seek(0)
                return _load_torch_zip(stream, allowed, label)
            stream.seek(0)
            result = RestrictedUnpickler(stream, allowed, label, persistent_load).load()
    except MissingFile:
        raise
    except Exception as error:
        fault = file_fault(file)
        if fault is not None:
            raise I2IError(fault_message(label, fault)) from None
        if isinstance(error, I2IError):
            raise
        if isinstance(error, Refusal):
            raise UnsafePickleError(
                f"{label} contains objects that are not allowed: it holds {error}; refusing to "
                "unpickle it (nothing from the file was run)"
            ) from None
        raise I2IError(corrupt_message(label, error)) from None
    if type(result) is int and result == LEGACY_TORCH_MAGIC:
        raise I2IError(
            f"cannot unpickle {label}: it is a legacy (pre-1.6) torch.save file, neither a plain "
            "pickle nor a zip archive; load it with torch.load(weights_only=True)"
        )
    return result


def _load_torch_zip(stream: IO[bytes], allowed: Mapping[str, Any], label: str) -> Any:
    """The object of a ``torch.save`` zip archive, its storages read from the archive's records."""
    from torch.serialization import _open_zipfile_reader

    with _open_zipfile_reader(stream) as reader:
        swap = reader.has_record("byteorder") and (
            reader.get_record("byteorder").decode() != sys.byteorder
        )
        storages = _ArchiveStorages(reader, swap)
        data = io.BytesIO(reader.get_record("data.pkl"))
        return RestrictedUnpickler(data, allowed, label, storages).load()


class _ArchiveStorages:
    """The ``persistent_load`` of a torch zip archive: each storage record, read once, on CPU."""

    def __init__(self, reader: Any, swap: bool) -> None:
        """Read storages from ``reader``; ``swap`` when the archive's byte order is not ours."""
        self._reader = reader
        self._swap = swap
        self._loaded: dict[str, Any] = {}

    def __call__(self, pid: Any) -> Any:
        """The typed storage ``('storage', kind, key, location, numel)`` names."""
        import torch

        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] in ("storage", b"storage")):
            raise Refusal(f"a persistent id {str(pid)[:60]!r} that is not a storage")
        _, kind, key, _location, numel = pid
        if not isinstance(kind, StorageKind) or not isinstance(numel, int):
            raise Refusal(f"a storage of {kind!r}")
        key = key.decode() if isinstance(key, bytes) else str(key)
        if key not in self._loaded:
            nbytes = numel * kind.dtype.itemsize
            record = f"data/{key}"
            untyped = self._reader.get_storage_from_record(record, nbytes, torch.UntypedStorage)
            untyped = untyped._typed_storage()._untyped_storage
            if self._swap:
                untyped.byteswap(kind.dtype)
            self._loaded[key] = torch.storage.TypedStorage(
                wrap_storage=untyped, dtype=kind.dtype, _internal=True
            )
        return self._loaded[key]


@contextmanager
def _opened(file: Source) -> Iterator[IO[bytes]]:
    """A binary, seekable stream for a path (opened and closed here) or an open file (as is)."""
    if not isinstance(file, (str, os.PathLike)):
        yield file
        return
    path = Path(file)
    if not path.is_file():
        raise MissingFile(unreachable(path, "checkpoint") or f"checkpoint {path} does not exist")
    with path.open("rb") as stream:
        yield stream


def _label_of(file: Source) -> str:
    """How messages name ``file``: its path, else the stream's name."""
    if isinstance(file, (str, os.PathLike)):
        return str(Path(file))
    return str(getattr(file, "name", "<stream>"))
