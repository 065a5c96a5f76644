"""The ``edm`` backbone from its settings: EDM's preconditioner around its network (dg.md §2)."""

from __future__ import annotations

from i2i_cli.diffusion.denoiser import ModelSpec, SigmaProcess
from i2i_edm import precond
from i2i_edm.settings import PRECOND_CLASSES, EdmSettings


def build(settings: EdmSettings) -> precond.Precond:
    """``<Precond>(img_resolution, img_channels, label_dim, use_fp16, ..., model_type, **kw)``.

    The network is the module's ``model`` attribute, so state-dict keys are EDM's
    (``model.enc.32x32_conv.weight``, ...). Weights come from a generator seeded ``init_seed``.
    """
    cls = getattr(precond, PRECOND_CLASSES[settings.precond])
    return cls(**settings.precond_kwargs())


def sigma_range(settings: EdmSettings) -> tuple[float, float]:
    """The preconditioner's ``sigma_min``/``sigma_max`` attributes, without building it."""
    if settings.precond == "vp":
        low = precond.vp_sigma(settings.epsilon_t, settings.beta_d, settings.beta_min)
        high = precond.vp_sigma(1, settings.beta_d, settings.beta_min)
        return float(low), float(high)  # float32 arithmetic: 0.0009765625, 152.1669769...
    if settings.precond == "iddpm":
        u = precond.iddpm_levels(settings.C_1, settings.C_2, settings.M)
        return float(u[settings.M - 1]), float(u[0])
    cls = getattr(precond, PRECOND_CLASSES[settings.precond])  # VE and EDM: their defaults
    low = settings.sigma_min if settings.sigma_min is not None else cls.sigma_min
    high = settings.sigma_max if settings.sigma_max is not None else cls.sigma_max
    return float(low), float(high)


def spec(settings: EdmSettings) -> ModelSpec:
    """EDM's denoised D(x; sigma) on the sigma range the preconditioner supports."""
    sigma_min, sigma_max = sigma_range(settings)
    return ModelSpec(
        target="denoised",
        process=SigmaProcess(sigma_min, sigma_max, settings.sigma_data),
        channels=settings.img_channels,
        input_shape=(settings.img_channels, settings.img_resolution, settings.img_resolution),
        num_classes=settings.label_dim,
    )
