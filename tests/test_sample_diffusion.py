"""``i2i sample diffusion`` end to end on tiny random ADM checkpoints saved to disk."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from i2i_cli.cli.app import app
from i2i_cli.networks.backbones import load_backbone

TINY_UNET = {
    "image_size": 16,
    "num_channels": 32,
    "num_res_blocks": 1,
    "channel_mult": "1,1",
    "attention_resolutions": "8",
    "num_head_channels": 16,
    "learn_sigma": True,
}


def tiny_checkpoint(folder: Path, **overrides: object) -> tuple[Path, Path]:
    """A random-weight tiny ADM UNet saved as a plain state dict, and a config naming it."""
    model = {**TINY_UNET, **overrides}
    backbone = load_backbone("adm-unet", preset="afhq_dog_4m", overrides=model)
    generator = torch.Generator().manual_seed(0)
    state = {
        k: torch.randn(v.shape, generator=generator) * 0.05
        for k, v in backbone.module.state_dict().items()
    }
    weights = folder / "tiny.pt"
    torch.save(state, weights)
    lines = [f"checkpoint = '{weights}'", "[model]"]
    lines += [
        f"{k} = {v!r}".replace("True", "true").replace("False", "false") for k, v in model.items()
    ]
    config = folder / "tiny.toml"
    config.write_text("\n".join(lines) + "\n")
    return weights, config


def sample(cli: CliRunner, config: Path, out: Path, *args: str) -> object:
    return cli.invoke(
        app,
        [
            "sample",
            "diffusion",
            "--config",
            str(config),
            "--output",
            str(out),
            "--device",
            "cpu",
            "--steps",
            "3",
            *args,
        ],
    )


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


@pytest.mark.parametrize("sampler", ["ddim", "ddpm"])
def test_sample_writes_images_of_the_backbone_size(
    cli: CliRunner, tmp_path: Path, sampler: str
) -> None:
    _, config = tiny_checkpoint(tmp_path)
    out = tmp_path / "out"
    result = sample(cli, config, out, "--sampler", sampler, "--num-samples", "3")
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in out.glob("*.png"))
    assert files == ["000000.png", "000001.png", "000002.png"]
    assert pixels(out / "000000.png").shape == (16, 16, 3)
    assert (out / "run.toml").is_file()


def test_samples_do_not_depend_on_batch_size_and_resume(cli: CliRunner, tmp_path: Path) -> None:
    _, config = tiny_checkpoint(tmp_path)
    one = sample(cli, config, tmp_path / "b1", "--num-samples", "3", "--batch-size", "1")
    three = sample(cli, config, tmp_path / "b3", "--num-samples", "3", "--batch-size", "3")
    assert one.exit_code == 0 and three.exit_code == 0, one.output + three.output
    for name in ("000000.png", "000002.png"):
        np.testing.assert_array_equal(
            pixels(tmp_path / "b1" / name), pixels(tmp_path / "b3" / name)
        )
    (tmp_path / "b1" / "000001.png").unlink()
    again = sample(cli, config, tmp_path / "b1", "--num-samples", "3")
    assert "2 already done, 1 to draw" in again.stderr
    np.testing.assert_array_equal(
        pixels(tmp_path / "b1" / "000001.png"), pixels(tmp_path / "b3" / "000001.png")
    )


def test_class_conditional_backbone_takes_a_class_label(cli: CliRunner, tmp_path: Path) -> None:
    _, config = tiny_checkpoint(tmp_path, class_cond=True, num_classes=10)
    out = tmp_path / "out"
    result = sample(cli, config, out, "--class-label", "7", "--num-samples", "1")
    assert result.exit_code == 0, result.output
    bad = sample(cli, config, tmp_path / "bad", "--class-label", "10")
    assert bad.exit_code != 0
    assert "--class-label 10 is not a class of this backbone (10 classes)" in bad.stderr


def test_a_checkpoint_of_another_shape_is_one_clear_line(cli: CliRunner, tmp_path: Path) -> None:
    weights, config = tiny_checkpoint(tmp_path)
    state = torch.load(weights, weights_only=True)
    state.pop("out.2.bias")
    state["extra.weight"] = torch.zeros(1)
    torch.save(state, weights)
    result = sample(cli, config, tmp_path / "out")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in result.output
    assert "1 missing keys (first: out.2.bias)" in line
    assert "1 unexpected keys (first: extra.weight)" in line


def test_missing_official_checkpoint_names_the_download_command(
    cli: CliRunner, tmp_path: Path
) -> None:
    result = cli.invoke(
        app, ["sample", "diffusion", "--output", str(tmp_path / "o"), "--device", "cpu"]
    )
    assert result.exit_code != 0
    assert "i2i download" in result.stderr and "afhq_dog_4m" in result.stderr


def test_dataparallel_prefixed_checkpoint_loads(tmp_path: Path) -> None:
    weights, _ = tiny_checkpoint(tmp_path)
    state = torch.load(weights, weights_only=True)
    torch.save({f"module.{k}": v for k, v in state.items()}, weights)
    loaded = load_backbone(
        "adm-unet", preset="afhq_dog_4m", overrides=TINY_UNET, checkpoint=weights
    )
    torch.testing.assert_close(loaded.module.state_dict()["out.2.bias"], state["out.2.bias"])
