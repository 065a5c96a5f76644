"""EDM network pickles read without running their code (dg.md §7): i2i_edm.pickles."""

from __future__ import annotations

import os
import pickle
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from i2i_cli.base.errors import I2IError, UsageError
from i2i_cli.networks.backbones import backbone_descriptor
from i2i_cli.weights.safe_pickle import UnsafePickleError, tensor_globals
from i2i_edm.pickles import (
    edm_allow_list,
    edm_init_kwargs,
    edm_settings_fields,
    is_network_pickle,
    read_edm_network,
    read_edm_weights,
    settings_mismatches,
)
from tests.persistence_pickles import (
    Persisted,
    layout_tree,
    persisted_tree,
    persistence_module,  # noqa: F401  (the fixture)
    tensor_dict,
)
from tests.test_checkpoints_manifest import EDM_PICKLES  # dg.md §2.4's official pickles

pytestmark = pytest.mark.usefixtures("persistence_module")

TINY_KWARGS = {"img_resolution": 8, "img_channels": 3, "label_dim": 0, "model_type": "TinyUNet"}


def marker_source(marker: Path) -> str:
    """A ``module_src`` that leaves ``marker`` behind if anything ever executes it."""
    return f"open({str(marker)!r}, 'w').close()\n"


class Conv2d(nn.Module):
    """EDM's Conv2d: weight, bias, a ``resample_filter`` buffer (``None`` unless resampling)."""

    def __init__(self, channels: int, down: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(channels, channels, 3, 3))
        self.bias = nn.Parameter(torch.randn(channels))
        self.register_buffer("resample_filter", torch.ones(1, 1, 2, 2) / 4 if down else None)
        self.register_buffer("scratch", torch.zeros(1), persistent=False)


class UNetBlock(nn.Module):
    """A block holding a numpy scalar, as EDM's ``skip_scale = np.sqrt(0.5)`` is."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.skip_scale = np.sqrt(0.5)
        self.conv0 = Conv2d(channels, down=True)
        self.norm0 = nn.GroupNorm(1, channels)


class TinyUNet(nn.Module):
    """Encoder blocks in a ``ModuleDict``, the way SongUNet's ``enc``/``dec`` are held."""

    def __init__(self) -> None:
        super().__init__()
        self.map_layer0 = nn.Linear(4, 4)
        self.enc = nn.ModuleDict({"8x8_conv": Conv2d(3, down=False), "4x4_down": UNetBlock(3)})


class VPPrecond(nn.Module):
    """The wrapper: sigma attributes and the UNet under ``model``."""

    def __init__(self) -> None:
        super().__init__()
        self.sigma_min, self.sigma_max = 0.002, 80.0
        self.model = TinyUNet()


def tiny_network(seed: int = 0) -> nn.Module:
    """A seeded ``VPPrecond`` of a few hundred weights."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return VPPrecond()


def write_snapshot(path: Path, network: Any, **entries: Any) -> Path:
    """``path`` holding ``dict(ema=network, **entries)`` as EDM's training loop pickles it."""
    path.write_bytes(pickle.dumps({"ema": network, **entries}, protocol=4))
    return path


def golden_snapshot(tmp_path: Path, golden_dir: Path) -> tuple[Path, dict[str, Any], Path]:
    """The snapshot edm_pickle_layout.pt describes, pickled; its layout; its code's marker."""
    golden = golden_dir / "edm_pickle_layout.pt"
    if not golden.is_file():
        if os.environ.get("I2I_REQUIRE_GOLDEN") == "1":
            pytest.fail(f"golden file {golden} missing")
        pytest.skip(f"golden file {golden} missing")
    layout = torch.load(golden, weights_only=False)
    marker = tmp_path / "executed"
    path = tmp_path / "snapshot.pkl"
    path.write_bytes(pickle.dumps(layout_tree(layout, marker_source(marker)), protocol=4))
    return path, layout, marker


def require_edm_backbone() -> None:
    """Skip unless the i2i_edm plugin's ``edm`` backbone is registered."""
    try:
        backbone_descriptor("edm")
    except UsageError:
        pytest.skip("the edm backbone is not registered yet")


