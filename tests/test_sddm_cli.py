"""``i2i translate sddm`` end to end on tiny random checkpoints through the real loaders, and
``i2i evaluate`` on its output folder as written."""

from __future__ import annotations

import json
import math
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import run_i2i
from tests.metrics_helpers import random_inception_state
from tests.tiny_models import (
    TINY_ADM_UNET,
    TINY_DSE,
    manifest_entry,
    manifest_env,
    random_weights,
    toml_table,
)

TINY_SDDM = (
    'checkpoint = "tiny_afhq_dog"\nrespacing = "6"\nrange_t = 2\narea = 4\n\n'
    + toml_table("model", TINY_ADM_UNET)
    + '\n[[energy]]\nname = "vgg-adain"\nweight = 25.0\ncheckpoint = "tiny_vgg"\n\n'
    + toml_table("energy.model", {"layers": "used"})
)
"""wild2dog shrunk: 6 respaced steps, conditioned above step 2, 4x4 blocks of the 32 px image."""


@pytest.fixture
def tiny_sddm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A tiny score model and relu1_1 encoder adopted into the cache; returns the config."""
    unet = random_weights("adm-unet", "afhq_dog_4m", TINY_ADM_UNET, tmp_path / "tiny_unet.pt")
    vgg = random_weights("adain-vgg", "vgg_normalised", {"layers": "used"}, tmp_path / "vgg.pth")
    manifest = tmp_path / "manifest.toml"
    manifest.write_text(
        manifest_entry("tiny_afhq_dog", unet, "tiny") + manifest_entry("tiny_vgg", vgg, "tiny")
    )
    monkeypatch.setenv("I2I_MANIFESTS", str(manifest))
    for name, path in (("tiny_afhq_dog", unet), ("tiny_vgg", vgg)):
        adopted = run_i2i(["download", "--from", str(path), name], env=manifest_env())
        assert adopted.returncode == 0, adopted.stderr
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_SDDM)
    return config


def square_sources(folder: Path, count: int = 3) -> Path:
    """``count`` random 32x32 photos."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    for index in range(count):
        pixels = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"wild{index}.png")
    return folder


def translate(
    config: Path, source: Path, out: Path, *args: str
) -> subprocess.CompletedProcess[str]:
    files = ["--config", str(config), "--input", str(source), "--output", str(out)]
    command = ["translate", "sddm", "--device", "cpu", "--task", "wild2dog", *files, *args]
    return run_i2i(command, env=manifest_env())


def test_sddm_wild2dog_translates_each_source_under_its_name(
    tiny_sddm: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    result = translate(tiny_sddm, square_sources(tmp_path / "in"), out)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.glob("*.png"))
    assert names == ["grid.png", "wild0.png", "wild1.png", "wild2.png"]
    assert np.asarray(Image.open(out / "wild1.png")).shape == (32, 32, 3)
    assert "range_t 2, area 4, energies: vgg-adain x 25" in result.stderr
    record = (out / "run.toml").read_text()
    assert 'name = "vgg-adain"' in record and "area = 4" in record


def test_an_sddm_folder_is_evaluated_as_written(tiny_sddm: Path, tmp_path: Path) -> None:
    """Paired metrics pair exactly the run's images with their sources; grid.png is not one."""
    source, out = square_sources(tmp_path / "in"), tmp_path / "out"
    assert translate(tiny_sddm, source, out).returncode == 0
    command = ["evaluate", "ssim", "--images", str(out), "--source", str(source)]
    result = run_i2i([*command, "--device", "cpu", "--output", str(tmp_path / "eval")])
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert record["pairs"] == 3 and record["pairs_skipped"] == 0 and 0 < record["ssim"] < 1


