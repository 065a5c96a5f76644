"""FID feature detectors: the Inception weights plus the resizing and normalisation of a backend.

Two backends, each feeding the network exactly as its reference does:

* ``pytorch-fid`` (EGSDE, SDDM; mseitzer/pytorch-fid ``InceptionV3``): ``ToTensor`` (uint8/255),
  ``F.interpolate`` to 299x299 (bilinear, ``align_corners=False``, no antialiasing) from the
  stored size, then ``2x - 1``. EGSDE's male2female protocol adds its PIL transform (bilinear
  to 256², then 299²) and an ImageNet ``Normalize`` before the network's own ``2x - 1``
  (egsde.md §7 and pitfall 12).
* ``nvidia`` (EDM, DG, StyleGAN3, clean-fid; ``inception-2015-12-05.pkl``): the uint8 values as
  float32, TF's ``resize_bilinear`` emulated with ``affine_grid``/``grid_sample`` (half-pixel
  shifted, border padding) to 299x299, then ``(x - 128) / 128`` (dg.md §9).

Either backend reads weights in any of the three formats (pytorch-fid ``.pth``, NVIDIA ``.pkl``
or TorchScript ``.pt``): the graph is the same (``i2i_cli.metrics.nvidia_keys``).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from i2i_cli.metrics.detector_files import (
    DetectorFileError,
    is_torchscript,
    read_detector_pickle,
    read_torchscript_state,
)
from i2i_cli.metrics.inception import FEATURE_DIM, INPUT_SIZE, FIDInception
from i2i_cli.metrics.nvidia_keys import from_nvidia
from i2i_cli.metrics.settings import Backend, Transform

BACKENDS: tuple[Backend, ...] = ("pytorch-fid", "nvidia")

DEFAULT_ARTIFACT: dict[str, str] = {
    "pytorch-fid": "fid_pt_inception",
    "nvidia": "fid_nvidia_inception",
}
"""The checkpoint-store artifact each backend loads unless told otherwise."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
"""torchvision's ImageNet normalisation, applied by EGSDE's male2female FID transform."""

RESIZE_DESCRIPTION: dict[str, str] = {
    "pytorch-fid": (
        "ToTensor (uint8/255), F.interpolate bilinear align_corners=False (no antialias) "
        "to 299x299 from the stored size, 2x-1"
    ),
    "nvidia": (
        "uint8 values as float32, TF resize_bilinear emulation (affine_grid/grid_sample, "
        "border) to 299x299, (x-128)/128"
    ),
}
TRANSFORM_DESCRIPTION: dict[str, str] = {
    "none": "",
    "egsde-celebahq": (
        "PIL bilinear resize to 256x256 then 299x299, ImageNet Normalize before the "
        "network's 2x-1 (EGSDE male2female)"
    ),
}


def pytorch_fid_input(pixels: torch.Tensor, *, imagenet_normalise: bool = False) -> torch.Tensor:
    """pytorch-fid's input: uint8 (N, 3, H, W) -> [0, 1] -> (ImageNet Normalize) -> 299² -> 2x-1."""
    x = pixels.float().div(255)
    if imagenet_normalise:
        mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
        x = (x - mean) / std
    x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
    return 2 * x - 1


def nvidia_input(pixels: torch.Tensor) -> torch.Tensor:
    """NVIDIA's detector input: uint8 values, TF-aligned bilinear to 299², then (x-128)/128."""
    x = pixels.float()
    batch, channels, height, width = x.shape
    theta = torch.eye(2, 3, device=x.device)
    # TF's resize_bilinear samples at src = dst * in/out (no half-pixel centres): shift the grid.
    theta[0, 2] += theta[0, 0] / width - theta[0, 0] / INPUT_SIZE
    theta[1, 2] += theta[1, 1] / height - theta[1, 1] / INPUT_SIZE
    theta = theta.to(x.dtype).unsqueeze(0).repeat(batch, 1, 1)
    grid = F.affine_grid(theta, [batch, channels, INPUT_SIZE, INPUT_SIZE], align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return (x - 128) / 128


def read_detector_state(path: Path) -> dict[str, torch.Tensor]:
    """FIDInception-keyed weights from a pytorch-fid ``.pth``, NVIDIA ``.pkl`` or TorchScript."""
    from i2i_cli.weights.loading import load_checkpoint

    path = Path(path)
    if not path.is_file():
        raise DetectorFileError(f"detector weights {path} do not exist")
    if is_torchscript(path):
        state = read_torchscript_state(path)
    elif path.suffix == ".pkl" and not zipfile.is_zipfile(path):
        state = read_detector_pickle(path)
    else:
        loaded = load_checkpoint(path)
        if not isinstance(loaded, Mapping):
            raise DetectorFileError(f"{path} holds {type(loaded).__name__}, not a state dict")
        state = dict(loaded)
    if "layers.conv.weight" in state:
        try:
            state = from_nvidia(state)
        except KeyError as error:
            raise DetectorFileError(f"{path} is not an Inception detector: {error}") from None
    return state


def build_network(state: Mapping[str, torch.Tensor]) -> FIDInception:
    """FIDInception with ``state`` loaded strictly (a state without the classifier is allowed)."""
    network = FIDInception()
    expected = set(network.state_dict())
    given = set(state)
    optional = {"fc.weight", "fc.bias"} | {k for k in expected if k.endswith("num_batches_tracked")}
    missing = sorted(expected - given - optional)
    unexpected = sorted(given - expected)
    if missing or unexpected:
        raise DetectorFileError(
            "the detector weights do not fit the FID Inception graph: "
            f"{len(missing)} missing (first: {', '.join(missing[:3]) or '-'}), "
            f"{len(unexpected)} unexpected (first: {', '.join(unexpected[:3]) or '-'})"
        )
    try:
        network.load_state_dict(dict(state), strict=False)
    except RuntimeError as error:
        first = str(error).strip().splitlines()
        raise DetectorFileError(f"the detector weights have wrong shapes: {first[-1]}") from None
    return network.eval().requires_grad_(False)


@dataclass
class Detector:
    """An Inception network on a device with its backend's input preparation."""

    backend: Backend
    transform: Transform
    network: FIDInception
    device: torch.device

    @property
    def dim(self) -> int:
        """Feature size (2048)."""
        return FEATURE_DIM

    def prepare(self, pixels: torch.Tensor) -> torch.Tensor:
        """The network input of a uint8 (N, 3, H, W) batch, as the backend's reference makes it."""
        if self.backend == "nvidia":
            return nvidia_input(pixels)
        return pytorch_fid_input(pixels, imagenet_normalise=self.transform == "egsde-celebahq")

    @torch.inference_mode()
    def features(self, pixels: torch.Tensor) -> torch.Tensor:
        """Pool3 features (N, 2048) float32 of a uint8 batch, on the CPU."""
        x = self.prepare(pixels.to(self.device))
        return self.network(x).float().cpu()

    def describe(self) -> str:
        """How images reach the network, for the result record."""
        extra = TRANSFORM_DESCRIPTION[self.transform]
        text = RESIZE_DESCRIPTION[self.backend]
        return f"{extra}; then {text}" if extra else text


def load_detector(
    backend: Backend, weights: Path, device: torch.device, transform: Transform = "none"
) -> Detector:
    """The detector of ``backend`` with the weights in ``weights`` on ``device``."""
    if backend not in BACKENDS:
        raise DetectorFileError(f"unknown backend {backend!r} (one of {', '.join(BACKENDS)})")
    network = build_network(read_detector_state(weights)).to(device)
    return Detector(backend=backend, transform=transform, network=network, device=device)
