"""The GPU suite: every method at its paper's resolution, i2i against its reference, one table.

    python benchmarks/gpu_suite.py --references out/gpu_refs --device cuda --out out/gpu_suite
    python benchmarks/gpu_suite.py --smoke --device cpu --out /tmp/gpu_smoke     # logic only

One process, one JSON (``OUT.json``) and one Markdown table (``OUT.md``), both rewritten after
every case so a run cut short keeps what it measured. Timing is CUDA events after warm-up
(``time.perf_counter`` on the CPU). Each case runs i2i and the reference implementation side by
side on the same random weights and the same noise, the reference as its scripts run it, and
checks their fp32 outputs agree (max |i2i - reference|); every bf16 row also gives its drift from
i2i's fp32 output and the PSNR between the two images (range [-1, 1]).

Sections (``--sections``, in this order):

- ``egsde``: wild2dog at 256 px (ADM afhq_dog_4m + DSE, both energies): ``--egsde-steps`` timed
  steps scaled to M = 500, against ``runners/egsde.py``'s loop (``bench_egsde``);
- ``ddib``: ImageNet 256 class-conditional ADM with classifier guidance: i2i's default solver
  (DPM-Solver++(2M), 50 steps per pass) and 1000-step DDIM against the reference's 1000-step
  DDIM (its ``use_fp16`` flags: fp16), each timed over ``--ddib-steps`` steps per pass and
  scaled; the NFE ratio; agreement of the two DDIMs on the timed grid;
- ``dg``: CIFAR-10 at 35 NFE, against DG's ``edm_sampler`` (``bench_dg``);
- ``sddm``: wild2dog at 256 px, 100 respaced steps, against ``p_sample_loop`` (``bench_sddm``);
- ``bbdm``: SDE-BBDM fast sampling at 256 px in VQ-f4 latent space, ``--bbdm-nfe`` of the
  199 taus scaled to 199, against ``SDEBBDMManager.sampling`` (``bench_bbdm``);
- ``unet``: the ADM UNet forward at 256 px (afhq_dog_4m flags), batch 1/8/32, fp32 and bf16,
  contiguous and channels_last, against guided-diffusion's UNet (fp32, as its flags say);
  images/s, peak memory, FLOP/image (``torch.utils.flop_counter``), TFLOP/s and share of the
  H200's bf16 dense peak (``--peak-tflops``, 790);
- ``unet-compile``: the same forward under ``torch.compile`` (bf16; compiling takes most of its
  time, so it runs last, within what ``--budget-s`` leaves).

``--references DIR`` holds local copies (never part of this repository): ``guided-diffusion``
(openai), ``EGSDE`` (ML-GSAI), ``ddib`` (suxuann), ``DG`` (alsdudrla10), ``edm`` (NVlabs),
``sddm`` (skipper17), ``score-based-bbdm`` (kisonho) and ``deps`` (torchmanager 1.2,
torchmanager-diffusion 1.1.1, einops: ``pip install --no-deps --target DIR/deps ...``);
``--export-references DIR`` writes them from the fetched mirrors (``--mirrors``). A missing
reference leaves its case's reference column empty (``--smoke``: i2i's fp32 run stands in, so
every code path runs). ``--budget-s`` skips the cases that would start after it.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import math
import platform
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

BENCHMARKS = Path(__file__).resolve().parent
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

H200_BF16_TFLOPS = 790.0
"""The H200's dense bf16 tensor-core peak (TFLOP/s), the share-of-peak denominator."""
SECTIONS = ("egsde", "ddib", "dg", "sddm", "bbdm", "unet", "unet-compile")
SMOKED = SECTIONS[:-1]
"""``--smoke``'s default sections: compiling even the tiny UNet takes minutes on a CPU."""
REFERENCE_DIRS = {
    "guided-diffusion": "openai+guided-diffusion",
    "EGSDE": "ML-GSAI+EGSDE",
    "ddib": "suxuann+ddib",
    "DG": "alsdudrla10+DG",
    "edm": "NVlabs+edm",
    "sddm": "skipper17+sddm",
    "score-based-bbdm": "kisonho+score-based-bbdm-a-bridge",
}
"""Folder under ``--references`` -> fetched mirror (``owner+name``) it is exported from."""
SHADOWED = ("guided_diffusion", "functions", "runners", "training", "torch_utils", "dnnlib")
"""Top-level package names several references define: dropped from ``sys.modules`` between
cases so each case imports its own reference's copy."""


TINY = {
    "adm-unet": {"num_channels": 32, "channel_mult": "1,2", "num_head_channels": 32},
    "adm-classifier": {"width": 32, "depth": 1, "channel_mult": "1,2", "num_head_channels": 32},
    "dg-discriminator": {
        "in_channels": 64,
        "image_size": 16,
        "width": 32,
        "depth": 1,
        "num_head_channels": 32,
    },
    "edm": {
        "model_channels": 16,
        "channel_mult": [1, 2],
        "num_blocks": 1,
        "attn_resolutions": [16],
    },
    "vq-f4": {"ch": 32, "num_res_blocks": 1},
}
"""``--smoke``: every backbone the cases build, shrunk (the references are not loaded then)."""
SMOKE_USERS = ("bench_egsde", "bench_dg", "bench_sddm", "bench_bbdm")
"""The side-by-side benchmarks whose ``backbone_settings`` ``--smoke`` shrinks."""


