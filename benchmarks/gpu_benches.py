"""The GPU suite's EGSDE, DG, SDDM and SDE-BBDM sections, through their side-by-side benchmarks."""

from __future__ import annotations

from types import SimpleNamespace

import torch
from gpu_measure import Case, run_case, seeded
from gpu_record import Suite
from gpu_references import reference_imports


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
