"""Where and how a run computes: device, precision, seed and torch.distributed from torchrun."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

import torch
import torch.distributed as dist
from torch import nn

from i2i_cli.base.errors import UsageError

Precision = Literal["fp32", "bf16", "fp16"]
T = TypeVar("T")

AUTOCAST_DTYPES: dict[str, torch.dtype] = {"bf16": torch.bfloat16, "fp16": torch.float16}


def _mps_available() -> bool:
    """Whether Apple's Metal backend can run."""
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def available_devices() -> list[str]:
    """The device names this machine can use, best first."""
    names = [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    if _mps_available():
        names.append("mps")
    return [*names, "cpu"]


def pick_device(requested: str | None = None) -> torch.device:
    """The device to run on: ``auto`` (or None) picks cuda > mps > cpu; others are checked."""
    if requested in (None, "", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    available = ", ".join(available_devices())
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise UsageError(f"unknown device '{requested}' (available: {available})") from None
    usable = {
        "cpu": True,
        "cuda": torch.cuda.is_available()
        and (device.index is None or device.index < torch.cuda.device_count()),
        "mps": _mps_available(),
    }.get(device.type, False)
    if not usable:
        raise UsageError(f"device '{requested}' is not available here (available: {available})")
    return device


@dataclass(frozen=True)
class DistInfo:
    """This process's place in a torchrun job (rank 0 of 1 when run plainly)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def is_main(self) -> bool:
        """Whether this process logs, draws progress bars and writes shared files."""
        return self.rank == 0


def torchrun_placement() -> DistInfo:
    """This process's rank, world size and local rank as torchrun's environment gives them.

    Read before any process group is joined (rank 0 of 1 when run plainly).
    """
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return DistInfo()
    rank = int(os.environ["RANK"])
    world_size = int(os.environ["WORLD_SIZE"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (nccl on cuda, else gloo); world size 1 without."""
    info = torchrun_placement()
    if info.world_size == 1:
        return info
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
        owns = True
    return replace(info, owns_group=owns)


def warn_line(message: str) -> None:
    """Print one ``warning:`` line on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def first_line(error: BaseException) -> str:
    """An exception's type and the first line of its message (compiler errors run to pages)."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__


class CompiledOrEager:
    """A method run through ``torch.compile``, falling back for good to eager on a compile failure.

    ``torch.compile`` compiles lazily, on each call whose inputs it has not seen, so a failure
    (no C compiler, an unsupported operation, a backend crash) surfaces on a call: that call is
    rerun eagerly, and when the eager call succeeds the failure was the compiler's: one warning
    line and eager execution from then on. When the eager call fails too, its error is raised
    (the inputs' fault, not the compiler's) and compilation stays on.
    """

    def __init__(
        self, eager: Callable[..., Any], name: str, warn: Callable[[str], None] = warn_line
    ) -> None:
        self.eager = eager
        self.name = name
        self.warn = warn
        self.failed = False
        try:
            self.compiled: Callable[..., Any] = torch.compile(eager)
        except Exception as error:  # any failure means: run eagerly
            self._give_up(error)

    def _give_up(self, error: BaseException) -> None:
        self.failed = True
        self.warn(f"torch.compile of {self.name} failed ({first_line(error)}); running it eagerly")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The compiled call, or the eager one once compiling has failed."""
        if self.failed:
            return self.eager(*args, **kwargs)
        try:
            return self.compiled(*args, **kwargs)
        except Exception as error:  # the eager rerun below decides whose fault
            result = self.eager(*args, **kwargs)
            self._give_up(error)
            return result


COMPILED_METHODS = ("forward", "features")
"""The methods ``compile_module`` compiles where a network has them (``features``: the ADM
classifier's feature map, which EGSDE's and DG's energies call instead of ``forward``)."""


def compile_module(module: nn.Module, warn: Callable[[str], None] = warn_line) -> nn.Module:
    """``module`` itself, its ``forward`` (and ``features``) compiled with eager fallback.

    The compiled methods are set on the instance, so the module keeps its type, attributes and
    state-dict keys; calling it goes through ``CompiledOrEager``.
    """
    for method in COMPILED_METHODS:
        bound = getattr(module, method, None)
        if callable(bound) and not isinstance(bound, CompiledOrEager):
            name = f"{type(module).__name__}.{method}"
            setattr(module, method, CompiledOrEager(bound, name, warn))
    return module


@dataclass(frozen=True)
class Runtime:
    """Device, precision, seed, distributed placement and network options of one run."""

    device: torch.device
    precision: Precision
    seed: int
    dist: DistInfo
    compile: bool = False
    channels_last: bool = False

    def prepare(self, module: nn.Module) -> nn.Module:
        """The run's network options applied to ``module`` (in place): channels_last, compile."""
        if self.channels_last:
            module = module.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
        if self.compile:
            module = compile_module(module)
        return module

    @property
    def is_main(self) -> bool:
        """Whether this is rank 0."""
        return self.dist.is_main

    @property
    def compute_dtype(self) -> torch.dtype:
        """The dtype networks compute in under ``autocast()``."""
        return AUTOCAST_DTYPES.get(self.precision, torch.float32)

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Mixed precision for network calls (a no-op at fp32)."""
        if self.precision == "fp32":
            yield
            return
        with torch.autocast(self.device.type, dtype=self.compute_dtype):
            yield

    def shard(self, items: Sequence[T]) -> list[T]:
        """This rank's share of ``items``: every ``world_size``-th one from ``rank``."""
        return list(items[self.dist.rank :: self.dist.world_size])

    def barrier(self) -> None:
        """Wait for every rank (no-op at world size 1)."""
        if self.dist.world_size > 1:
            dist.barrier()

    def all_reduce_sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The element-wise sum of ``tensor`` over ranks, in place (identity at world size 1)."""
        if self.dist.world_size > 1:
            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def all_gather_objects(self, obj: Any) -> list[Any]:
        """``obj`` from every rank, in rank order (``[obj]`` at world size 1)."""
        if self.dist.world_size == 1:
            return [obj]
        gathered: list[Any] = [None] * self.dist.world_size
        dist.all_gather_object(gathered, obj)
        return gathered


def create_runtime(
    device: str | None = None,
    precision: Precision = "fp32",
    seed: int = 0,
    *,
    compile: bool = False,
    channels_last: bool = False,
) -> Runtime:
    """A checked ``Runtime``: the device exists, the precision runs on it, torchrun is joined.

    ``compile`` and ``channels_last`` are applied by ``Runtime.prepare`` to each loaded network.
    """
    chosen = pick_device(device)
    if precision not in ("fp32", "bf16", "fp16"):
        raise UsageError(f"unknown precision '{precision}' (fp32, bf16 or fp16)")
    if precision == "fp16" and chosen.type == "cpu":
        raise UsageError("fp16 does not run on the CPU; use --precision bf16 or fp32")
    if precision == "bf16" and chosen.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UsageError("this GPU has no bf16 support; use --precision fp16 or fp32")
    info = init_distributed(chosen.type)
    if chosen.type == "cuda" and info.world_size > 1:
        chosen = torch.device("cuda", info.local_rank)
    if chosen.type == "cuda":
        if chosen.index is None:
            chosen = torch.device("cuda", torch.cuda.current_device())
        torch.cuda.set_device(chosen)
        if precision == "fp32":
            # fp32 means IEEE fp32: TF32 convolutions move ODE passes by ~1e-3 (ddib.md §6.4).
            torch.backends.cuda.matmul.allow_tf32 = False
            torch.backends.cudnn.allow_tf32 = False
    return Runtime(
        device=chosen,
        precision=precision,
        seed=seed,
        dist=info,
        compile=compile,
        channels_last=channels_last,
    )


def shutdown_runtime(runtime: Runtime) -> None:
    """Leave the process group if this runtime joined it."""
    if runtime.dist.owns_group and dist.is_initialized():
        dist.destroy_process_group()