def test_the_golden_snapshot_layout_reads_to_its_ema_state_dict(
    tmp_path: Path, golden_dir: Path
) -> None:
    path, layout, marker = golden_snapshot(tmp_path, golden_dir)
    network = read_edm_network(path)
    expected = layout["state_dict"]["ema"]
    assert list(network.state_dict) == layout["outputs"]["ema_state_dict_keys_from_walk"]
    for key, value in expected.items():
        torch.testing.assert_close(network.state_dict[key], value, rtol=0, atol=0)
    config = dict(layout["config"])
    assert f"training.networks.{network.class_name}" == config.pop("class_name")
    assert network.init_kwargs == config
    assert set(layout["outputs"]["globals_in_order"]) <= {*tensor_globals(), *edm_allow_list()}
    assert not marker.exists()


def test_a_tiny_snapshot_gives_the_networks_state_dict_and_kwargs(tmp_path: Path) -> None:
    module = tiny_network()
    marker = tmp_path / "executed"
    source = marker_source(marker)
    extras = {
        "loss_fn": Persisted("VPLoss", source),
        "augment_pipe": None,
        "dataset_kwargs": {"class_name": "training.dataset.ImageFolderDataset", "xflip": False},
    }
    path = write_snapshot(
        tmp_path / "tiny.pkl", persisted_tree(module, source, TINY_KWARGS), **extras
    )
    assert is_network_pickle(path)
    weights = read_edm_network(path).state_dict
    expected = tensor_dict(module)
    assert list(weights) == list(expected)
    assert "model.enc.4x4_down.conv0.resample_filter" in weights
    assert not any(key.endswith(".scratch") for key in weights)
    for key, value in expected.items():
        torch.testing.assert_close(weights[key], value, rtol=0, atol=0)
        assert not weights[key].requires_grad
    assert edm_init_kwargs(path) == {"class_name": "VPPrecond", "init_kwargs": TINY_KWARGS}
    with pytest.raises(I2IError, match=r"recorded VPPrecond does not map .*TinyUNet"):
        read_edm_weights(path)  # the backbone cannot build what the file records
    assert not marker.exists()


def test_state_dict_files_go_to_the_safe_checkpoint_loader(tmp_path: Path) -> None:
    expected = tensor_dict(tiny_network(seed=1))
    path = tmp_path / "weights.pt"
    torch.save(expected, path)
    assert not is_network_pickle(path)
    weights = read_edm_weights(path)
    assert list(weights) == list(expected)
    torch.testing.assert_close(
        weights["model.map_layer0.weight"], expected["model.map_layer0.weight"]
    )
    with pytest.raises(I2IError, match="not an EDM network pickle"):
        edm_init_kwargs(path)


def test_a_pickle_calling_other_code_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self) -> tuple[Any, ...]:
            return (os.system, (f"touch {marker}",))

    path = write_snapshot(tmp_path / "hostile.pkl", Payload())
    with pytest.raises(UnsafePickleError, match=r"asks for (posix|os|nt)\.system") as refused:
        read_edm_weights(path)
    assert "\n" not in str(refused.value)
    assert not marker.exists()


def test_an_unknown_class_inside_a_network_is_refused(tmp_path: Path) -> None:
    network = persisted_tree(tiny_network(), "pass")
    network.state["stranger"] = Counter("ab")
    path = write_snapshot(tmp_path / "stranger.pkl", network)
    with pytest.raises(UnsafePickleError, match=r"collections\.Counter"):
        read_edm_network(path)


def test_a_persistence_record_of_another_version_is_refused(tmp_path: Path) -> None:
    class OldRecord(Persisted):
        def __reduce__(self) -> tuple[Any, ...]:
            function, (meta,) = super().__reduce__()
            return (function, ({**meta, "version": 5},))

    path = write_snapshot(tmp_path / "old.pkl", OldRecord("VPPrecond", "pass"))
    with pytest.raises(UnsafePickleError, match="version 5"):
        read_edm_network(path)


