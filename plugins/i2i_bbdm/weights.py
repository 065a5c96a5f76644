"""Reading bridge UNet weights: a state dict, or the reference's pickled network, without its code.

``i2i train bbdm`` exports a plain state dict (reference key names). The reference's own
``examples/train.py`` ends with ``torch.save(model, path)``: a pickle of the whole
``sde_bbdm.networks.UNet`` module tree (bbdm.md §3). That file is read with the core's restricted
unpickler: every class it names is an inert stand-in from the allow-list below (nothing is
imported or run on the file's behalf), and the state dict is collected from the pickled
``_parameters``, ``_buffers`` and ``_modules`` tables.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from i2i_cli.checkpoints.loading import SAFETENSORS_SUFFIX, load_checkpoint
from i2i_cli.checkpoints.safe_pickle import StandIn, restricted_load, stand_in
from i2i_cli.errors import I2IError

REFERENCE_CLASSES = (
    "sde_bbdm.networks.openai.UNet",
    "sde_bbdm.networks.openai.TimestepEmbedSequential",
    "sde_bbdm.networks.openai.ResBlock",
    "sde_bbdm.networks.openai.AttentionBlock",
    "sde_bbdm.networks.openai.QKVAttentionLegacy",
    "sde_bbdm.networks.openai.QKVAttention",
    "sde_bbdm.networks.openai.Upsample",
    "sde_bbdm.networks.openai.Downsample",
    "sde_bbdm.networks.utils.GroupNorm32",
    "torch.nn.modules.container.Sequential",
    "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.conv.Conv1d",
    "torch.nn.modules.conv.Conv2d",
    "torch.nn.modules.linear.Linear",
    "torch.nn.modules.linear.Identity",
    "torch.nn.modules.activation.SiLU",
    "torch.nn.modules.dropout.Dropout",
    "torch.nn.modules.pooling.AvgPool2d",
    "torch.nn.modules.normalization.GroupNorm",
    "torch.nn.parallel.data_parallel.DataParallel",
)
"""The classes a pickled reference UNet (optionally in DataParallel) is made of."""


def reference_allow_list() -> dict[str, Any]:
    """Stand-ins for the reference network's classes; devices become plain tuples."""
    allowed: dict[str, Any] = {name: stand_in(name) for name in REFERENCE_CLASSES}
    allowed["torch.device"] = lambda *args: args  # DataParallel's src_device_obj
    return allowed


def pickled_state_dict(root: Any, origin: str, prefix: str = "") -> dict[str, torch.Tensor]:
    """``module.state_dict()`` of a pickled module tree, read from its pickled tables."""
    if not isinstance(root, StandIn) or not isinstance(root.state, dict):
        raise I2IError(f"{origin} holds a {type(root).__name__}, not a pickled network")
    state = root.state
    skipped = set(state.get("_non_persistent_buffers_set") or ())
    tensors: dict[str, torch.Tensor] = {}
    for table in ("_parameters", "_buffers"):
        for name, value in (state.get(table) or {}).items():
            if isinstance(value, torch.Tensor) and name not in skipped:
                tensors[prefix + name] = value.detach()
    for name, child in (state.get("_modules") or {}).items():
        if child is not None:
            tensors.update(pickled_state_dict(child, origin, f"{prefix}{name}."))
    return tensors


def read_bridge_weights(path: Path) -> dict[str, torch.Tensor]:
    """The state dict in ``path``: a state dict (torch or safetensors) or a pickled ``UNet``.

    Both torch kinds go through the restricted unpickler, which builds a plain state dict as
    ``torch.load(weights_only=True)`` would and the reference's module tree as stand-ins.
    """
    if path.suffix == SAFETENSORS_SUFFIX:
        return load_checkpoint(path)
    loaded = restricted_load(path, reference_allow_list())
    if isinstance(loaded, dict):
        return loaded
    return pickled_state_dict(loaded, f"checkpoint {path}")
