"""SDDM sampling images/s: i2i's ``sample_sddm`` against SDDM's ``p_sample_loop``, same weights.

    OMP_NUM_THREADS=1 python benchmarks/bench_sddm.py --reference /tmp/sddm_ref \\
        --device cpu --size 64 --batch 2 --steps 100 --threads 1
    python benchmarks/bench_sddm.py --reference /tmp/sddm_ref --device cuda --size 256 --batch 4

``--reference`` is a local copy of skipper17/sddm (its ``guided_diffusion`` package; never part of
this repository). Both sides run the wild2dog configuration of sddm.md §5: the ADM UNet at the
``afhq_dog_4m`` flags (learned sigma, 1 res block, 128 channels, 64-channel heads, up/down
res-blocks, scale-shift norm, attention at 16 px; the 256 px channel layout 1,1,2,2,4,4 at every
``--size`` unless ``--channel-mult``), the linear 1000-step schedule respaced to ``--steps``,
range_t = steps/2, area 16, no detail merge, energy scale 25 on the relu1_1 VGG block-AdaIN gap,
the 4 refinement iterations at range_t + 1, clipped x0. Same random weights on both sides (the
UNet's state dict loaded strictly into both; the VGG's level-1 tensors into i2i's encoder and,
inside a random full encoder, into the reference's ``StageVGG``) and the same noise (x_T, then one
draw per step, §11): the reference's ``th.randn``/``th.randn_like`` replay a recorded list and i2i
reads the same list through ``RecordedNoise``. i2i uses the reference's batch-coupled Frank-Wolfe
stopping rule here, so the outputs must agree.

The reference's ``gaussian_diffusion`` imports ``cv2`` (for nothing): an empty stand-in is
registered where OpenCV is missing (``mpi4py``, ``blobfile`` and ``torchvision`` are imported
only by modules the sampler never loads). ``StageVGG.__init__`` loads a hard-coded checkpoint
path: ``torch.load`` is patched for that one call to return the seeded random encoder. The
reference's ``cond_fn`` (``scripts/ae_sample.py``, a closure inside ``main``) is re-created
below as that script defines it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from bench_common import (
    Report,
    Row,
    fan_in_state,
    patched,
    random_state,
    replayed_randn,
    stand_in_modules,
    time_alternately,
)
from torch import nn

from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.guidance import WeightedEnergy
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.networks.backbones import backbone_settings

OURS, REFERENCE = "i2i", "SDDM reference"
ENERGY_SCALE = 25.0
"""The reference's hard-coded energy scale (``condition_mean``, sddm.md §5)."""
AREA = 16
"""Blocks per side (``--area`` default, wild2dog)."""
REFINE_ITERATIONS = 4
"""Extra model calls at i = range_t + 1 (hard-coded in the reference, sddm.md §3 step 2.3)."""
VGG_CONVS = [
    (0, 3, 3, 1), (2, 3, 64, 3), (5, 64, 64, 3), (9, 64, 128, 3), (12, 128, 128, 3),
    (16, 128, 256, 3), (19, 256, 256, 3), (22, 256, 256, 3), (25, 256, 256, 3),
    (29, 256, 512, 3), (32, 512, 512, 3), (35, 512, 512, 3), (38, 512, 512, 3),
    (42, 512, 512, 3), (45, 512, 512, 3), (48, 512, 512, 3), (51, 512, 512, 3),
]  # fmt: skip
"""(module index, in, out, kernel) of the AdaIN ``vgg_normalised`` encoder's convs (sddm.md §4)."""


def unet_flags(size: int, channel_mult: str) -> dict[str, Any]:
    """The afhq_dog_4m ``create_model`` flags (sddm.md §5 table) at ``size``."""
    return {
        "image_size": size, "num_channels": 128, "num_res_blocks": 1,
        "channel_mult": channel_mult, "learn_sigma": True, "class_cond": False,
        "attention_resolutions": "16", "num_heads": 4, "num_head_channels": 64,
        "num_heads_upsample": -1, "use_scale_shift_norm": True, "dropout": 0.0,
        "resblock_updown": True, "use_fp16": False, "use_new_attention_order": False,
    }  # fmt: skip


def level1_vgg_state(seed: int) -> dict[str, torch.Tensor]:
    """Seeded relu1_1 weights (the 1x1 colour conv and the first 3x3 conv), N(0, 1/fan_in)."""
    level1 = nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReflectionPad2d(1), nn.Conv2d(3, 64, 3))
    return fan_in_state(level1, seed)


