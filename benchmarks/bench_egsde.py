"""EGSDE per-image translation time: i2i's sampler against the reference loop, same weights.

    python benchmarks/bench_egsde.py --reference /path/to/EGSDE --device cpu \\
        --image-size 64 --start-step 20 --batch 2

``--reference`` is a local copy of ML-GSAI/EGSDE (never part of this repository). Both sides run
the wild2dog configuration (ADM at the afhq_dog_4m flags, the DSE at the extractor flags, both
energies with lambda_s = 500, lambda_i = 2, N = 32 scaled to the image size) on the same random
weights and the same noise stream (the global RNG, seeded alike), so the outputs must agree.
The reference loop is the body of ``runners/egsde.py`` calling its ``egsde_sample``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch
from torch import nn

from i2i_cli.diffusion.denoiser import DiscreteDenoiser
from i2i_cli.diffusion.guidance import GuidanceState, WeightedEnergy
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.io.resizer import LowPassFilter
from i2i_cli.networks.backbones import backbone_settings
from i2i_egsde.energies import positionwise_cosine, squared_distance
from i2i_egsde.energy_guided_sde import sample_egsde


class GlobalNoise:
    """Draws from torch's global RNG, like the reference, so both sides see the same noise."""

    def randn(
        self, shape: Sequence[int], *, device: object = None, dtype: object = None
    ) -> torch.Tensor:
        return torch.randn(tuple(shape), device=device, dtype=dtype or torch.float32)

    def randn_like(self, x: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(x)


def random_state(model: nn.Module, seed: int) -> dict[str, torch.Tensor]:
    """Seeded random weights, no zero-initialised layer left."""
    generator = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=generator) * 0.02 for k, v in model.state_dict().items()
    }


def build_ours(size: int) -> tuple[nn.Module, nn.Module]:
    """i2i's score model and extractor at the wild2dog presets."""
    unet_backbone, unet_settings = backbone_settings(
        "adm-unet", "afhq_dog_4m", {"image_size": size}
    )
    dse_backbone, dse_settings = backbone_settings("adm-classifier", "dse256", {"image_size": size})
    return unet_backbone.build(unet_settings).eval(), dse_backbone.build(dse_settings).eval()


def build_reference(reference: Path, size: int) -> tuple[nn.Module, nn.Module, Callable, type]:
    """The reference's score model, extractor, ``egsde_sample`` and ``Resizer``."""
    sys.path.insert(0, str(reference))
    from functions.denoising import egsde_sample  # type: ignore[import-not-found]
    from functions.resizer import Resizer  # type: ignore[import-not-found]
    from guided_diffusion.script_util import create_dse, create_model  # type: ignore[import-not-found]

    unet = create_model(
        image_size=size, num_class=2, num_channels=128, num_res_blocks=1, learn_sigma=True,
        class_cond=False, attention_resolutions="16", num_heads=4, num_head_channels=64,
        num_heads_upsample=-1, use_scale_shift_norm=True, dropout=0.0, resblock_updown=True,
        use_fp16=False, use_new_attention_order=False,
    )  # fmt: skip
    dse = create_dse(
        image_size=size, num_class=2, classifier_use_fp16=False, classifier_width=128,
        classifier_depth=2, classifier_attention_resolutions="32,16,8",
        classifier_use_scale_shift_norm=True, classifier_resblock_updown=True,
        classifier_pool="attention", phase="test",
    )  # fmt: skip
    return unet.eval(), dse.eval(), egsde_sample, Resizer


