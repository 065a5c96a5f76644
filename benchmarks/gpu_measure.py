"""The GPU suite's measuring: timing, FLOPs, agreement, and one case run as the suite's rows."""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from gpu_record import Row, Suite
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (CUDA); nothing elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    fn: Callable[[], Any], device: torch.device, warmup: int, repeats: int
) -> tuple[list[float], float | None, Any]:
    """(seconds per call, peak MiB above the memory held before, last output) after ``warmup``.

    CUDA: each call between two recorded events; the peak is ``max_memory_allocated`` over the
    timed calls minus what was allocated before them. CPU: wall time, no peak.
    """
    for _ in range(warmup):
        fn()
    seconds = []
    output = None
    if device.type != "cuda":
        for _ in range(repeats):
            start = time.perf_counter()
            output = fn()
            seconds.append(time.perf_counter() - start)
        return seconds, None, output
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        output = fn()
        end.record()
        end.synchronize()
        seconds.append(start.elapsed_time(end) / 1000)
    peak = (torch.cuda.max_memory_allocated(device) - before) / 2**20
    return seconds, peak, output


class FlopCount(TorchDispatchMode):
    """Sums ``torch.utils.flop_counter``'s formulas (matmuls, convolutions, attention) over
    every operation dispatched inside it, backward ones included.

    ``FlopCounterMode`` itself tracks modules with hooks that ``torch.autograd.grad`` inside a
    guided step trips over; the formulas are the same.
    """

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        formula = flop_registry.get(func._overloadpacket)
        if formula is not None:
            self.total += int(formula(*args, **kwargs, out_val=out))
        return out


def count_flops(fn: Callable[[], Any]) -> float:
    """FLOPs of one call of ``fn`` (forward and backward)."""
    with FlopCount() as counter:
        fn()
    return float(counter.total)


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| in float64."""
    return float((a.double() - b.double()).abs().max())


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR (dB) of ``a`` against ``b``, images in [-1, 1] (peak-to-peak 2), clamped first."""
    a, b = a.double().clamp(-1, 1), b.double().clamp(-1, 1)
    mse = float((a - b).pow(2).mean())
    return math.inf if mse == 0 else 10 * math.log10(4.0 / mse)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    """bf16: autocast on the device; fp32 (and the reference's own fp16): nothing."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def at(precision: str, device: torch.device, fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run under ``precision``'s autocast."""

    def run() -> Any:
        with autocast(device, precision):
            return fn()

    return run


def image_of(output: Any) -> torch.Tensor:
    """The image tensor of a run's output (the first element of a tuple)."""
    return output[0] if isinstance(output, (tuple, list)) else output


@dataclass
class Case:
    """One comparison: i2i at fp32 and bf16, the reference, and how a call scales to an image.

    ``scale`` turns the seconds of one timed call into those of a full translation of the
    batch (e.g. 500 / 20 for EGSDE's 20 timed steps of M = 500); ``flops`` counts i2i's fp32
    call once (False: not counted).
    """

    section: str
    batch: int
    ours: Callable[[], Any]
    reference: Callable[[], Any] | None
    reference_name: str
    reference_precision: str = "fp32"
    reference_check: Callable[[], Any] | None = None
    scale: float = 1.0
    nfe: int | None = None
    reference_nfe: int | None = None
    options: str = ""
    flops: bool = True
    precisions: tuple[str, ...] = ("fp32", "bf16")
    note: str = ""
    stand_in: bool = True
    reference_rate: float | None = None
    reference_output: torch.Tensor | None = None
    fp32_output: torch.Tensor | None = None


def run_case(suite: Suite, case: Case, label: str = "i2i") -> list[Row]:
    """Time the reference and i2i at each precision; agreement, drift, PSNR, FLOPs; rows."""
    device, plan = suite.device, suite.plan
    reference = case.reference
    reference_name = case.reference_name
    if reference is None and suite.smoke and case.stand_in:
        reference, reference_name = case.ours, "stand-in (i2i fp32)"
    rows = []
    fp32_output = case.fp32_output
    reference_output = case.reference_output
    if case.reference_check is not None:
        reference_output = image_of(case.reference_check())
    ref_rate = case.reference_rate
    if reference is not None:
        seconds, peak, output = timed(reference, device, plan.warmup, plan.repeats)
        if reference_output is None and case.reference_precision == "fp32":
            reference_output = image_of(output)
        ref_rate = case.batch / (min(seconds) * case.scale)
        rows.append(
            suite.add(
                Row(
                    case.section, reference_name, case.reference_precision, case.batch,
                    images_per_s=ref_rate, peak_mib=peak, nfe=case.reference_nfe,
                    seconds=seconds, note="reference",
                )
            )
        )  # fmt: skip
    flop_per_image = None
    if case.flops:
        flop_per_image = count_flops(case.ours) * case.scale / case.batch
    for precision in case.precisions:
        seconds, peak, output = timed(at(precision, device, case.ours), device, plan.warmup,
                                      plan.repeats)  # fmt: skip
        image = image_of(output)
        rate = case.batch / (min(seconds) * case.scale)
        row = Row(
            case.section, label, precision, case.batch, case.options, rate, ref_rate,
            None if ref_rate is None else rate / ref_rate, peak, nfe=case.nfe, seconds=seconds,
            note=case.note,
        )  # fmt: skip
        if flop_per_image is not None:
            row.tflop_per_image = flop_per_image / 1e12
            row.achieved_tflops = flop_per_image * rate / 1e12
        if precision == "fp32":
            fp32_output = image
            if reference_output is not None:
                row.max_abs_difference = max_abs(image, reference_output)
                row.max_abs_output = float(reference_output.abs().max())
        elif fp32_output is not None:
            row.bf16_drift = max_abs(image, fp32_output)
            row.psnr_db = psnr(image, fp32_output)
        rows.append(suite.add(row))
    return rows


def seeded(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Seeded N(0, 0.02^2) floating tensors (no zero-initialised layer left), others copied."""
    from bench_common import random_state

    return random_state(model, seed)