def test_a_snapshot_without_a_network_says_so(tmp_path: Path) -> None:
    path = tmp_path / "no_ema.pkl"
    path.write_bytes(pickle.dumps({"loss_fn": Persisted("VPLoss", "pass")}, protocol=4))
    with pytest.raises(I2IError, match=r"no persistent 'ema' network \(entries: loss_fn\)"):
        read_edm_weights(path)


def test_recorded_kwargs_map_onto_the_edm_backbone_settings() -> None:
    EdmSettings = pytest.importorskip("i2i_edm.settings").EdmSettings

    kwargs = {"img_resolution": 8, "label_dim": 10, "model_type": "SongUNet", "beta_d": 19.9}
    kwargs |= {"model_channels": 8, "channel_mult": [2, 2], "augment_dim": 9, "dropout": 0.13}
    fields = edm_settings_fields({"class_name": "VPPrecond", "init_kwargs": kwargs})
    assert fields == {"precond": "vp", **kwargs}
    preset = EdmSettings(precond="vp", img_resolution=8, label_dim=0, model_channels=8)
    mismatches = settings_mismatches(preset, {"class_name": "VPPrecond", "init_kwargs": kwargs})
    assert mismatches == ["label_dim: file 10, settings 0"]
    with pytest.raises(I2IError, match="does not map onto the edm backbone"):
        edm_settings_fields({"class_name": "VPPrecond", "init_kwargs": {"nonsense": 1}})
    with pytest.raises(I2IError, match="not an EDM preconditioner"):
        edm_settings_fields({"class_name": "StyleGAN", "init_kwargs": {}})


TINY_EDM = {
    "precond": "vp",
    "img_resolution": 8,
    "label_dim": 0,
    "model_channels": 8,
    "channel_mult": [1, 2],
    "num_blocks": 1,
    "attn_resolutions": [4],
    "augment_dim": 0,
}


def test_an_edm_pickle_loads_through_the_edm_backbone(tmp_path: Path) -> None:
    from i2i_cli.networks.backbones import load_backbone

    require_edm_backbone()
    built = load_backbone("edm", overrides={**TINY_EDM, "init_seed": 3})
    recorded = {k: v for k, v in built.settings.precond_kwargs().items() if k != "init_seed"}
    marker = tmp_path / "executed"
    network = persisted_tree(built.module, marker_source(marker), recorded)
    path = write_snapshot(tmp_path / "edm-tiny.pkl", network)
    loaded = load_backbone("edm", overrides=TINY_EDM, checkpoint=path)
    expected = built.module.state_dict()
    assert list(loaded.module.state_dict()) == list(expected)
    for key, value in loaded.module.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    assert settings_mismatches(loaded.settings, edm_init_kwargs(path)) == []
    assert not marker.exists()


def test_the_golden_snapshot_loads_into_the_edm_backbone_it_records(
    tmp_path: Path, golden_dir: Path
) -> None:
    from i2i_cli.networks.backbones import load_backbone

    require_edm_backbone()
    path, layout, marker = golden_snapshot(tmp_path, golden_dir)
    fields = edm_settings_fields(edm_init_kwargs(path))
    loaded = load_backbone("edm", overrides=fields, checkpoint=path)
    expected = layout["state_dict"]["ema"]
    assert list(loaded.module.state_dict()) == list(expected)
    for key, value in loaded.module.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    assert not marker.exists()


def test_download_exp_edm_fetches_every_official_pickle_and_fid_reference() -> None:
    from i2i_cli.checkpoints.discovery import discover_manifests, load_manifests, warn_stderr

    artifacts, origins = load_manifests(discover_manifests(warn_stderr, {}), warn_stderr)
    edm = {name: a for name, a in artifacts.items() if "edm" in a.experiments}
    base = "https://nvlabs-fi-cdn.nvidia.com/edm/"
    urls = {a.sources[0].url for a in edm.values() if a.status == "available" and a.sources}
    assert {f"{base}pretrained/{file}" for file in EDM_PICKLES} <= urls
    assert f"{base}fid-refs/cifar10-32x32.npz" in urls
    pickles = [name for name, a in edm.items() if a.file.endswith(".pkl") and "edm-" in a.file]
    assert len(pickles) == len(EDM_PICKLES)
    assert all("i2i_edm" in origins[name] for name in pickles)
