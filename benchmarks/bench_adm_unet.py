"""ADM UNet forward throughput: i2i's UNet against guided-diffusion's, same weights, one process.

    python benchmarks/bench_adm_unet.py --reference /path/to/guided-diffusion \\
        --device cpu --batch 1 --iters 3

``--reference`` is a local copy of openai/guided-diffusion (never part of this repository).
Both networks are built with the afhq_dog_4m flags (256x256 unless ``--image-size``), loaded with
the same random weights, checked to agree, then timed alternately so drift hits both alike.
Peak memory is what one warm forward pass needs above the loaded model and its input: on CUDA
``torch.cuda.max_memory_allocated`` minus the memory allocated before the pass; on the CPU the
peak resident set growth of a pass after ``--warmup`` passes, in a fresh child process per
implementation. In fp32 the script exits non-zero when the outputs disagree.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import torch
from torch import nn

from i2i_cli.networks.backbones import backbone_settings

PRESET = "afhq_dog_4m"


def flags(image_size: int) -> dict[str, object]:
    """The preset's create_model flags at ``image_size``."""
    _, settings = backbone_settings("adm-unet", PRESET, {"image_size": image_size})
    values = settings.model_dump()
    values.pop("in_channels")
    values.pop("num_classes")
    return values


def build_ours(image_size: int) -> nn.Module:
    """i2i's UNet at the preset."""
    descriptor, settings = backbone_settings("adm-unet", PRESET, {"image_size": image_size})
    return descriptor.build(settings)


def build_reference(reference: Path, image_size: int) -> nn.Module:
    """guided-diffusion's UNet at the preset, from the local copy."""
    sys.path.insert(0, str(reference))
    from guided_diffusion.script_util import create_model  # type: ignore[import-not-found]

    return create_model(**flags(image_size))


def random_state(model: nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights (no zero-initialised layer left) for a fair, non-trivial forward."""
    generator = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=generator) * 0.02 if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }


def forward_fn(
    model: nn.Module, x: torch.Tensor, t: torch.Tensor, dtype: str
) -> Callable[[], torch.Tensor]:
    """One no-grad forward pass at the requested precision."""

    def run() -> torch.Tensor:
        autocast = (
            torch.autocast(x.device.type, dtype=torch.bfloat16)
            if dtype == "bf16"
            else nullcontext()
        )
        with torch.no_grad(), autocast:
            return model(x, t)

    return run


def synchronize(device: torch.device) -> None:
    """Wait for queued device work (CUDA) so timings are honest."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_once(fn: Callable[[], torch.Tensor], device: torch.device) -> float:
    """Seconds of one call."""
    synchronize(device)
    start = time.perf_counter()
    fn()
    synchronize(device)
    return time.perf_counter() - start


def _status_kib(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in KiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def cpu_peak_growth(
    which: str, reference: str, image_size: int, batch: int, dtype: str, warmup: int, threads: int
) -> float:
    """Peak resident-set growth (MiB) over one warm forward pass, measured in this process.

    ``warmup`` passes run first (one-time allocations of the first pass, such as kernel
    caches, are not the network's working set); then the kernel's high-water mark is reset
    (``/proc/self/clear_refs`` = 5) so the peak of building the model does not mask the pass.
    """
    if threads:
        torch.set_num_threads(threads)
    model = (
        build_ours(image_size) if which == "ours" else build_reference(Path(reference), image_size)
    )
    model.eval()
    x = torch.randn(batch, 3, image_size, image_size)
    t = torch.full((batch,), 500)
    run = forward_fn(model, x, t, dtype)
    for _ in range(warmup):
        run()
    Path("/proc/self/clear_refs").write_text("5")
    before = _status_kib("VmRSS")
    run()
    return (_status_kib("VmHWM") - before) / 1024


def cpu_memory(which: str, args: argparse.Namespace) -> float:
    """``cpu_peak_growth`` in a spawned child process."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(
            cpu_peak_growth,
            (
                which,
                str(args.reference),
                args.image_size,
                args.batch,
                args.dtype,
                args.warmup,
                args.threads,
            ),
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="untimed passes per network")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--compile", action="store_true", help="torch.compile both networks")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    ours = build_ours(args.image_size).eval()
    reference = build_reference(args.reference, args.image_size).eval()
    state = random_state(ours)
    ours.load_state_dict(state, strict=True)
    reference.load_state_dict(state, strict=True)
    ours, reference = ours.to(device), reference.to(device)
    x = torch.randn(args.batch, 3, args.image_size, args.image_size, device=device)
    t = torch.full((args.batch,), 500, device=device)
    models = {"i2i": ours, "guided-diffusion": reference}
    if args.compile:
        models = {name: torch.compile(model) for name, model in models.items()}
    runs = {name: forward_fn(model, x, t, args.dtype) for name, model in models.items()}

    expected = runs["guided-diffusion"]()
    difference = (runs["i2i"]() - expected).abs().max().item()
    if args.dtype == "fp32" and difference > 1e-4 * max(1.0, expected.abs().max().item()):
        raise SystemExit(f"outputs disagree: max |i2i - reference| = {difference:.2e}")
    for _ in range(args.warmup):
        for run in runs.values():
            run()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    peaks: dict[str, float] = {}
    for _ in range(args.iters):
        for name, run in runs.items():
            seconds[name].append(time_once(run, device))
    if device.type == "cuda":
        for name, run in runs.items():
            torch.cuda.reset_peak_memory_stats(device)
            before = torch.cuda.memory_allocated(device)
            run()
            peaks[name] = (torch.cuda.max_memory_allocated(device) - before) / 2**20
    else:
        peaks = {"i2i": cpu_memory("ours", args), "guided-diffusion": cpu_memory("ref", args)}

    label = f"{device.type}, batch {args.batch}, {args.image_size}px, {args.dtype}"
    label += ", torch.compile" if args.compile else ""
    print(f"ADM UNet ({PRESET}) forward, {label}; max |i2i - reference| = {difference:.2e}")
    print(f"{'implementation':<18} {'images/s':>10} {'best':>8} {'peak MiB':>10}")
    rates = {}
    for name in runs:
        rates[name] = args.batch / statistics.median(seconds[name])
        best = args.batch / min(seconds[name])
        print(f"{name:<18} {rates[name]:>10.3f} {best:>8.3f} {peaks[name]:>10.0f}")
    ratio = rates["i2i"] / rates["guided-diffusion"]
    memory = peaks["i2i"] / peaks["guided-diffusion"] if peaks["guided-diffusion"] else float("nan")
    print(f"i2i / reference: {ratio:.2f}x throughput, {memory:.2f}x peak memory")


if __name__ == "__main__":
    main()