def test_evaluate_all_wild2dog_runs_on_an_sddm_folder(tiny_sddm: Path, tmp_path: Path) -> None:
    source, out = square_sources(tmp_path / "in"), tmp_path / "out"
    assert translate(tiny_sddm, source, out).returncode == 0
    weights = tmp_path / "inception.pth"
    torch.save(random_inception_state(), weights)
    rng = np.random.default_rng(0)
    factor = rng.standard_normal((2048, 8))
    stats = tmp_path / "dog_stats.npz"
    np.savez(stats, mu=rng.standard_normal(2048), sigma=factor @ factor.T + np.eye(2048))
    command = ["evaluate", "all", "--task", "wild2dog", "--images", str(out)]
    command += ["--source", str(source), "--ref", str(stats), "--detector", str(weights)]
    result = run_i2i([*command, "--device", "cpu", "--output", str(tmp_path / "eval")])
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "eval" / "result.json").read_text())
    assert record["images_count"] == 3
    assert all(math.isfinite(record[k]) for k in ("fid", "l2", "mse", "psnr", "ssim"))


def test_the_egsde_energy_variant_runs_as_energy_flags(tiny_sddm: Path, tmp_path: Path) -> None:
    """sddm.md section 7: EGSDE's DSE and low-pass energies beside the VGG one, factor 2."""
    dse = random_weights("adm-classifier", "dse256", TINY_DSE, tmp_path / "dse.pt", seed=1)
    config = tmp_path / "egsde_energies.toml"
    config.write_text(
        tiny_sddm.read_text()
        + f'\n[[energy]]\nname = "dse"\nweight = 25.0\ncheckpoint = "{dse}"\n\n'
        + toml_table("energy.model", TINY_DSE)
        + '\n[[energy]]\nname = "lowpass"\nweight = 25.0\nfactor = 4\n'
    )
    out = tmp_path / "out"
    source = square_sources(tmp_path / "in", 1)
    result = translate(config, source, out, "--combination-scale", "2")
    assert result.returncode == 0, result.stderr
    assert "energies: vgg-adain x 25, dse x 25, lowpass x 25" in result.stderr
    plain = translate(tiny_sddm, source, tmp_path / "plain")
    assert plain.returncode == 0, plain.stderr
    a = np.asarray(Image.open(out / "wild0.png"), dtype=int)
    b = np.asarray(Image.open(tmp_path / "plain" / "wild0.png"), dtype=int)
    assert np.abs(a - b).max() > 0


TINY_DDPM = {"resolution": 32, "ch": 32, "ch_mult": [1, 2], "num_res_blocks": 1}


def test_sddm_male2female_runs_the_ddpm_backbone_with_per_block_combination(
    tiny_sddm: Path, tmp_path: Path
) -> None:
    """The reference's second code path: fixed small variance (DDPM backbone), detail_merge."""
    ddpm = random_weights("ddpm-unet", "celebahq_female", TINY_DDPM, tmp_path / "ddpm.pth")
    config = tmp_path / "m2f.toml"
    model = toml_table("model", {**TINY_DDPM, "attn_resolutions": [16]})
    config.write_text(
        tiny_sddm.read_text()
        .replace('checkpoint = "tiny_afhq_dog"', f'checkpoint = "{ddpm}"\ndetail_merge = true')
        .replace(toml_table("model", TINY_ADM_UNET), model)
    )
    out = tmp_path / "out"
    files = ["--config", str(config), "--input", str(square_sources(tmp_path / "in", 2))]
    command = ["translate", "sddm", "--device", "cpu", "--task", "male2female", *files]
    result = run_i2i([*command, "--output", str(out)], env=manifest_env())
    assert result.returncode == 0, result.stderr
    assert "ddpm-unet (celebahq_female)" in result.stderr
    assert sorted(p.name for p in out.glob("wild*.png")) == ["wild0.png", "wild1.png"]
    assert "detail_merge = true" in (out / "run.toml").read_text()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--area", "5"], "--area: 5 blocks per side do not tile a 32x32 image"),
        (["--range-t", "6"], "--range-t 6 leaves no conditioned step of the 6 respaced steps"),
        (["--energy", "vgg-adain:weight=25"], "i2i download sddm_vgg_normalised"),
    ],
)
def test_bad_sddm_settings_are_one_line(
    tiny_sddm: Path, tmp_path: Path, flags: list[str], message: str
) -> None:
    result = translate(tiny_sddm, square_sources(tmp_path / "in", 1), tmp_path / "o", *flags)
    assert result.returncode != 0
    assert message in result.stderr and "Traceback" not in result.stderr
