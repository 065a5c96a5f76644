"""SDE-BBDM fast-sampling images/s: i2i's ``sample_bridge_fast`` against SDE-BBDM's manager.

    OMP_NUM_THREADS=1 python benchmarks/bench_bbdm.py --reference /tmp/bbdm_ref \\
        --deps /tmp/bench_deps --device cpu --size 64 --batch 1 --nfe 20 --width 64 --threads 1
    python benchmarks/bench_bbdm.py --reference /tmp/bbdm_ref --deps /tmp/bench_deps \\
        --device cuda --size 256 --batch 8

``--reference`` is a local copy of kisonho/score-based-bbdm-a-bridge (its ``sde_bbdm`` package
and the ``examples/vqgan`` port; never part of this repository); ``--deps`` a folder holding the
PyPI packages ``torchmanager`` 1.2 and ``torchmanager-diffusion`` 1.1.1 the manager is built on
(``pip install --no-deps --target DIR torchmanager==1.2 torchmanager-diffusion==1.1.1 einops``),
left out when they are installed. Both sides run the fast sampler of bbdm.md §5 (x = y, one UNet
call per tau, sigma = B'/2, lambda = 2, T = 1000) over the 199-step evaluation list of
``examples/eval.py`` (``--nfe N`` keeps N of its values, evenly spread, first and last kept), in
image space and in latent space (LDM's VQ-f4: encode once, the bridge on 3 x H/4 x W/4 latents,
decode once). The networks are the official ``build_unet(3, 3)`` (``--width`` scales its base
width 128) and the VQ-f4 autoencoder, with the same seeded random weights on both sides: i2i's
state dicts loaded strictly into the reference's UNet and, by position as the reference's
``convert_vqgan.py`` does, into its VQGAN port. i2i's VQ-f4 is set to the port's two
differences from LDM here: it skips ``proj_out`` in its attention (``apply_proj_out = false``,
bbdm.md §6) and its GroupNorms use torch's eps 1e-5 where LDM's use 1e-6 (``norm_eps``; not in
the spec: with eps 1e-6 the decoded images differ by about 4e-3 of their scale on these random
weights); i2i's defaults are LDM's.
The same noise is replayed on both sides (one tensor per step but the last): the manager's
``torch.randn_like`` reads a recorded list, i2i the same list through ``RecordedNoise``.

The reference's ``diffusion.metrics`` imports the ``lpips`` package (for its LPIPS metric only);
where it is missing an empty stand-in class is registered. The manager's ``sampling`` ends with
``decode(z_0, *args)`` where ``args`` is None (bbdm.md §12, a crash); its ``encode`` is wrapped to
return ``(z, ())``, which changes no number.
"""

from __future__ import annotations

import argparse
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from bench_common import (
    Report,
    Row,
    random_state,
    replayed_randn,
    stand_in_modules,
    time_alternately,
)
from torch import nn

from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.networks.backbones import backbone_settings

OURS, REFERENCE = "i2i", "SDE-BBDM reference"
STEPS = 1000
"""T of every official run (``-t`` default, the evaluation list is hard-wired to it)."""
C_LAMBDA = 2.0
"""lambda (``-l`` default)."""
FACTOR = 4
"""The VQ-f4 autoencoder's downsampling factor."""


def evaluation_taus() -> list[int]:
    """``examples/eval.py``'s fast schedule for T = 1000: 1000, 998, ..., 906, 902, 896, ..., 2."""
    return list(range(STEPS, 904, -2)) + list(range(902, 1, -6))


def kept_taus(nfe: int) -> list[int]:
    """``nfe`` values of the evaluation list, evenly spread, its first and last kept."""
    taus = evaluation_taus()
    if nfe >= len(taus):
        return taus
    picks = np.unique(np.round(np.linspace(0, len(taus) - 1, max(nfe, 2))).astype(int))
    return [taus[i] for i in picks]


def build_unet(size: int, width: int) -> nn.Module:
    """i2i's bridge UNet at the ``sde_bbdm`` preset (``bbdm-unet`` through the registry)."""
    backbone, settings = backbone_settings(
        "bbdm-unet", "sde_bbdm", {"image_size": size, "model_channels": width}
    )
    return backbone.build(settings).eval()


def build_autoencoder(size: int) -> nn.Module:
    """i2i's VQ-f4 (``vq-f4`` through the registry) with the port's attention and GroupNorm eps."""
    backbone, settings = backbone_settings(
        "vq-f4", "vq_f4", {"resolution": size, "apply_proj_out": False, "norm_eps": 1e-5}
    )
    return backbone.build(settings).eval()


