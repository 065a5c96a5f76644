"""What the side-by-side benchmarks share: seeded weights, stand-in modules, noise replay, timing.

Imported by ``bench_sddm.py`` and ``bench_bbdm.py`` (run as scripts from the repository root, so
this folder is on ``sys.path``). Nothing here is part of the i2i package.
"""

from __future__ import annotations

import json
import platform
import statistics
import sys
import time
import types
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn


def random_state(model: nn.Module, seed: int, scale: float = 0.02) -> dict[str, torch.Tensor]:
    """Seeded N(0, scale^2) floating tensors (no zero-initialised layer left), others copied."""
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(value.shape, generator=generator) * scale
        if value.is_floating_point()
        else value.clone()
        for key, value in model.state_dict().items()
    }


def fan_in_state(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Seeded weights N(0, 1/fan_in) and biases 0.05 N(0, 1): activations keep their scale."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in model.state_dict().items():
        noise = torch.randn(value.shape, generator=generator)
        if value.dim() >= 2:
            state[key] = noise / value[0].numel() ** 0.5
        else:
            state[key] = noise * 0.05
    return state


def stand_in_modules(attributes: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Register an empty module (with the given attributes) for each name that fails to import.

    Returns the names that were stood in for, so a report can say which.
    """
    stood_in = []
    for name, attrs in attributes.items():
        try:
            __import__(name)
        except ImportError:
            module = types.ModuleType(name)
            for key, value in attrs.items():
                setattr(module, key, value)
            sys.modules[name] = module
            parent, _, child = name.rpartition(".")
            if parent and parent in sys.modules:
                setattr(sys.modules[parent], child, module)
            stood_in.append(name)
    return stood_in


class ReplayTorch(types.ModuleType):
    """``torch`` as seen by a reference module, with ``randn``/``randn_like`` replayed in order.

    Installed as the reference module's ``torch`` name (``th``) for one run, so the reference
    draws the recorded tensors in its own draw order while everything else is torch itself.
    """

    def __init__(self, tensors: Sequence[torch.Tensor]) -> None:
        super().__init__("torch")
        self._tensors = list(tensors)
        self.drawn = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(torch, name)

    def _next(self, shape: Sequence[int], device: Any, dtype: Any) -> torch.Tensor:
        if self.drawn == len(self._tensors):
            raise RuntimeError(f"the reference drew more than the {self.drawn} recorded tensors")
        tensor = self._tensors[self.drawn]
        if tuple(tensor.shape) != tuple(shape):
            raise RuntimeError(f"draw {self.drawn}: recorded {tuple(tensor.shape)}, asked {shape}")
        self.drawn += 1
        return tensor.to(device=device, dtype=dtype or torch.float32)

    def randn(self, *size: Any, device: Any = None, dtype: Any = None, **_: Any) -> torch.Tensor:
        """The next recorded tensor, which must have the requested size."""
        shape = tuple(size[0]) if len(size) == 1 and not isinstance(size[0], int) else size
        return self._next(shape, device, dtype)

    def randn_like(self, x: torch.Tensor, **_: Any) -> torch.Tensor:
        """The next recorded tensor, placed and typed like ``x``."""
        return self._next(tuple(x.shape), x.device, x.dtype)


@contextmanager
def replayed_randn(
    modules: Sequence[types.ModuleType], names: Sequence[str], tensors: Sequence[torch.Tensor]
) -> Iterator[ReplayTorch]:
    """Within the block, each module's global ``name`` (its torch) replays ``tensors``."""
    replay = ReplayTorch(tensors)
    saved = [
        (module, name, getattr(module, name)) for module, name in zip(modules, names, strict=True)
    ]
    for module, name, _ in saved:
        setattr(module, name, replay)
    try:
        yield replay
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


@contextmanager
def patched(owner: Any, name: str, value: Any) -> Iterator[None]:
    """``owner.name = value`` within the block."""
    saved = getattr(owner, name)
    setattr(owner, name, value)
    try:
        yield
    finally:
        setattr(owner, name, saved)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_alternately(
    runs: Mapping[str, Callable[[], torch.Tensor]], repeats: int, device: torch.device
) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
    """Seconds of each run, the implementations alternating ``repeats`` times; last outputs."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, torch.Tensor] = {}
    for _ in range(repeats):
        for name, run in runs.items():
            synchronize(device)
            start = time.perf_counter()
            outputs[name] = run()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    return seconds, outputs


@dataclass
class Row:
    """One implementation's timing: images per second from the median and the fastest run."""

    name: str
    seconds: list[float]
    images: int
    images_per_s: float = 0.0
    best_images_per_s: float = 0.0

    def __post_init__(self) -> None:
        self.images_per_s = self.images / statistics.median(self.seconds)
        self.best_images_per_s = self.images / min(self.seconds)


@dataclass
class Report:
    """A benchmark's configuration, rows, ratio and output difference, as JSON and Markdown."""

    title: str
    config: dict[str, Any]
    rows: list[Row] = field(default_factory=list)
    max_abs_difference: float | None = None
    max_abs_output: float | None = None
    notes: list[str] = field(default_factory=list)

    def ratio(self, ours: str, reference: str) -> float | None:
        """ours / reference images per second, when both ran."""
        rates = {row.name: row.images_per_s for row in self.rows}
        if ours in rates and reference in rates:
            return rates[ours] / rates[reference]
        return None

    def markdown(self, ours: str, reference: str) -> str:
        """A Markdown table: one row per implementation, then ratio and difference lines."""
        lines = [
            f"**{self.title}**",
            "",
            "| implementation | s/image | images/s | best images/s |",
            "|---|---|---|---|",
        ]
        for row in self.rows:
            per_image = 1 / row.images_per_s
            lines.append(
                f"| {row.name} | {per_image:.3f} | {row.images_per_s:.4f} "
                f"| {row.best_images_per_s:.4f} |"
            )
        lines.append("")
        ratio = self.ratio(ours, reference)
        if ratio is not None:
            lines.append(f"{ours} / {reference}: {ratio:.2f}x images/s")
        if self.max_abs_difference is not None:
            lines.append(
                f"max |{ours} - {reference}| = {self.max_abs_difference:.2e} "
                f"(max |x| = {self.max_abs_output:.3g})"
            )
        lines += self.notes
        return "\n".join(lines) + "\n"

    def write(self, stem: Path | None, ours: str, reference: str) -> None:
        """Print the table; with ``stem``, also write ``stem.json`` and ``stem.md``."""
        text = self.markdown(ours, reference)
        print(text)
        if stem is None:
            return
        stem.parent.mkdir(parents=True, exist_ok=True)
        payload = asdict(self) | {"ratio": self.ratio(ours, reference), "machine": machine()}
        stem.with_suffix(".json").write_text(json.dumps(payload, indent=2) + "\n")
        stem.with_suffix(".md").write_text(text)


def machine() -> dict[str, Any]:
    """Where the figures were measured: processor, threads, torch, device name."""
    info = {
        "processor": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
    return info
