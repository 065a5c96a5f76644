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

The parts, beside this file: ``gpu_record`` (plans, rows, the JSON and the table),
``gpu_measure`` (timing, FLOPs, agreement, one case's rows), ``gpu_references`` (the reference
copies), ``gpu_unet``, ``gpu_ddib`` and ``gpu_benches`` (the sections).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

BENCHMARKS = Path(__file__).resolve().parent
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

from gpu_benches import bbdm_section, dg_section, egsde_section, sddm_section  # noqa: E402
from gpu_ddib import ddib_section  # noqa: E402
from gpu_measure import count_flops, max_abs, psnr, timed  # noqa: E402, F401  (tests: gpu_suite.*)
from gpu_record import CHECK, REAL, SMOKE, Suite, markdown  # noqa: E402
from gpu_references import export_references, prepare  # noqa: E402
from gpu_unet import unet_section  # noqa: E402

H200_BF16_TFLOPS = 790.0
"""The H200's dense bf16 tensor-core peak (TFLOP/s), the share-of-peak denominator."""
SECTIONS = ("egsde", "ddib", "dg", "sddm", "bbdm", "unet", "unet-compile")
SMOKED = SECTIONS[:-1]
"""``--smoke``'s default sections: compiling even the tiny UNet takes minutes on a CPU."""


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