def import_reference(root: Path, deps: Path | None) -> dict[str, Any]:
    """The reference's manager class, UNet class, manager module and VQGAN builder."""
    sys.path[:0] = [str(p) for p in (deps, root) if p is not None]
    stood_in = stand_in_modules({"lpips": {"LPIPS": type("LPIPS", (nn.Module,), {})}})
    # The port's package __init__ pulls in its training configs and data sets; the networks
    # alone are reached through a bare package whose path is the port's folder.
    port = types.ModuleType("vqgan")
    port.__path__ = [str(root / "examples" / "vqgan")]
    sys.modules.setdefault("vqgan", port)
    import sde_bbdm.managers.sde_bbdm as manager_module  # type: ignore[import-not-found]
    from diffusion import DiffusionData  # type: ignore[import-not-found]
    from sde_bbdm.networks import UNet  # type: ignore[import-not-found]
    from vqgan.networks.gan import VQGAN  # type: ignore[import-not-found]

    return {
        "module": manager_module,
        "Manager": manager_module.SDEBBDMManager,
        "UNet": UNet,
        "VQGAN": VQGAN,
        "DiffusionData": DiffusionData,
        "stood_in": stood_in,
    }


def reference_unet(parts: dict[str, Any], width: int) -> nn.Module:
    """``sde_bbdm.networks.build_unet(3, 3)`` with base width ``width`` (128: the official)."""
    return parts["UNet"](
        3, width, 3, num_res_blocks=2, attention_resolutions=[32, 16, 8], channel_mult=[1, 4, 8],
        num_heads=8, num_head_channels=64, use_scale_shift_norm=True, resblock_updown=True,
    )  # fmt: skip