def reference_loop(
    args: argparse.Namespace, parts: tuple, x0: torch.Tensor, factor: int
) -> torch.Tensor:
    """The runner's loop (runners/egsde.py) around the reference ``egsde_sample``."""
    unet, dse, egsde_sample, resizer = parts
    device = x0.device
    betas = torch.from_numpy(np.linspace(1e-4, 0.02, 1000)).float().to(device)
    alphas_cumprod = (1 - betas).cumprod(dim=0)
    previous = torch.cat([torch.ones(1, device=device), alphas_cumprod[:-1]])
    posterior = betas * (1 - previous) / (1 - alphas_cumprod)
    logvar = posterior.clamp(min=1e-20).log()
    shape = tuple(x0.shape)
    down = resizer(shape, 1 / factor).to(device)
    up = resizer((shape[0], 3, shape[2] // factor, shape[3] // factor), factor).to(device)
    e = torch.randn_like(x0)
    m = args.start_step
    y = x0 * alphas_cumprod[m - 1].sqrt() + e * (1 - alphas_cumprod[m - 1]).sqrt()
    for i in reversed(range(m)):
        t = (torch.ones(len(x0)) * i).to(device)
        xt = x0 * alphas_cumprod[i].sqrt() + e * (1 - alphas_cumprod[i]).sqrt()
        y = egsde_sample(y=y, dse=dse, ls=500.0, die=(down, up), li=2.0, t=t, model=unet,
                         logvar=logvar, betas=betas, xt=xt, s1="cosine", s2="neg_l2",
                         model_name="ADM")  # fmt: skip
    return y


def our_loop(
    args: argparse.Namespace, unet: nn.Module, dse: nn.Module, x0: torch.Tensor, factor: int
) -> torch.Tensor:
    """i2i's EGSDE sampler with the DSE and low-pass energies."""
    low_pass = LowPassFilter(x0.shape[-2], x0.shape[-1], factor, "linear")

    def realism(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        with torch.no_grad():
            source = dse.features(state.perturbed_source, state.t)
        return positionwise_cosine(dse.features(y, state.t), source)

    def faithfulness(y: torch.Tensor, state: GuidanceState) -> torch.Tensor:
        with torch.no_grad():
            target = low_pass(state.perturbed_source)
        return squared_distance(target, low_pass(y))

    from i2i_cli.diffusion.denoiser import ModelSpec

    autocast = (
        torch.autocast(x0.device.type, dtype=torch.bfloat16)
        if args.dtype == "bf16"
        else nullcontext()
    )
    with autocast:
        return sample_egsde(
            DiscreteDenoiser(unet, ModelSpec(learned_variance=True)),
            x0,
            DiscreteSchedule.named("linear", 1000),
            start_step=args.start_step,
            energies=[
                WeightedEnergy("dse", 500.0, realism),
                WeightedEnergy("lowpass", 2.0, faithfulness),
            ],
            noise=GlobalNoise(),
        )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, required=True)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--image-size", type=int, default=256)
    parser.add_argument("--start-step", type=int, default=500, help="M")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32", help="i2i only")
    args = parser.parse_args()
    device = torch.device(args.device)
    factor = max(2, 32 * args.image_size // 256)

    ours = build_ours(args.image_size)
    reference = build_reference(args.reference, args.image_size)
    for seed, (mine, theirs) in enumerate(zip(ours, reference[:2], strict=True)):
        state = random_state(mine, seed)
        mine.load_state_dict(state, strict=True)
        theirs.load_state_dict(state, strict=True)
    unet, dse = (m.to(device) for m in ours)
    reference = (reference[0].to(device), reference[1].to(device), *reference[2:])
    x0 = torch.rand(args.batch, 3, args.image_size, args.image_size, device=device) * 2 - 1

    runs = {
        "i2i": lambda: our_loop(args, unet, dse, x0, factor),
        "EGSDE reference": lambda: reference_loop(args, reference, x0, factor),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs = {}
    for _ in range(args.repeats):
        for name, run in runs.items():
            torch.manual_seed(1234)
            synchronize(device)
            start = time.perf_counter()
            outputs[name] = run()
            synchronize(device)
            seconds[name].append(time.perf_counter() - start)
    difference = (outputs["i2i"] - outputs["EGSDE reference"]).abs().max().item()
    print(
        f"EGSDE wild2dog config, {device.type}, {args.image_size}px, M = {args.start_step}, "
        f"N = {factor}, batch {args.batch}, i2i {args.dtype}; "
        f"max |i2i - reference| = {difference:.2e}"
    )
    print(f"{'implementation':<18} {'s/image':>10} {'images/s':>10}")
    rates = {}
    for name in runs:
        per_image = statistics.median(seconds[name]) / args.batch
        rates[name] = 1 / per_image
        print(f"{name:<18} {per_image:>10.3f} {rates[name]:>10.3f}")
    print(f"i2i / reference: {rates['i2i'] / rates['EGSDE reference']:.2f}x images/s")


if __name__ == "__main__":
    main()