def tiny_settings(name: str, preset: str | None, overrides: Any = None, *rest: Any) -> Any:
    """``backbone_settings`` with ``TINY``'s overrides of ``name`` over the caller's."""
    from i2i_cli.networks.backbones import backbone_settings

    return backbone_settings(name, preset, {**(overrides or {}), **TINY.get(name, {})}, *rest)


@contextlib.contextmanager
def tiny_backbones(active: bool) -> Iterator[None]:
    """Within the block (when ``active``), the benchmarks build ``TINY`` networks."""
    import importlib

    if not active:
        yield
        return
    modules = [importlib.import_module(name) for name in SMOKE_USERS]
    saved = [module.backbone_settings for module in modules]
    for module in modules:
        module.backbone_settings = tiny_settings
    try:
        yield
    finally:
        for module, value in zip(modules, saved, strict=True):
            module.backbone_settings = value


@dataclass(frozen=True)
class Plan:
    """Sizes of one suite run (``REAL``: the H200 run; ``SMOKE``: the CPU logic check)."""

    unet_size: int
    unet_overrides: dict[str, Any]
    unet_batches: tuple[int, ...]
    compile_batches: tuple[int, ...]
    egsde_size: int
    egsde_batch: int
    ddib_size: int
    ddib_batch: int
    ddib_overrides: dict[str, Any]
    classifier_overrides: dict[str, Any]
    dg_batch: int
    dg_steps: int
    sddm_size: int
    sddm_batch: int
    sddm_steps: int
    bbdm_size: int
    bbdm_batch: int
    bbdm_width: int
    warmup: int
    repeats: int


REAL = Plan(
    unet_size=256, unet_overrides={}, unet_batches=(1, 8, 32), compile_batches=(32, 8, 1),
    egsde_size=256, egsde_batch=8, ddib_size=256, ddib_batch=4, ddib_overrides={},
    classifier_overrides={}, dg_batch=128, dg_steps=18, sddm_size=256, sddm_batch=2,
    sddm_steps=100, bbdm_size=256, bbdm_batch=8, bbdm_width=128, warmup=1, repeats=2,
)  # fmt: skip
CHECK = Plan(
    unet_size=64, unet_overrides={}, unet_batches=(1,), compile_batches=(1,), egsde_size=64,
    egsde_batch=1, ddib_size=64, ddib_batch=1, ddib_overrides={}, classifier_overrides={},
    dg_batch=1, dg_steps=2, sddm_size=64, sddm_batch=1, sddm_steps=4, bbdm_size=64,
    bbdm_batch=1, bbdm_width=64, warmup=0, repeats=1,
)  # fmt: skip
"""``--check``: the real networks at small sizes with the references, to check them on a CPU."""
SMOKE = Plan(
    unet_size=32, unet_overrides={"num_channels": 32, "channel_mult": "1,2"},
    unet_batches=(1, 2), compile_batches=(1,), egsde_size=32, egsde_batch=1, ddib_size=32,
    ddib_batch=1, ddib_overrides={"num_channels": 32, "num_res_blocks": 1, "channel_mult": "1,2",
    "attention_resolutions": "16"}, classifier_overrides={"width": 32, "depth": 1,
    "channel_mult": "1,2", "attention_resolutions": "16"}, dg_batch=1, dg_steps=2,
    sddm_size=32, sddm_batch=1, sddm_steps=4, bbdm_size=32, bbdm_batch=1, bbdm_width=64,
    warmup=0, repeats=1,
)  # fmt: skip


@dataclass
class Row:
    """One implementation at one configuration: throughput, memory, arithmetic, agreement."""

    section: str
    implementation: str
    precision: str
    batch: int
    options: str = ""
    images_per_s: float | None = None
    reference_images_per_s: float | None = None
    ratio: float | None = None
    peak_mib: float | None = None
    tflop_per_image: float | None = None
    achieved_tflops: float | None = None
    peak_share: float | None = None
    max_abs_difference: float | None = None
    max_abs_output: float | None = None
    bf16_drift: float | None = None
    psnr_db: float | None = None
    nfe: int | None = None
    seconds: list[float] = field(default_factory=list)
    note: str = ""


@dataclass
class Suite:
    """The run: device, plan, budget, rows so far, and where they are written."""

    device: torch.device
    plan: Plan
    references: Path | None
    smoke: bool
    budget_s: float
    peak_tflops: float
    out: Path | None
    config: dict[str, Any]
    started: float = field(default_factory=time.perf_counter)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def over_budget(self) -> bool:
        """Whether the time budget is spent (later cases are skipped)."""
        return time.perf_counter() - self.started > self.budget_s

    def reference(self, name: str) -> Path | None:
        """The reference copy ``name`` under ``--references``; None where missing or smoke."""
        if self.smoke or self.references is None or not (self.references / name).is_dir():
            return None
        return self.references / name

    def add(self, row: Row) -> Row:
        """Record ``row`` (share of peak filled in) and rewrite the outputs."""
        if row.achieved_tflops is not None:
            row.peak_share = row.achieved_tflops / self.peak_tflops
        self.rows.append(row)
        self.write()
        return row

    def payload(self) -> dict[str, Any]:
        """Everything the JSON holds."""
        return {
            "config": self.config,
            "machine": machine(),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "elapsed_s": time.perf_counter() - self.started,
            "peak_tflops": self.peak_tflops,
            "rows": [asdict(row) for row in self.rows],
            "notes": self.notes,
        }

    def write(self) -> None:
        """Rewrite ``OUT.json`` and ``OUT.md`` (nothing without ``--out``)."""
        if self.out is None:
            return
        self.out.parent.mkdir(parents=True, exist_ok=True)
        self.out.with_suffix(".json").write_text(json.dumps(self.payload(), indent=2) + "\n")
        self.out.with_suffix(".md").write_text(markdown(self.payload()))


