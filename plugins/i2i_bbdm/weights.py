"""Reading bridge UNet weights: a state dict, or the reference's pickled network, without its code.

``i2i train bbdm`` exports a plain state dict (reference key names). The reference's own
``examples/train.py`` ends with ``torch.save(model, path)``: a pickle of the whole
``sde_bbdm.networks.UNet`` module tree (bbdm.md §3). That file is read with the core's restricted
unpickler: every class it names is an inert stand-in from the allow-list below (nothing is
imported or run on the file's behalf), and the state dict is collected from the pickled
``_parameters``, ``_buffers`` and ``_modules`` tables.

Such a file also records its network: the reference's ``UNet.__init__`` keeps most of its
constructor arguments as attributes (``sde_bbdm/networks/openai.py:474-485``), and the rest show
in its blocks (``ResBlock.use_scale_shift_norm``, a down-sampling ``ResBlock`` or a
``Downsample``, ``QKVAttention`` or ``QKVAttentionLegacy``). ``read_bridge_weights`` returns them
as ``DescribedWeights``: the file decides what is built, the preset and ``--set model.*`` only
cross-check it. A state dict records nothing (``i2i train bbdm`` writes ``backbone.toml`` beside
its ``model.pt`` instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from i2i_cli.api.plugin import DescribedWeights
from i2i_cli.base.errors import I2IError
from i2i_cli.weights.loading import SAFETENSORS_SUFFIX, load_checkpoint
from i2i_cli.weights.safe_pickle import StandIn, restricted_load, stand_in

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

REFERENCE_UNET = "sde_bbdm.networks.openai.UNet"
DATA_PARALLEL = "torch.nn.parallel.data_parallel.DataParallel"

RECORDED_ARGUMENTS = (
    "in_channels",
    "model_channels",
    "out_channels",
    "num_res_blocks",
    "attention_resolutions",
    "dropout",
    "channel_mult",
    "conv_resample",
    "num_heads",
    "num_head_channels",
    "num_heads_upsample",
)
"""Constructor arguments ``UNet.__init__`` keeps as attributes under their own names
(``sde_bbdm/networks/openai.py:474-485``; ``num_classes`` too, which bbdm-unet does not take)."""


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


def read_bridge_weights(path: Path) -> DescribedWeights | dict[str, torch.Tensor]:
    """The weights in ``path``: a state dict (torch or safetensors), or a pickled ``UNet``
    with the bbdm-unet settings it records.

    Both torch kinds go through the restricted unpickler, which builds a plain state dict as
    ``torch.load(weights_only=True)`` would and the reference's module tree as stand-ins.
    """
    if path.suffix == SAFETENSORS_SUFFIX:
        return load_checkpoint(path)
    loaded = restricted_load(path, reference_allow_list())
    if isinstance(loaded, dict):
        return loaded
    origin = f"checkpoint {path}"
    state_dict = pickled_state_dict(loaded, origin)
    unet = unwrapped(loaded)
    if (
        pickled_name(unet) != REFERENCE_UNET
        or not set(RECORDED_ARGUMENTS) <= attributes(unet).keys()
    ):
        return state_dict  # not the reference's UNet as its constructor leaves it: no record
    settings = recorded_settings(unet, origin)
    return DescribedWeights(settings, described_as(settings, origin), state_dict)


def pickled_name(module: Any) -> str:
    """The class a pickled module was saved as (``sde_bbdm.networks.openai.UNet``)."""
    return module.pickled_as if isinstance(module, StandIn) else type(module).__name__


def attributes(module: Any) -> dict[str, Any]:
    """A pickled module's instance attributes (its ``__dict__``); {} if it pickled none."""
    state = module.state if isinstance(module, StandIn) else None
    return state if isinstance(state, dict) else {}


def submodule(module: Any, *names: str) -> Any:
    """The pickled submodule at ``names`` (``submodule(unet, "middle_block", "0")``), or None."""
    for name in names:
        module = (attributes(module).get("_modules") or {}).get(name)
    return module


def unwrapped(root: Any) -> Any:
    """The network inside a pickled ``DataParallel``, or ``root`` itself."""
    return submodule(root, "module") if pickled_name(root) == DATA_PARALLEL else root


def recorded_settings(unet: Any, origin: str) -> dict[str, Any]:
    """The bbdm-unet settings a pickled reference ``UNet`` amounts to (bbdm.md §7).

    The constructor's attributes as they are, except ``num_heads_upsample``, which the
    constructor replaces by ``num_heads`` when given -1 (``openai.py:465-466``) and is given
    back as -1 then, as the settings spell "the same as num_heads"; ``use_scale_shift_norm``
    from the middle block's first ``ResBlock`` (``openai.py:199``), ``resblock_updown`` from the
    first down-sampling block, a ``ResBlock`` whose ``updown`` is set (``openai.py:207``) or a
    ``Downsample`` (none with a single level), ``use_new_attention_order`` from the middle
    attention's q/k/v split. A class-conditional UNet (``num_classes`` set) is one ``I2IError``
    line.
    """
    recorded = attributes(unet)
    if recorded.get("num_classes") is not None:
        raise I2IError(
            f"{origin} holds a class-conditional UNet (num_classes = {recorded['num_classes']}), "
            "which bbdm-unet does not build"
        )
    settings = {name: plain(recorded[name]) for name in RECORDED_ARGUMENTS if name in recorded}
    if settings.get("num_heads_upsample") == settings.get("num_heads", -1):
        settings["num_heads_upsample"] = -1
    middle = attributes(submodule(unet, "middle_block", "0"))
    if "use_scale_shift_norm" in middle:
        settings["use_scale_shift_norm"] = bool(middle["use_scale_shift_norm"])
    updown = resamples_with_res_blocks(unet)
    if updown is not None:
        settings["resblock_updown"] = updown
    attention = pickled_name(submodule(unet, "middle_block", "1", "attention"))
    if attention.startswith("sde_bbdm."):
        settings["use_new_attention_order"] = not attention.endswith(".QKVAttentionLegacy")
    return settings


def resamples_with_res_blocks(unet: Any) -> bool | None:
    """Whether the first down-sampling block of the encoder is a ``ResBlock`` (None: none)."""
    blocks = attributes(submodule(unet, "input_blocks")).get("_modules") or {}
    for block in blocks.values():
        layers = list((attributes(block).get("_modules") or {}).values())
        if len(layers) != 1:
            continue
        name = pickled_name(layers[0])
        if name.endswith(".Downsample"):
            return False
        if name.endswith(".ResBlock") and attributes(layers[0]).get("updown"):
            return True
    return None


def plain(value: Any) -> Any:
    """A recorded argument as settings hold it: sequences (also sets) as lists."""
    if isinstance(value, (set, frozenset)):
        return sorted(value, reverse=True)
    if isinstance(value, (list, tuple)):
        return list(value)
    return value


def described_as(settings: dict[str, Any], origin: str) -> str:
    """The recorded network for messages (``UNet(3->3, 128 x [1, 4, 8], 2 blocks)``).

    Settings bbdm-unet cannot take (a width GroupNorm cannot split, an attribute of another
    type) are one ``I2IError`` line naming the file.
    """
    from pydantic import ValidationError

    from i2i_bbdm.settings import BridgeUNetSettings, network_name

    try:
        return network_name(BridgeUNetSettings.model_validate(settings))
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'model'}: {e['msg']}" for e in error.errors()
        )
        raise I2IError(f"{origin} records a UNet bbdm-unet cannot build ({problems})") from None