def full_vgg_state(level1: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The whole 53-module encoder's state: ``level1`` plus zeros for the layers level 1 skips."""
    state = {}
    for index, cin, cout, kernel in VGG_CONVS:
        state[f"{index}.weight"] = torch.zeros(cout, cin, kernel, kernel)
        state[f"{index}.bias"] = torch.zeros(cout)
    return state | level1


def build_ours(size: int, channel_mult: str) -> nn.Module:
    """i2i's ADM UNet at the afhq_dog_4m preset (``adm-unet`` through the registry)."""
    overrides = {"image_size": size, "channel_mult": channel_mult}
    backbone, settings = backbone_settings("adm-unet", "afhq_dog_4m", overrides)
    return backbone.build(settings).eval()


def our_sampler() -> tuple[Any, ...] | None:
    """i2i_sddm's sampler, guidance, encoder and energy, or None where it is not installed."""
    try:
        from i2i_sddm.energy import vgg_adain_energy
        from i2i_sddm.score_decomposition import ManifoldGuidance, sample_sddm
        from i2i_sddm.vgg import AdaINEncoder
    except ImportError as error:
        print(f"i2i side skipped: {error}")
        return None
    return sample_sddm, ManifoldGuidance, AdaINEncoder, vgg_adain_energy


def load_reference(root: Path) -> dict[str, Any]:
    """The reference's modules: diffusion factory, UNet factory, ``gaussian_diffusion``."""
    sys.path.insert(0, str(root))
    stood_in = stand_in_modules({"cv2": {"norm": None}})
    from guided_diffusion import gaussian_diffusion  # type: ignore[import-not-found]
    from guided_diffusion.script_util import (  # type: ignore[import-not-found]
        create_gaussian_diffusion,
        create_model,
    )

    return {
        "gd": gaussian_diffusion,
        "create_gaussian_diffusion": create_gaussian_diffusion,
        "create_model": create_model,
        "stood_in": stood_in,
    }


def reference_vgg(gd: Any, state: dict[str, torch.Tensor]) -> nn.Module:
    """The reference's ``StageVGG(level=1)``, its hard-coded ``torch.load`` handed ``state``."""
    with patched(torch, "load", lambda *_, **__: state):
        return gd.StageVGG(level=1).eval()


def reference_cond_fn(gd: Any, vgg: nn.Module, area: int) -> Callable[..., list[torch.Tensor]]:
    """``ae_sample.py``'s ``cond_fn``: minus the gradient of the VGG block-AdaIN gap (§4).

    E(x) = sum (F(x) - BAdaIN(F(x), F(y0)))^2 with the target not detached; t is ignored.
    """

    def cond_fn(x: torch.Tensor, t: torch.Tensor, ref_img: torch.Tensor, **_: Any) -> list:
        with torch.enable_grad():
            point = x.detach().requires_grad_(True)
            features = vgg(point)
            target = gd.block_adaIN(features, vgg(ref_img), blocknum=area)
            (gradient,) = torch.autograd.grad(((features - target) ** 2).sum(), point)
        return [-gradient]

    return cond_fn


def reference_run(
    parts: dict[str, Any], y0: torch.Tensor, noise: list[torch.Tensor], range_t: int
) -> torch.Tensor:
    """``ae_sample.py``'s sampling call: block stats of y0, then ``p_sample_loop`` (replayed)."""
    gd = parts["gd"]
    mean, std = gd.calc_mean_std(gd.blockzation(y0, AREA))
    condition = {
        "ref_mean": mean, "ref_std": std, "area": AREA, "range_t": range_t,
        "detail_merge": False,
    }  # fmt: skip
    with replayed_randn([gd], ["th"], noise) as replay:
        sample = parts["diffusion"].p_sample_loop(
            parts["unet"], tuple(y0.shape), clip_denoised=True,
            model_kwargs={"ref_img": y0}, condition_kwargs=condition,
            cond_fn=parts["cond_fn"], device=y0.device,
        )  # fmt: skip
    if replay.drawn != len(noise):
        raise RuntimeError(f"the reference drew {replay.drawn} of {len(noise)} tensors")
    return sample


def our_run(
    parts: dict[str, Any], y0: torch.Tensor, noise: list[torch.Tensor], range_t: int
) -> torch.Tensor:
    """i2i's ``sample_sddm`` at the same configuration, replaying the same noise."""
    sample_sddm, manifold_guidance = parts["sample_sddm"], parts["ManifoldGuidance"]
    guidance = manifold_guidance(
        area=AREA, range_t=range_t, detail_merge=False, refine_iterations=REFINE_ITERATIONS,
        batch_coupled_stop=True, combination_scale=1.0,
    )  # fmt: skip
    recorded = RecordedNoise(noise)
    with torch.no_grad():
        sample = sample_sddm(
            parts["denoiser"], y0, parts["schedule"], guidance=guidance,
            energies=parts["energies"], noise=recorded, clip_denoised=True,
            fixed_variance="small",
        )  # fmt: skip
    recorded.assert_exhausted()
    return sample


def warm_up(unet: nn.Module, x: torch.Tensor, reference_unet: nn.Module | None) -> None:
    """One untimed forward of each UNet, so first-call costs hit neither timed run."""
    t = torch.full((x.shape[0],), 999, device=x.device)
    with torch.no_grad():
        for module in (unet, reference_unet):
            if module is not None:
                module(x, t)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="local copy of skipper17/sddm")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=64, help="image size (256: the paper's)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100, help="respaced steps (range_t = half)")
    parser.add_argument("--range-t", type=int, default=None, help="default: steps // 2")
    parser.add_argument("--channel-mult", default="1,1,2,2,4,4", help="'' = by --size")
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per implementation")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's)")
    parser.add_argument("--out", type=Path, help="write OUT.json and OUT.md")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    range_t = args.steps // 2 if args.range_t is None else args.range_t

    unet = build_ours(args.size, args.channel_mult)
    unet_state = random_state(unet, seed=0)
    unet.load_state_dict(unet_state, strict=True)
    unet = unet.to(device).requires_grad_(False)
    vgg_state = level1_vgg_state(seed=1)

    generator = torch.Generator().manual_seed(1234)
    shape = (args.batch, 3, args.size, args.size)
    y0 = (torch.rand(shape, generator=generator) * 2 - 1).to(device)
    noise = [torch.randn(shape, generator=generator).to(device) for _ in range(args.steps + 1)]

    runs: dict[str, Callable[[], torch.Tensor]] = {}
    notes = []
    ours = our_sampler()
    if ours is not None:
        sample_sddm, manifold_guidance, adain_encoder, vgg_adain_energy = ours
        encoder = adain_encoder(level=1, layers="used")
        encoder.load_state_dict(vgg_state, strict=True)
        encoder = encoder.to(device).eval().requires_grad_(False)
        our_parts = {
            "sample_sddm": sample_sddm,
            "ManifoldGuidance": manifold_guidance,
            "denoiser": DiscreteDenoiser(unet, ModelSpec(learned_variance=True)),
            "schedule": DiscreteSchedule.named("linear", 1000, str(args.steps)),
            "energies": [
                WeightedEnergy("vgg-adain", ENERGY_SCALE, vgg_adain_energy(encoder, AREA))
            ],
        }
        runs[OURS] = lambda: our_run(our_parts, y0, noise, range_t)
    else:
        notes.append("i2i_sddm is not installed: the reference alone was timed.")
    if args.reference is not None:
        parts = load_reference(args.reference)
        if parts["stood_in"]:
            notes.append(f"Stand-in modules for the reference: {', '.join(parts['stood_in'])}.")
        reference_unet = parts["create_model"](**unet_flags(args.size, args.channel_mult))
        reference_unet.load_state_dict(unet_state, strict=True)
        parts["unet"] = reference_unet.to(device).eval().requires_grad_(False)
        parts["diffusion"] = parts["create_gaussian_diffusion"](
            steps=1000, learn_sigma=True, sigma_small=True, noise_schedule="linear",
            timestep_respacing=str(args.steps),
        )  # fmt: skip
        vgg = reference_vgg(parts["gd"], full_vgg_state(vgg_state)).to(device)
        parts["cond_fn"] = reference_cond_fn(parts["gd"], vgg, AREA)
        runs[REFERENCE] = lambda: reference_run(parts, y0, noise, range_t)
    if not runs:
        raise SystemExit("nothing to time: i2i_sddm is missing and no --reference was given")

    warm_up(unet, y0, parts["unet"] if args.reference is not None else None)
    seconds, outputs = time_alternately(runs, args.repeats, device)
    refinement = REFINE_ITERATIONS if 0 <= range_t < args.steps - 1 else 0
    report = Report(
        title=(
            f"SDDM wild2dog config, {device.type}, {args.size}px, {args.steps} respaced steps "
            f"({args.steps + refinement} UNet calls), range_t {range_t}, area {AREA}, "
            f"batch {args.batch}, channel_mult {args.channel_mult or 'by size'}, "
            f"{torch.get_num_threads()} thread(s)"
        ),
        config=vars(args) | {"range_t": range_t, "reference": str(args.reference), "out": None},
        rows=[Row(name, seconds[name], args.batch) for name in runs],
        notes=notes,
    )
    if len(outputs) == 2:
        report.max_abs_difference = (outputs[OURS] - outputs[REFERENCE]).abs().max().item()
        report.max_abs_output = outputs[REFERENCE].abs().max().item()
    report.write(args.out, OURS, REFERENCE)


if __name__ == "__main__":
    main()