def machine() -> dict[str, Any]:
    """Where the figures were measured: processor, threads, torch, CUDA device and version."""
    info: dict[str, Any] = {
        "processor": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def _number(value: float | None, digits: str) -> str:
    return "" if value is None else format(value, digits)


def markdown(payload: dict[str, Any]) -> str:
    """The suite's table: one line per row, then the machine, date and notes."""
    lines = [
        "| section | implementation | precision | options | batch | NFE | images/s "
        "| reference images/s | ratio | peak MiB | TFLOP/image | TFLOP/s | % of peak "
        "| max abs diff fp32 | bf16 drift | PSNR dB | note |",
        "|" + "---|" * 17,
    ]
    for row in payload["rows"]:
        share = row["peak_share"]
        cells = [
            row["section"], row["implementation"], row["precision"], row["options"],
            str(row["batch"]), "" if row["nfe"] is None else str(row["nfe"]),
            _number(row["images_per_s"], ".4g"), _number(row["reference_images_per_s"], ".4g"),
            _number(row["ratio"], ".2f") + ("x" if row["ratio"] is not None else ""),
            _number(row["peak_mib"], ".0f"), _number(row["tflop_per_image"], ".4g"),
            _number(row["achieved_tflops"], ".1f"), _number(None if share is None else
            100 * share, ".1f"), _number(row["max_abs_difference"], ".2e"),
            _number(row["bf16_drift"], ".2e"), _number(row["psnr_db"], ".1f"), row["note"],
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    info = payload["machine"]
    device = info.get("cuda_device", info["processor"])
    lines += [
        "",
        f"{device}, torch {info['torch']}, {payload['date']}, {payload['elapsed_s']:.0f} s; "
        f"% of peak: achieved TFLOP/s over {payload['peak_tflops']:g} TFLOP/s.",
    ]
    lines += [f"- {note}" for note in payload["notes"]]
    return "\n".join(lines) + "\n"


# --- measuring ---------------------------------------------------------------------------------


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


@contextlib.contextmanager
def reference_imports(*roots: Path) -> Iterator[None]:
    """``roots`` first on ``sys.path`` and the shadowed package names free to import afresh."""
    for name in list(sys.modules):
        if name.split(".")[0] in SHADOWED:
            del sys.modules[name]
    sys.path[:0] = [str(root) for root in roots]
    try:
        yield
    finally:
        for root in roots:
            with contextlib.suppress(ValueError):
                sys.path.remove(str(root))


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


# --- the ADM UNet ------------------------------------------------------------------------------


def adm_unet(preset: str, overrides: dict[str, Any]) -> tuple[nn.Module, dict[str, Any], Any]:
    """i2i's ``adm-unet`` at ``preset``, its guided-diffusion ``create_model`` flags, its spec."""
    from i2i_cli.networks.backbones import backbone_settings, backbone_spec

    descriptor, settings = backbone_settings("adm-unet", preset, overrides)
    flags = settings.model_dump()
    flags.pop("in_channels", None)
    flags.pop("num_classes", None)
    flags["use_fp16"] = False  # fp16 is applied to the built model (convert_to_fp16)
    return descriptor.build(settings).eval(), flags, backbone_spec("adm-unet", preset, overrides)


def accepted(function: Callable[..., Any], flags: dict[str, Any]) -> dict[str, Any]:
    """The ``flags`` that ``function`` takes (i2i's settings also hold the diffusion process)."""
    import inspect

    names = inspect.signature(function).parameters
    return {key: value for key, value in flags.items() if key in names}


def reference_unet(root: Path, flags: dict[str, Any]) -> nn.Module:
    """guided-diffusion's ``create_model(**flags)`` from the copy at ``root``."""
    with reference_imports(root):
        from guided_diffusion.script_util import create_model  # type: ignore[import-not-found]

        return create_model(**accepted(create_model, flags)).eval()


def unet_section(suite: Suite, compiled: bool) -> None:
    """The afhq_dog_4m UNet forward: batches x precisions x memory formats (or torch.compile).

    Per batch the reference runs once (fp32, contiguous, as its flags say); every i2i row gets
    its rate and fp32 output. Compiled rows (bf16, channels_last) reuse the eager reference row.
    """
    device, plan = suite.device, suite.plan
    overrides = {"image_size": plan.unet_size, **plan.unet_overrides}
    ours, flags, _ = adm_unet("afhq_dog_4m", overrides)
    state = seeded(ours, 0)
    ours.load_state_dict(state, strict=True)
    ours = ours.to(device).requires_grad_(False)
    root = suite.reference("guided-diffusion")
    theirs = None
    if root is not None:
        theirs = reference_unet(root, flags)
        theirs.load_state_dict(state, strict=True)
        theirs = theirs.to(device).requires_grad_(False)
    section = f"unet{'-compile' if compiled else ''} {plan.unet_size}px"
    formats = ("channels_last",) if compiled else ("contiguous", "channels_last")
    models = {
        f: ours if f == "contiguous" else copy.deepcopy(ours).to(memory_format=torch.channels_last)
        for f in formats
    }
    if compiled:
        from i2i_cli.run.runtime import compile_module

        for model in models.values():
            compile_module(model, lambda line: suite.notes.append(f"unet-compile: {line}"))
    for batch in plan.compile_batches if compiled else plan.unet_batches:
        if suite.over_budget():
            suite.notes.append(f"{section} batch {batch}: skipped, time budget spent")
            return
        generator = torch.Generator().manual_seed(batch)
        x = torch.randn(batch, 3, plan.unet_size, plan.unet_size, generator=generator)
        x = x.to(device)
        t = torch.full((batch,), 500, device=device)

        def forward(model: nn.Module, x: torch.Tensor = x, t: torch.Tensor = t) -> Callable:
            def run() -> torch.Tensor:
                with torch.no_grad():
                    return model(x, t)

            return run

        reference_rate = reference_output = None
        if compiled:
            earlier = [r for r in suite.rows if r.section == f"unet {plan.unet_size}px"
                       and r.note == "reference" and r.batch == batch]  # fmt: skip
            reference_rate = earlier[-1].images_per_s if earlier else None
        flop_per_image = count_flops(forward(ours, x[:1], t[:1]))
        eager_fp32 = forward(ours)() if compiled else None
        for memory_format, model in models.items():
            options = memory_format + (", torch.compile" if compiled else "")
            first = memory_format == "contiguous"
            case = Case(
                section, batch, forward(model),
                forward(theirs) if theirs is not None and first else None, "guided-diffusion",
                options=options, flops=not compiled, stand_in=first,
                precisions=("bf16",) if compiled else ("fp32", "bf16"),
                reference_rate=reference_rate, reference_output=reference_output,
                fp32_output=eager_fp32,
            )  # fmt: skip
            # FLOPs: counted once on one eager image (they scale with the batch).
            case.flops = False
            rows = run_case(suite, case)
            for row in rows:
                if row.note != "reference" and row.images_per_s is not None:
                    row.tflop_per_image = flop_per_image / 1e12
                    row.achieved_tflops = row.tflop_per_image * row.images_per_s
                    row.peak_share = row.achieved_tflops / suite.peak_tflops
            if first and rows and rows[0].note == "reference":
                reference_rate = rows[0].images_per_s
                reference_output = forward(theirs if theirs is not None else model)()
            suite.write()


# --- EGSDE -------------------------------------------------------------------------------------


def egsde_section(suite: Suite, steps: int, m: int) -> None:
    """wild2dog: ``steps`` of EGSDE's loop (UNet + DSE forward and input gradient), to M = m."""
    import bench_egsde

    device, plan = suite.device, suite.plan
    size, batch = plan.egsde_size, plan.egsde_batch
    factor = max(2, 32 * size // 256)
    unet, dse = bench_egsde.build_ours(size)
    states = [bench_egsde.random_state(module, seed) for seed, module in enumerate((unet, dse))]
    for module, state in zip((unet, dse), states, strict=True):
        module.load_state_dict(state, strict=True)
    unet, dse = (module.to(device).requires_grad_(False) for module in (unet, dse))
    generator = torch.Generator().manual_seed(1234)
    x0 = (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).to(device)
    args = SimpleNamespace(start_step=steps, dtype="fp32")

    def ours() -> torch.Tensor:
        torch.manual_seed(1234)
        return bench_egsde.our_loop(args, unet, dse, x0, factor)

    reference = None
    root = suite.reference("EGSDE")
    if root is not None:
        with reference_imports(root):
            parts = bench_egsde.build_reference(root, size)
        for module, state in zip(parts[:2], states, strict=True):
            module.load_state_dict(state, strict=True)
        parts = (parts[0].to(device), parts[1].to(device), *parts[2:])

        def reference() -> torch.Tensor:
            torch.manual_seed(1234)
            return bench_egsde.reference_loop(args, parts, x0, factor)

    run_case(
        suite,
        Case(f"egsde wild2dog {size}px", batch, ours, reference, "EGSDE run_EGSDE.py loop",
             scale=m / steps, nfe=m, reference_nfe=m,
             note=f"{steps} steps timed, scaled to M = {m}"),
    )  # fmt: skip


# --- DDIB --------------------------------------------------------------------------------------


def ddib_section(suite: Suite, timed_steps: int, default_steps: int, reference_steps: int) -> None:
    """ImageNet 256: i2i's default DPM-Solver++(2M) and DDIM against the reference's DDIM.

    One DDIB translation is an unguided encode pass and a classifier-guided decode pass (scale
    1, clip on, the reference's ``imagenet_translation.py`` defaults); each side is timed over
    ``timed_steps`` per pass and scaled to its full count (per-step cost does not depend on
    the count). The two DDIMs must agree on the timed grid.
    """
    from i2i_adm.energies import classifier_energy
    from i2i_cli.diffusion.denoiser import DiscreteDenoiser
    from i2i_cli.diffusion.guidance import WeightedEnergy, bind
    from i2i_cli.diffusion.noise import GeneratorNoise
    from i2i_cli.diffusion.ode import solver_schedule
    from i2i_cli.diffusion.schedule import DiscreteSchedule
    from i2i_cli.networks.backbones import backbone_settings
    from i2i_ddib.bridges import ddib_translate

    device, plan = suite.device, suite.plan
    size, batch = plan.ddib_size, plan.ddib_batch
    unet, flags, spec = adm_unet("imagenet256_cond", {"image_size": size, **plan.ddib_overrides})
    overrides = {"image_size": size, **plan.classifier_overrides}
    descriptor, classifier_settings = backbone_settings(
        "adm-classifier", "classifier256", overrides
    )
    classifier = descriptor.build(classifier_settings).eval()
    states = [seeded(module, seed) for seed, module in enumerate((unet, classifier))]
    for module, state in zip((unet, classifier), states, strict=True):
        module.load_state_dict(state, strict=True)
    unet, classifier = (m.to(device).requires_grad_(False) for m in (unet, classifier))
    classes = int(classifier_settings.out_channels)  # type: ignore[attr-defined]
    generator = torch.Generator().manual_seed(1234)
    x = (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).to(device)
    y_source = torch.tensor([260 + i % 4 for i in range(batch)], device=device) % classes
    y_target = torch.tensor([282 + i % 2 for i in range(batch)], device=device) % classes
    energies = bind([WeightedEnergy("classifier", 1.0, classifier_energy(classifier, classes))],
                    labels=y_target)  # fmt: skip
    process = DiscreteSchedule.named("linear", 1000)

    def ours(solver: str, schedule: DiscreteSchedule) -> Callable[[], torch.Tensor]:
        source = DiscreteDenoiser(unet, spec).with_labels(y_source)
        target = DiscreteDenoiser(unet, spec).with_labels(y_target)

        def run() -> torch.Tensor:
            return ddib_translate(
                source, target, x, schedule, energies=energies, solver=solver,  # type: ignore[arg-type]
                noise=GeneratorNoise(0, device), clip_denoised=True,
            ).result  # fmt: skip

        return run

    reference = check = None
    root = suite.reference("ddib")
    if root is not None:
        reference, check = ddib_reference(root, flags, classifier_settings, states, x, y_source,
                                          y_target, timed_steps, device)  # fmt: skip
    ddim = DiscreteSchedule.named("linear", 1000, f"ddim{timed_steps}")
    run_case(
        suite,
        Case(f"ddib imagenet {size}px", batch, ours("ddim", ddim), reference,
             "DDIB imagenet_translation.py (DDIM)", "fp16" if device.type == "cuda" else "fp32",
             check, scale=reference_steps / timed_steps, nfe=2 * reference_steps,
             reference_nfe=2 * reference_steps, options="ddim",
             note=f"{timed_steps} steps/pass timed, scaled to {reference_steps}"),
    )  # fmt: skip
    fast = solver_schedule(process, "dpmpp2m", timed_steps)
    reference_rows = [
        r for r in suite.rows if r.section.startswith("ddib") and r.note == "reference"
    ]
    rows = run_case(
        suite,
        Case(f"ddib imagenet {size}px", batch, ours("dpmpp2m", fast), None, "", flops=True,
             scale=default_steps / timed_steps, nfe=2 * default_steps, options="dpmpp2m (default)",
             note=f"{timed_steps} steps/pass timed, scaled to {default_steps}; NFE ratio "
             f"{reference_steps / default_steps:g}x"),
    )  # fmt: skip
    if reference_rows:
        for row in rows:
            if row.note != "reference" and row.images_per_s is not None:
                row.reference_images_per_s = reference_rows[-1].images_per_s
                row.ratio = row.images_per_s / reference_rows[-1].images_per_s  # type: ignore[operator]
        suite.write()


def ddib_reference(
    root: Path,
    flags: dict[str, Any],
    classifier_settings: Any,
    states: list[dict[str, torch.Tensor]],
    x: torch.Tensor,
    y_source: torch.Tensor,
    y_target: torch.Tensor,
    steps: int,
    device: torch.device,
) -> tuple[Callable[[], torch.Tensor], Callable[[], torch.Tensor]]:
    """(timed run, fp32 check run) of ``imagenet_translation.py``'s loop body at ``ddim{steps}``.

    The timed run is the script's: the UNet converted to fp16 (its ``use_fp16`` flag) on CUDA,
    the classifier fp32 (``classifier_use_fp16`` False); the check run is all fp32, first.
    """
    import torch.nn.functional as F

    with reference_imports(root):
        from guided_diffusion.script_util import (  # type: ignore[import-not-found]
            create_classifier,
            create_gaussian_diffusion,
            create_model,
        )

        model = create_model(**accepted(create_model, flags)).eval()
        s = classifier_settings
        classifier = create_classifier(
            s.image_size, False, s.width, s.depth, s.attention_resolutions,
            s.use_scale_shift_norm, s.resblock_updown, s.pool,
        ).eval()  # fmt: skip
        diffusion = create_gaussian_diffusion(
            steps=1000, learn_sigma=True, noise_schedule="linear",
            timestep_respacing=f"ddim{steps}",
        )  # fmt: skip
    model.load_state_dict(states[0], strict=True)
    classifier.load_state_dict(states[1], strict=True)
    model, classifier = model.to(device), classifier.to(device)

    def cond_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        with torch.enable_grad():
            x_in = x.detach().requires_grad_(True)
            log_probs = F.log_softmax(classifier(x_in, t), dim=-1)
            selected = log_probs[range(len(log_probs)), y.view(-1)]  # type: ignore[union-attr]
            return torch.autograd.grad(selected.sum(), x_in)[0] * 1.0

    def model_fn(x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        return model(x, t, y)

    def run() -> torch.Tensor:
        with torch.no_grad():
            latent = diffusion.ddim_reverse_sample_loop(
                model_fn, x, clip_denoised=False, model_kwargs={"y": y_source}, device=device
            )
            return diffusion.ddim_sample_loop(
                model_fn, tuple(x.shape), noise=latent, clip_denoised=True,
                model_kwargs={"y": y_target}, cond_fn=cond_fn, device=device, eta=0.0,
            )  # fmt: skip

    check = run()

    def timed_run() -> torch.Tensor:
        return run()

    if device.type == "cuda":
        model.convert_to_fp16()
        model.dtype = torch.float16
    return timed_run, lambda: check


# --- DG, SDDM, SDE-BBDM (through their side-by-side benchmarks) --------------------------------


def dg_section(suite: Suite) -> None:
    """CIFAR-10 unconditional, Heun 2N - 1 NFE + N discriminator gradients (``bench_dg``)."""
    import bench_dg

    from i2i_dg.discriminator import Discriminator

    device, plan = suite.device, suite.plan
    net, extractor, head, precond_kwargs = bench_dg.build_ours()
    modules = (net, extractor, head)
    states = [bench_dg.random_state(m, seed) for seed, m in enumerate(modules)]
    for module, state in zip(modules, states, strict=True):
        module.load_state_dict(state, strict=True)
    disc = Discriminator(extractor, head).to(device).eval().requires_grad_(False)  # type: ignore[arg-type]
    net = net.to(device).requires_grad_(False)
    generator = torch.Generator().manual_seed(1234)
    latents = torch.randn(plan.dg_batch, 3, 32, 32, generator=generator).to(device)
    reference = None
    dg, edm = suite.reference("DG"), suite.reference("edm")
    if dg is not None and edm is not None:
        with reference_imports():
            parts = bench_dg.build_reference(dg, edm, precond_kwargs)
        for key, state in zip(("net", "classifier", "discriminator"), states, strict=True):
            parts[key].load_state_dict(state, strict=True)
            parts[key].to(device).eval()
        parts["net"].requires_grad_(False)

        def reference() -> torch.Tensor:
            return bench_dg.reference_run(parts, latents, plan.dg_steps)

    nfe = 2 * plan.dg_steps - 1
    run_case(
        suite,
        Case("dg cifar10 32px", plan.dg_batch,
             lambda: bench_dg.our_run(net, disc, latents, plan.dg_steps), reference,
             "DG generate.py edm_sampler", nfe=nfe, reference_nfe=nfe),
    )  # fmt: skip


def sddm_section(suite: Suite) -> None:
    """wild2dog, ``sddm_steps`` respaced steps + 4 refinements, VGG block-AdaIN energy."""
    import bench_sddm

    from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
    from i2i_cli.diffusion.guidance import WeightedEnergy
    from i2i_cli.diffusion.schedule import DiscreteSchedule

    device, plan = suite.device, suite.plan
    size, steps, channel_mult = plan.sddm_size, plan.sddm_steps, "1,1,2,2,4,4"
    range_t = steps // 2
    unet = bench_sddm.build_ours(size, channel_mult)
    unet_state = seeded(unet, 0)
    unet.load_state_dict(unet_state, strict=True)
    unet = unet.to(device).requires_grad_(False)
    vgg_state = bench_sddm.level1_vgg_state(seed=1)
    generator = torch.Generator().manual_seed(1234)
    shape = (plan.sddm_batch, 3, size, size)
    y0 = (torch.rand(shape, generator=generator) * 2 - 1).to(device)
    noise = [torch.randn(shape, generator=generator).to(device) for _ in range(steps + 1)]
    ours_parts = bench_sddm.our_sampler()
    if ours_parts is None:
        suite.notes.append("sddm: i2i_sddm is not importable; skipped")
        return
    sample_sddm, manifold_guidance, adain_encoder, vgg_adain_energy = ours_parts
    encoder = adain_encoder(level=1, layers="used")
    encoder.load_state_dict(vgg_state, strict=True)
    encoder = encoder.to(device).eval().requires_grad_(False)
    parts = {
        "sample_sddm": sample_sddm, "ManifoldGuidance": manifold_guidance,
        "denoiser": DiscreteDenoiser(unet, ModelSpec(learned_variance=True)),
        "schedule": DiscreteSchedule.named("linear", 1000, str(steps)),
        "energies": [WeightedEnergy("vgg-adain", bench_sddm.ENERGY_SCALE,
                                    vgg_adain_energy(encoder, bench_sddm.AREA))],
    }  # fmt: skip
    reference = None
    root = suite.reference("sddm")
    if root is not None:
        with reference_imports():
            theirs = bench_sddm.load_reference(root)
        reference_unet_ = theirs["create_model"](**bench_sddm.unet_flags(size, channel_mult))
        reference_unet_.load_state_dict(unet_state, strict=True)
        theirs["unet"] = reference_unet_.to(device).eval().requires_grad_(False)
        theirs["diffusion"] = theirs["create_gaussian_diffusion"](
            steps=1000, learn_sigma=True, sigma_small=True, noise_schedule="linear",
            timestep_respacing=str(steps),
        )  # fmt: skip
        vgg = bench_sddm.reference_vgg(theirs["gd"], bench_sddm.full_vgg_state(vgg_state))
        theirs["cond_fn"] = bench_sddm.reference_cond_fn(theirs["gd"], vgg.to(device),
                                                         bench_sddm.AREA)  # fmt: skip

        def reference() -> torch.Tensor:
            return bench_sddm.reference_run(theirs, y0, noise, range_t)

    nfe = steps + bench_sddm.REFINE_ITERATIONS
    run_case(
        suite,
        Case(f"sddm wild2dog {size}px", plan.sddm_batch,
             lambda: bench_sddm.our_run(parts, y0, noise, range_t), reference,
             "SDDM ae_sample.py p_sample_loop", nfe=nfe, reference_nfe=nfe),
    )  # fmt: skip


def bbdm_section(suite: Suite, nfe: int) -> None:
    """SDE-BBDM fast sampling in VQ-f4 latent space: ``nfe`` of the 199 taus, scaled to 199."""
    import bench_bbdm

    device, plan = suite.device, suite.plan
    try:
        from i2i_bbdm.reverse_bridge import sample_bridge_fast
    except ImportError as error:
        suite.notes.append(f"bbdm: i2i_bbdm is not importable ({error}); skipped")
        return
    size, batch = plan.bbdm_size, plan.bbdm_batch
    side = size // bench_bbdm.FACTOR
    taus = bench_bbdm.kept_taus(nfe)
    full = len(bench_bbdm.evaluation_taus())
    unet = bench_bbdm.build_unet(side, plan.bbdm_width)
    unet_state = seeded(unet, 0)
    unet.load_state_dict(unet_state, strict=True)
    unet = unet.to(device).requires_grad_(False)
    autoencoder = bench_bbdm.build_autoencoder(size)
    vq_state = seeded(autoencoder, 1)
    autoencoder.load_state_dict(vq_state, strict=True)
    autoencoder = autoencoder.to(device).requires_grad_(False)
    generator = torch.Generator().manual_seed(1234)
    y = (torch.rand(batch, 3, size, size, generator=generator) * 2 - 1).to(device)
    noise = [torch.randn(batch, 3, side, side, generator=generator).to(device) for _ in taus[1:]]
    reference = None
    root = suite.reference("score-based-bbdm")
    if root is not None:
        with reference_imports():
            parts = bench_bbdm.import_reference(root, suite.reference("deps"))
        theirs = bench_bbdm.reference_unet(parts, plan.bbdm_width)
        theirs.load_state_dict(unet_state, strict=True)
        theirs = theirs.to(device).eval().requires_grad_(False)
        vqgan = parts["VQGAN"](3, f=bench_bbdm.FACTOR, latent_dim=3, num_codebook_vectors=8192)
        bench_bbdm.load_by_position(vqgan, vq_state)
        vqgan = vqgan.to(device).eval().requires_grad_(False)
        manager = bench_bbdm.reference_manager(parts, theirs, vqgan)

        def reference() -> torch.Tensor:
            return bench_bbdm.reference_run(parts, manager, y, taus, noise)[0]

    def ours() -> torch.Tensor:
        return bench_bbdm.our_run(sample_bridge_fast, unet, autoencoder, y, taus, noise)

    # Encoding and decoding happen once, so scaling by the UNet calls slightly overstates them.
    run_case(
        suite,
        Case(f"bbdm latent {size}px", batch, ours, reference, "SDE-BBDM eval.py manager",
             scale=full / len(taus), nfe=full, reference_nfe=full,
             note=f"{len(taus)} of {full} taus timed, scaled"),
    )  # fmt: skip


# --- the command -------------------------------------------------------------------------------


def export_references(mirrors: Path, into: Path) -> None:
    """Write each reference's source files (``.py``, configs; no images) from its mirror."""
    keep = (".py", ".yaml", ".yml", ".json", ".txt", ".cfg", ".toml")
    for folder, mirror in REFERENCE_DIRS.items():
        git = mirrors / mirror / "repo"
        if (git / ".git").is_dir():
            git = git / ".git"
        if not git.is_dir():
            source = mirror.replace("+", "/")
            print(f"{folder}: no mirror at {mirrors / mirror} (fetch github:{source})")
            continue
        names = subprocess.run(
            ["git", f"--git-dir={git}", "ls-tree", "-r", "-l", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.splitlines()  # fmt: skip
        written = 0
        for line in names:
            meta, path = line.split("\t", 1)
            size = meta.split()[3]
            if not path.endswith(keep) or size == "-" or int(size) > 2_000_000:
                continue
            blob = subprocess.run(["git", f"--git-dir={git}", "show", f"HEAD:{path}"],
                                  capture_output=True, check=True).stdout  # fmt: skip
            target = into / folder / path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
            written += 1
        print(f"{folder}: {written} files from {mirror}")


DEVICE_WHEELS = ("pydantic==2.13.4", "pydantic_core==2.46.4", "annotated-types==0.7.0",
                 "typing-inspection==0.4.2")  # fmt: skip
"""What i2i needs that the H200 image lacks (it has torch, typer, rich, numpy, scipy, pillow)."""
BBDM_DEPS = ("torchmanager==1.2", "torchmanager-diffusion==1.1.1", "einops")
"""The packages SDE-BBDM's manager is built on (``bench_bbdm``)."""


def prepare(mirrors: Path, into: Path, python_version: str = "3.12") -> None:
    """``into/refs`` (the references, ``deps`` among them) and ``into/wheels`` (i2i's missing
    dependencies for the device's Python): everything the offline GPU machine needs."""
    export_references(mirrors, into / "refs")
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "install", "-q", "--no-deps", "--target", str(into / "refs" / "deps"),
                    *BBDM_DEPS], check=True)  # fmt: skip
    subprocess.run(
        [*pip, "download", "-q", "--only-binary=:all:", "--no-deps", "--implementation", "cp",
         "--python-version", python_version, "--platform", "manylinux2014_x86_64",
         "--platform", "manylinux_2_17_x86_64", "-d", str(into / "wheels"), *DEVICE_WHEELS],
        check=True,
    )  # fmt: skip


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--references", type=Path, help="folder of the reference copies")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    parser.add_argument(
        "--smoke", action="store_true", help="tiny networks, no references: the logic only"
    )
    parser.add_argument(
        "--check", action="store_true", help="real networks at small sizes, with the references"
    )
    parser.add_argument(
        "--sections",
        default="",
        help=f"comma-separated, of {','.join(SECTIONS)} (default: all; "
        "--smoke: all but unet-compile, whose CPU compile takes minutes)",
    )
    parser.add_argument("--budget-s", type=float, default=420.0, help="start no case after this")
    parser.add_argument("--peak-tflops", type=float, default=H200_BF16_TFLOPS)
    parser.add_argument("--egsde-steps", type=int, default=20, help="timed steps (of M)")
    parser.add_argument("--egsde-m", type=int, default=500, help="M the timing is scaled to")
    parser.add_argument("--ddib-steps", type=int, default=4, help="timed steps per pass")
    parser.add_argument("--bbdm-nfe", type=int, default=20, help="timed taus of the 199")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's)")
    parser.add_argument("--export-references", type=Path, help="write the copies here, exit")
    parser.add_argument("--prepare", type=Path, help="write DIR/refs and DIR/wheels, exit")
    parser.add_argument("--mirrors", type=Path, default=Path("/work/.mirror"))
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = arguments(argv)
    if args.export_references is not None:
        export_references(args.mirrors, args.export_references)
        return
    if args.prepare is not None:
        prepare(args.mirrors, args.prepare)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        # The references' fp32 is IEEE fp32 (as i2i's --precision fp32): TF32 off.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cudnn.benchmark = True
    plan = SMOKE if args.smoke else CHECK if args.check else REAL
    if args.smoke or args.check:
        args.egsde_steps, args.egsde_m, args.ddib_steps, args.bbdm_nfe = 2, 4, 2, 2
    config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    suite = Suite(device, plan, args.references, args.smoke, args.budget_s, args.peak_tflops,
                  args.out, config | {"plan": asdict(plan)})  # fmt: skip
    sections = args.sections or ",".join(s for s in SECTIONS if not args.smoke or s in SMOKED)
    wanted = [s for s in sections.split(",") if s]
    unknown = sorted(set(wanted) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"unknown sections {', '.join(unknown)} (of {', '.join(SECTIONS)})")
    runners: dict[str, Callable[[], None]] = {
        "egsde": lambda: egsde_section(suite, args.egsde_steps, args.egsde_m),
        "ddib": lambda: ddib_section(suite, args.ddib_steps, 50 if not args.smoke else 4,
                                     1000 if not args.smoke else 8),
        "dg": lambda: dg_section(suite),
        "sddm": lambda: sddm_section(suite),
        "bbdm": lambda: bbdm_section(suite, args.bbdm_nfe),
        "unet": lambda: unet_section(suite, compiled=False),
        "unet-compile": lambda: unet_section(suite, compiled=True),
    }  # fmt: skip
    if args.references is None:
        stand_in = " (smoke: i2i's fp32 run stands in)" if args.smoke else ""
        suite.notes.append(f"no --references: reference columns empty{stand_in}")
    for section in SECTIONS:
        if section not in wanted:
            continue
        if suite.over_budget():
            suite.notes.append(f"{section}: skipped, time budget ({args.budget_s:g} s) spent")
            continue
        started = time.perf_counter()
        try:
            with tiny_backbones(args.smoke):
                runners[section]()
        except Exception as error:  # one section's failure is a note
            suite.notes.append(f"{section}: failed ({type(error).__name__}: {error})")
            if args.smoke:
                raise
        else:
            suite.notes.append(f"{section}: {time.perf_counter() - started:.1f} s")
        suite.write()
        if device.type == "cuda":
            torch.cuda.empty_cache()
    suite.write()
    print(markdown(suite.payload()))


if __name__ == "__main__":
    main()
