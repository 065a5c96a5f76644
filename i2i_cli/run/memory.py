"""How much memory a training step needs, and how much the device has (issue: runs that fit).

A step's memory beyond the weights already allocated is their gradients, the optimiser's state
and the activations autograd saves for the backward pass. The activations are measured, not
guessed: one item of the step's batch goes through the loss with a hook that adds up the bytes
of every tensor autograd saves; they scale with the number of items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

GIB = 1024**3
HEADROOM = 0.9
"""The share of the free memory a step may plan to use."""
ACTIVATION_MARGIN = 1.25
"""Autograd's saved tensors are most of a step's transient memory; the rest is allowed for."""


def available_bytes(device: torch.device) -> int | None:
    """Free memory of ``device``: CUDA's free bytes, Linux's MemAvailable; None when unknown."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    if device.type != "cpu":
        return None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def leading_items(batch: Any) -> int | None:
    """The number of items of a batch: the leading size of its first tensor."""
    tensors = list(_tensors(batch))
    return int(tensors[0].shape[0]) if tensors and tensors[0].dim() else None


def first_items(batch: Any, count: int) -> Any:
    """The batch cut to its first ``count`` items: tensors, tuples, lists, dicts, dataclasses."""
    if torch.is_tensor(batch):
        return batch[:count] if batch.dim() else batch
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return type(batch)(*(first_items(v, count) for v in batch))
    if isinstance(batch, list | tuple):
        return type(batch)(first_items(v, count) for v in batch)
    if isinstance(batch, Mapping):
        return {k: first_items(v, count) for k, v in batch.items()}
    if is_dataclass(batch) and not isinstance(batch, type):
        return replace(
            batch, **{f.name: first_items(getattr(batch, f.name), count) for f in fields(batch)}
        )
    return batch


def _tensors(batch: Any) -> Sequence[torch.Tensor]:
    if torch.is_tensor(batch):
        return [batch]
    if isinstance(batch, list | tuple):
        return [t for v in batch for t in _tensors(v)]
    if isinstance(batch, Mapping):
        return [t for v in batch.values() for t in _tensors(v)]
    if is_dataclass(batch) and not isinstance(batch, type):
        return [t for f in fields(batch) for t in _tensors(getattr(batch, f.name))]
    return []


def saved_activation_bytes(forward: Callable[[], Any]) -> int:
    """Bytes of the distinct storages autograd saves while ``forward()`` runs."""
    seen: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward()
    return sum(seen.values())


def parameter_bytes(model: nn.Module) -> int:
    """Bytes of the trainable parameters."""
    return sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)


def step_fits(
    *, per_item: int, items: int, static: int, available: int, flag: str = "--batch-size"
) -> str | None:
    """None when a step of ``items`` fits in ``available``; else the line saying what to use."""
    budget = HEADROOM * available - static
    need = static + ACTIVATION_MARGIN * per_item * items
    if need <= HEADROOM * available:
        return None
    fitting = int(budget // (ACTIVATION_MARGIN * per_item)) if per_item else items
    advice = (
        f"use {flag} {fitting} or less"
        if fitting >= 1
        else "even one item does not fit: use a smaller model or a device with more memory"
    )
    return (
        f"a training step of {items} items needs about {need / GIB:.1f} GiB "
        f"({ACTIVATION_MARGIN * per_item / GIB:.2f} GiB per item) but {available / GIB:.1f} GiB "
        f"are free; {advice}"
    )
