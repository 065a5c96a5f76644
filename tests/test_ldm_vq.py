"""LDM's VQ-f4 autoencoder as the ``vq-f4`` backbone: layout, encode/decode, weights files."""

from __future__ import annotations

import pickle
import sys
import types
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch

from i2i_cli.base.errors import I2IError
from i2i_cli.networks.backbones import LoadedBackbone, backbone_settings, load_backbone
from i2i_ldm.weights import read_vq_weights

TINY_VQ_F4: dict[str, Any] = {
    "ch": 32,
    "ch_mult": "1,1,1",
    "num_res_blocks": 1,
    "resolution": 32,
    "n_embed": 64,
}
"""The vq_f4 preset shrunk to 32 px: three levels (f = 4), 64 codebook vectors."""

LIGHTNING_MODULE = "pytorch_lightning.callbacks.model_checkpoint"


def tiny(**overrides: Any) -> LoadedBackbone:
    """The tiny VQ-f4 with its seeded initial weights."""
    return load_backbone("vq-f4", preset="vq_f4", overrides={**TINY_VQ_F4, **overrides})


def random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded random weights of the tiny VQ-f4 (LDM key names)."""
    generator = torch.Generator().manual_seed(seed)
    return {
        key: torch.randn(value.shape, generator=generator) * 0.2
        for key, value in tiny().module.state_dict().items()
    }


@pytest.fixture
def fake_lightning(monkeypatch: pytest.MonkeyPatch) -> type:
    """A stand-in for Lightning's ModelCheckpoint that pickles under Lightning's own name."""
    checkpoint_class = type("ModelCheckpoint", (), {"__module__": LIGHTNING_MODULE})
    parts = LIGHTNING_MODULE.split(".")
    for depth in range(1, len(parts) + 1):
        name = ".".join(parts[:depth])
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setattr(sys.modules[LIGHTNING_MODULE], "ModelCheckpoint", checkpoint_class, False)
    return checkpoint_class


def lightning_checkpoint(path: Path, state: dict[str, torch.Tensor], callback: type) -> Path:
    """A Lightning 1.4-style ``model.ckpt``: weights plus ``loss.*``, callbacks, optimiser."""
    weights = OrderedDict(state)
    weights["loss.discriminator.main.0.weight"] = torch.ones(4, 3, 4, 4)
    weights["loss.perceptual_loss.net.slice1.0.weight"] = torch.ones(2, 3, 3, 3)
    checkpoint = {
        "epoch": 3,
        "global_step": 533066,
        "pytorch-lightning_version": "1.4.2",
        "state_dict": weights,
        "callbacks": {callback: {"monitor": "val/rec_loss", "best_model_score": torch.tensor(0.5)}},
        "optimizer_states": [{"state": {0: {"step": 1}}, "param_groups": [{"lr": 4.5e-6}]}],
        "lr_schedulers": [],
    }
    torch.save(checkpoint, path)
    return path


def test_the_preset_is_ldms_vq_f4_config() -> None:
    _, settings = backbone_settings("vq-f4", "vq_f4")
    config = settings.model_dump()
    assert {k: config[k] for k in ("embed_dim", "n_embed", "z_channels", "ch", "ch_mult")} == {
        "embed_dim": 3,
        "n_embed": 8192,
        "z_channels": 3,
        "ch": 128,
        "ch_mult": "1,2,4",
    }
    assert config["attn_resolutions"] == "" and config["num_res_blocks"] == 2
    assert config["apply_proj_out"] is True and settings.factor == 4


def test_the_middle_blocks_attend_although_no_level_does() -> None:
    keys = set(tiny().module.state_dict())
    for part in ("encoder", "decoder"):
        assert {f"{part}.mid.attn_1.{c}.weight" for c in ("q", "k", "v", "proj_out")} <= keys
    assert not any(".attn." in key for key in keys)
    assert {"quantize.embedding.weight", "quant_conv.weight", "post_quant_conv.bias"} <= keys
    assert not any("attn" in key for key in tiny(attn_type="none").module.state_dict())


def test_encode_is_the_unquantised_quarter_size_latent_and_decode_gives_back_the_image() -> None:
    model = tiny().module
    x = torch.rand(2, 3, 32, 24, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.no_grad():
        z = model.encode(x)
        assert z.shape == (2, 3, 8, 6)
        assert torch.equal(z, model.quant_conv(model.encoder(x)))
        assert model.decode(z).shape == (2, 3, 32, 24)


@pytest.mark.parametrize("side", [(5, 7), (80, 60)])  # 9,600 vectors: several chunks
def test_quantisation_picks_the_nearest_codebook_vector(side: tuple[int, int]) -> None:
    model = tiny().module
    generator = torch.Generator().manual_seed(2)
    codebook = torch.randn(64, 3, generator=generator)
    model.quantize.embedding.weight.data.copy_(codebook)
    z = torch.randn(2, 3, *side, generator=generator)
    nearest = torch.cdist(z.permute(0, 2, 3, 1).reshape(-1, 3), codebook).argmin(dim=1)
    expected = codebook[nearest].reshape(2, *side, 3).permute(0, 3, 1, 2)
    assert torch.equal(model.quantize.indices(z).flatten(), nearest)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert torch.equal(model.quantize.indices(z).flatten(), nearest)
    torch.testing.assert_close(model.quantize(z), expected, atol=1e-6, rtol=0)
    if side == (5, 7):
        with torch.no_grad():
            decoded = model.decode(z)
            torch.testing.assert_close(decoded, model.decoder(model.post_quant_conv(expected)))


def test_skipping_proj_out_is_the_reference_ports_attention() -> None:
    state = random_state()
    ldm, port = tiny(), tiny(apply_proj_out=False)
    for loaded in (ldm, port):
        loaded.module.load_state_dict(state)
    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        assert not torch.allclose(ldm.module.encode(x), port.module.encode(x))
        for part in (ldm.module.encoder, ldm.module.decoder):
            projection = part.mid.attn_1.proj_out
            projection.weight.copy_(torch.eye(32).reshape(32, 32, 1, 1))
            projection.bias.zero_()
        torch.testing.assert_close(ldm.module.encode(x), port.module.encode(x))
        z = ldm.module.encode(x)
        torch.testing.assert_close(ldm.module.decode(z), port.module.decode(z))


def assert_loads_as(path: Path, state: dict[str, torch.Tensor]) -> None:
    """``path`` reads as ``state`` and loads strictly into the tiny VQ-f4."""
    read = read_vq_weights(path)
    assert read.keys() == state.keys()
    assert all(torch.equal(read[key], state[key]) for key in state)
    loaded = load_backbone("vq-f4", preset="vq_f4", overrides=TINY_VQ_F4, checkpoint=path)
    weights = loaded.module.state_dict()
    assert all(torch.equal(weights[key], state[key]) for key in state)


@pytest.mark.parametrize("name", ["model.ckpt", "vq-f4.zip"])  # vq-f4.zip: `--from model.ckpt`
def test_a_lightning_checkpoint_loads_without_its_loss_tensors(
    tmp_path: Path, fake_lightning: type, name: str
) -> None:
    state = random_state()
    assert_loads_as(lightning_checkpoint(tmp_path / name, state, fake_lightning), state)


@pytest.mark.parametrize("member", ["model.ckpt", "vq-f4/model.ckpt"])
def test_ldms_distributed_zip_loads(tmp_path: Path, fake_lightning: type, member: str) -> None:
    state = random_state(seed=4)
    ckpt = lightning_checkpoint(tmp_path / "model.ckpt", state, fake_lightning)
    archive = tmp_path / "vq-f4.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        zipped.write(ckpt, member)
    ckpt.unlink()
    assert_loads_as(archive, state)


def test_a_plain_state_dict_and_a_full_ldm_checkpoint_load(tmp_path: Path) -> None:
    state = random_state(seed=5)
    torch.save(state, tmp_path / "vq_f4.pt")
    assert_loads_as(tmp_path / "vq_f4.pt", state)
    full = {f"first_stage_model.{k}": v for k, v in state.items()}
    full["model.diffusion_model.out.2.weight"] = torch.zeros(3)
    torch.save({"state_dict": full}, tmp_path / "ldm.ckpt")
    assert_loads_as(tmp_path / "ldm.ckpt", state)


class Payload:
    """Something a hostile pickle would run on load."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (print, ("ran",))


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    """A zip archive of ``members``."""
    with zipfile.ZipFile(path, "w") as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("make", "complaint"),
    [
        (lambda d: (d / "notes.txt").write_text("not weights") and d / "notes.txt", "a text file"),
        (lambda d: write_zip(d / "vq-f4.zip", {"config.yaml": b"x"}), "without a model.ckpt"),
        (lambda d: write_zip(d / "bad.zip", {"model.ckpt": b"junk"}), "model.ckpt in"),
        (lambda d: torch.save({"state_dict": {"a": 1}}, d / "m.ckpt") or d / "m.ckpt", "no state"),
        (lambda d: torch.save({"x": Payload()}, d / "evil.ckpt") or d / "evil.ckpt", "print"),
        (lambda d: d / "absent.ckpt", "does not exist"),
    ],
)
def test_a_wrong_file_is_one_line(tmp_path: Path, make: Any, complaint: str) -> None:
    path = make(tmp_path)
    with pytest.raises(I2IError) as caught:
        read_vq_weights(path)
    message = str(caught.value)
    assert complaint in message and "\n" not in message
    assert str(tmp_path) in message
    assert "i2i-ldm-" not in message  # names the zip, not its temporary copy


def test_a_checkpoint_of_another_network_is_one_line(tmp_path: Path) -> None:
    state = random_state()
    del state["quantize.embedding.weight"]
    torch.save({"state_dict": state}, tmp_path / "model.ckpt")
    with pytest.raises(I2IError, match=r"1 missing keys.*quantize\.embedding\.weight"):
        load_backbone("vq-f4", overrides=TINY_VQ_F4, checkpoint=tmp_path / "model.ckpt")


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_pickled_payload_never_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "model.ckpt").write_bytes(pickle.dumps({"state_dict": Payload()}))
    with pytest.raises(I2IError):
        read_vq_weights(tmp_path / "model.ckpt")
    assert "ran" not in capsys.readouterr().out
