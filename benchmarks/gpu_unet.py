"""The GPU suite's ADM UNet section: the afhq_dog_4m forward against guided-diffusion's UNet."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from gpu_measure import Case, count_flops, run_case, seeded
from gpu_record import Suite
from gpu_references import reference_imports
from torch import nn


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
