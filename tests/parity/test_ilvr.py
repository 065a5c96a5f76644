"""The ILVR sampler replays ilvr_adm's run (golden ilvr_sample.pt)."""

from __future__ import annotations

from pathlib import Path

import torch

from i2i_adm.build import build_unet
from i2i_adm.settings import AdmUNetSettings
from i2i_cli.diffusion.denoiser import DiscreteDenoiser, ModelSpec
from i2i_cli.diffusion.noise import RecordedNoise
from i2i_cli.diffusion.schedule import DiscreteSchedule
from i2i_cli.io.resizer import LowPassFilter
from i2i_cli.networks.backbones import load_state_dict_strictly
from i2i_egsde.ilvr import sample_ilvr

UNET_FLAGS = (
    "image_size", "num_channels", "num_res_blocks", "channel_mult", "attention_resolutions",
    "num_heads", "num_head_channels", "num_heads_upsample", "class_cond", "use_scale_shift_norm",
    "resblock_updown", "use_fp16", "use_new_attention_order", "dropout", "learn_sigma",
)  # fmt: skip


def test_ilvr_sample_replays_the_recorded_noise(golden_dir: Path) -> None:
    golden = torch.load(golden_dir / "ilvr_sample.pt", weights_only=True)
    config, tol = golden["config"], golden["tolerance"]
    flags = config["model_and_diffusion"]
    model = build_unet(AdmUNetSettings(**{k: flags[k] for k in UNET_FLAGS})).eval()
    state = golden["state_dict"]
    load_state_dict_strictly(model, state.get("model", state), "golden ILVR model")
    schedule = DiscreteSchedule.named("linear", 1000, flags["timestep_respacing"])
    assert schedule.timestep_map.tolist() == golden["outputs"]["timestep_map"]
    reference = golden["inputs"]["ref_img"]
    noise = RecordedNoise(golden["noise"])
    after: list[torch.Tensor] = []
    sample = sample_ilvr(
        DiscreteDenoiser(model, ModelSpec(learned_variance=True)),
        reference,
        schedule,
        low_pass=LowPassFilter(32, 32, config["down_N"], "cubic"),
        range_t=config["range_t"],
        noise=noise,
        clip_denoised=config["clip_denoised"],
        callback=lambda info: after.append(info["x"]),
    )
    noise.assert_exhausted()
    close = {"atol": tol["atol"], "rtol": tol["rtol"]}
    torch.testing.assert_close(after[0], golden["outputs"]["x_after_first_step"], **close)
    torch.testing.assert_close(sample, golden["outputs"]["sample"], **close)
