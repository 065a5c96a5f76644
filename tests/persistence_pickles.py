"""Pickles laid out as NVIDIA's ``torch_utils.persistence`` writes them, built without its code.

A ``Persisted`` object pickles as ``torch_utils.persistence._reconstruct_persistent_obj(meta)``
with ``meta = {type: 'class', version: 6, module_src, class_name, state}`` (dg.md §7), the way
EDM's networks and NVIDIA's Inception detector are stored. The ``persistence_module`` fixture
makes that name importable only while a test runs, so ``pickle`` can refer to it; the safe
loaders must never call it.
"""

from __future__ import annotations

import sys
import types
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import torch
from torch import nn


def _reconstruct_persistent_obj(meta: Mapping[str, Any]) -> Any:
    raise AssertionError("the safe loader must never call the pickled reconstructor")


class Persisted:
    """Pickles like a ``@persistent_class`` instance: its class name, state and module source."""

    def __init__(self, class_name: str, module_src: str) -> None:
        self.class_name = class_name
        self.module_src = module_src
        self.state: dict[str, Any] = {
            "training": False,
            "_parameters": OrderedDict(),
            "_buffers": OrderedDict(),
            "_modules": OrderedDict(),
            "_non_persistent_buffers_set": set(),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        meta = {
            "type": "class",
            "version": 6,
            "module_src": self.module_src,
            "class_name": self.class_name,
            "state": self.state,
        }
        return (_reconstruct_persistent_obj, (meta,))


@pytest.fixture
def persistence_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``torch_utils.persistence`` importable by name, so pickle can refer to it."""
    package = types.ModuleType("torch_utils")
    module = types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    package.persistence = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_utils", package)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", module)
    yield


CONTAINERS = (nn.ModuleDict, nn.ModuleList, nn.Sequential)


def persisted_tree(
    module: nn.Module, module_src: str, init_kwargs: Mapping[str, Any] | None = None
) -> Any:
    """``module`` as EDM pickles it: each module a ``Persisted`` record, torch containers real.

    A record's state is the module's ``__dict__`` (parameters frozen, as EDM's snapshots are)
    with its children converted; ``init_kwargs`` becomes the top record's ``_init_kwargs``.
    """
    children = OrderedDict(
        (name, None if child is None else persisted_tree(child, module_src))
        for name, child in module._modules.items()
    )
    if isinstance(module, CONTAINERS):
        container = type(module)()
        container._modules = children
        return container
    record = Persisted(type(module).__name__, module_src)
    record.state.update({k: v for k, v in vars(module).items() if not k.startswith("_")})
    record.state["_parameters"] = OrderedDict(
        (k, None if v is None else nn.Parameter(v.detach().clone(), requires_grad=False))
        for k, v in module._parameters.items()
    )
    record.state["_buffers"] = OrderedDict(
        (k, None if v is None else v.detach().clone()) for k, v in module._buffers.items()
    )
    record.state["_non_persistent_buffers_set"] = set(module._non_persistent_buffers_set)
    record.state["_modules"] = children
    record.state["_init_args"] = ()
    record.state["_init_kwargs"] = dict(init_kwargs or {})
    return record


def layout_tree(layout: Mapping[str, Any], module_src: str) -> dict[str, Any]:
    """The snapshot ``edm_pickle_layout.pt`` describes, rebuilt as persistence records.

    Its ``objects`` give each module's path, kind, class, parameter/buffer names (``None``
    buffers kept), children and attributes; its ``state_dict.ema`` gives the tensors.
    """
    weights = layout["state_dict"]["ema"]
    nodes: dict[str, Any] = {}
    for entry in layout["outputs"]["objects"]:
        path = entry["path"]
        node: Any = nn.ModuleDict()
        if entry["kind"] != "plain_torch_module":
            node = Persisted(entry["class_name"], module_src)
            node.state.update(entry.get("other_attributes", {}))
            node.state["_init_args"] = tuple(entry.get("init_args", ()))
            node.state["_init_kwargs"] = dict(entry.get("init_kwargs", {}))
            key = path.partition(".")[2]
            for name in entry.get("parameters", {}):
                value = weights[f"{key}.{name}"].clone()
                node.state["_parameters"][name] = nn.Parameter(value, requires_grad=False)
            for name, shape in (entry.get("buffers") or {}).items():
                node.state["_buffers"][name] = None if shape is None else weights[f"{key}.{name}"]
        for name in entry.get("modules", []):
            _children(node)[name] = None  # set when the child's entry comes (depth first)
        nodes[path] = node
        parent, _, name = path.rpartition(".")
        if parent:
            _children(nodes[parent])[name] = node
    tree: dict[str, Any] = {key: nodes[key] for key in ("ema", "loss_fn", "augment_pipe")}
    tree["dataset_kwargs"] = dict(layout["inputs"]["dataset_kwargs"])
    return tree


def _children(node: Any) -> dict[str, Any]:
    """The ``_modules`` dict of a torch container or of a ``Persisted`` record."""
    return node._modules if isinstance(node, nn.Module) else node.state["_modules"]


def tensor_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """``module.state_dict()`` with its tensors cloned."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}