def load_by_position(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """``convert_vqgan.py``'s mapping: ``state``'s tensors in order onto the port's non-
    discriminator tensors (its discriminator keeps its own); every shape must match."""
    target = {k: v for k, v in module.state_dict().items() if "discriminator" not in k}
    if len(target) != len(state):
        raise RuntimeError(f"{len(state)} tensors for the port's {len(target)}")
    mapped = {}
    for (ours, value), (theirs, slot) in zip(state.items(), target.items(), strict=True):
        if value.shape != slot.shape:
            raise RuntimeError(f"{ours} {tuple(value.shape)} -> {theirs} {tuple(slot.shape)}")
        mapped[theirs] = value
    module.load_state_dict(mapped, strict=False)


def reference_manager(parts: dict[str, Any], unet: nn.Module, vqgan: nn.Module | None) -> Any:
    """``SDEBBDMManager(model, T, encoder, decoder, c_lambda)``, as ``examples/eval.py`` has it."""
    encoder = decoder = None
    if vqgan is not None:
        encoder = nn.Sequential(vqgan.encoder, vqgan.quant_conv)
        decoder = nn.Sequential(vqgan.quantizer, vqgan.post_quant_conv, vqgan.decoder)
    manager = parts["Manager"](unet, STEPS, encoder, decoder, c_lambda=C_LAMBDA)
    plain_encode = manager.encode
    manager.encode = lambda x: (plain_encode(x), ())
    return manager


def reference_run(
    parts: dict[str, Any], manager: Any, y: torch.Tensor, taus: list[int], noise: list
) -> torch.Tensor:
    """``manager.sampling(n, y, condition=y, fast_sampling=True, sampling_range=taus)``."""
    with replayed_randn([parts["module"]], ["torch"], noise) as replay, torch.no_grad():
        images = manager.sampling(
            y.shape[0], y, condition=y, fast_sampling=True, sampling_range=taus
        )
    if replay.drawn != len(noise):
        raise RuntimeError(f"the reference drew {replay.drawn} of {len(noise)} tensors")
    return torch.stack(images)


def our_run(
    sample_bridge_fast: Callable[..., torch.Tensor],
    unet: nn.Module,
    autoencoder: nn.Module | None,
    y: torch.Tensor,
    taus: list[int],
    noise: list,
) -> torch.Tensor:
    """i2i: encode (latent mode), ``sample_bridge_fast`` from the condition, decode."""
    recorded = RecordedNoise(noise)
    with torch.no_grad():
        start = autoencoder.encode(y) if autoencoder is not None else y
        x0 = sample_bridge_fast(
            unet, start, taus=taus, steps=STEPS, c_lambda=C_LAMBDA, noise=recorded
        )
        out = autoencoder.decode(x0) if autoencoder is not None else x0
    recorded.assert_exhausted()
    return out


def warm_up(
    unet: nn.Module,
    theirs: nn.Module | None,
    parts: dict[str, Any] | None,
    shape: tuple[int, ...],
    device: torch.device,
) -> None:
    """One untimed forward of each UNet, so first-call costs hit neither timed run."""
    x = torch.zeros(shape, device=device)
    t = torch.full((shape[0],), STEPS, device=device, dtype=torch.long)
    with torch.no_grad():
        unet(x, t)
        if theirs is not None and parts is not None:
            theirs(parts["DiffusionData"](x, t))  # a TimedModule takes the manager's data


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", type=Path, help="local copy of the SDE-BBDM repository")
    parser.add_argument("--deps", type=Path, help="folder with torchmanager(-diffusion)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--size", type=int, default=256, help="image size in pixels")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--nfe", type=int, default=199, help="taus kept of the 199-step list")
    parser.add_argument("--width", type=int, default=128, help="UNet base width (128 official)")
    parser.add_argument(
        "--space", choices=["image", "latent", "both"], default="both", help="where it runs"
    )
    parser.add_argument("--repeats", type=int, default=1, help="timed runs per implementation")
    parser.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's)")
    parser.add_argument("--out", type=Path, help="write OUT-<space>.json and OUT-<space>.md")
    return parser.parse_args()


def bench_space(
    args: argparse.Namespace, space: str, parts: dict[str, Any] | None, sampler: Any
) -> Report:
    """Both sides in one space (``image`` or ``latent``): weights, noise, timing, difference."""
    device = torch.device(args.device)
    latent = space == "latent"
    side = args.size // FACTOR if latent else args.size
    taus = kept_taus(args.nfe)
    unet = build_unet(side, args.width)
    unet_state = random_state(unet, seed=0)
    unet.load_state_dict(unet_state, strict=True)
    unet = unet.to(device).requires_grad_(False)
    autoencoder = None
    if latent:
        autoencoder = build_autoencoder(args.size)
        vq_state = random_state(autoencoder, seed=1)
        autoencoder.load_state_dict(vq_state, strict=True)
        autoencoder = autoencoder.to(device).requires_grad_(False)

    generator = torch.Generator().manual_seed(1234)
    y = (torch.rand(args.batch, 3, args.size, args.size, generator=generator) * 2 - 1).to(device)
    shape = (args.batch, 3, side, side)
    noise = [torch.randn(shape, generator=generator).to(device) for _ in taus[1:]]

    runs: dict[str, Callable[[], torch.Tensor]] = {
        OURS: lambda: our_run(sampler, unet, autoencoder, y, taus, noise)
    }
    theirs = None
    if parts is not None:
        theirs = reference_unet(parts, args.width)
        theirs.load_state_dict(unet_state, strict=True)
        theirs = theirs.to(device).eval().requires_grad_(False)
        vqgan = None
        if latent:
            vqgan = parts["VQGAN"](3, f=FACTOR, latent_dim=3, num_codebook_vectors=8192)
            load_by_position(vqgan, vq_state)
            vqgan = vqgan.to(device).eval().requires_grad_(False)
        manager = reference_manager(parts, theirs, vqgan)
        runs[REFERENCE] = lambda: reference_run(parts, manager, y, taus, noise)

    warm_up(unet, theirs, parts, shape, device)
    seconds, outputs = time_alternately(runs, args.repeats, device)
    title = (
        f"SDE-BBDM fast sampler, {space} space, {device.type}, {args.size}px images"
        + (f" ({side}x{side} latents)" if latent else "")
        + f", {len(taus)} taus ({len(taus)} UNet calls), UNet width {args.width}, "
        f"batch {args.batch}, {torch.get_num_threads()} thread(s)"
    )
    config = vars(args) | {"space": space, "taus": taus, "reference": None, "deps": None}
    report = Report(title, config | {"out": None}, [Row(n, seconds[n], args.batch) for n in runs])
    if len(outputs) == 2:
        report.max_abs_difference = (outputs[OURS] - outputs[REFERENCE]).abs().max().item()
        report.max_abs_output = outputs[REFERENCE].abs().max().item()
    return report


def main() -> None:
    args = arguments()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        from i2i_bbdm.reverse_bridge import sample_bridge_fast
    except ImportError as error:  # the weights come from i2i's networks too
        raise SystemExit(f"i2i_bbdm is not importable: {error}") from None
    notes = []
    parts = None
    if args.reference is not None:
        parts = import_reference(args.reference, args.deps)
        if parts["stood_in"]:
            notes.append(f"Stand-in modules for the reference: {', '.join(parts['stood_in'])}.")
    spaces = ["image", "latent"] if args.space == "both" else [args.space]
    for space in spaces:
        report = bench_space(args, space, parts, sample_bridge_fast)
        report.notes = notes
        stem = None if args.out is None else args.out.with_name(f"{args.out.name}-{space}")
        report.write(stem, OURS, REFERENCE)


if __name__ == "__main__":
    main()
