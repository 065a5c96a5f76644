"""EDM network pickles (``edm-*.pkl``) read without running the code they carry (dg.md §7).

An EDM snapshot is ``pickle.dump(dict(ema=..., loss_fn=..., augment_pipe=..., dataset_kwargs=...))``
whose networks are ``torch_utils.persistence`` objects: each one pickles as a call of
``torch_utils.persistence._reconstruct_persistent_obj(meta)`` with ``meta = {type: 'class',
version: 6, module_src: <the defining module's source>, class_name, state}``. EDM's own loader
``exec``s ``module_src``; this one never does. The core's restricted unpickler
(``i2i_cli.weights.safe_pickle.restricted_load``) maps that reconstructor to
``rebuild_persistent``, which keeps only the class name and the instance state, and torch's
plain containers (``ModuleDict`` ...) to stand-ins that keep their state; anything else a pickle
asks for is refused before it runs. The network (``ema``) is then walked into the flat state
dict ``EDMPrecond.state_dict()`` would give (``model.enc.32x32_conv.weight`` ...).

Any other weights file (a ``.pt``/``.pth`` state dict, ``.safetensors``) goes through the core's
safe ``load_checkpoint``.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from i2i_cli.api.plugin import DescribedWeights
from i2i_cli.base.errors import I2IError
from i2i_cli.weights.safe_pickle import (
    LEGACY_TORCH_MAGIC,
    ZIP_MAGIC,
    Refusal,
    StandIn,
    numpy_scalar_globals,
    restricted_load,
    stand_in,
)

if TYPE_CHECKING:
    import torch

PERSISTENCE_RECONSTRUCTOR = "torch_utils.persistence._reconstruct_persistent_obj"
"""The global every ``@persistent_class`` object pickles through (dg.md §7)."""

PERSISTENCE_VERSION = 6
"""The only ``meta['version']`` EDM's ``torch_utils.persistence`` writes and reads."""

TORCH_CONTAINERS = (
    "torch.nn.modules.container.ModuleDict",
    "torch.nn.modules.container.ModuleList",
    "torch.nn.modules.container.Sequential",
)
"""Plain torch modules an EDM network holds (``enc``/``dec`` are ModuleDicts): kept as stand-ins."""

NETWORK_ENTRY = "ema"
"""The snapshot entry holding the network EDM's ``generate.py`` and DG sample with."""

PICKLE_PROTOCOL_2_OR_LATER = b"\x80"
LEGACY_TORCH_HEAD = pickle.dumps(LEGACY_TORCH_MAGIC, protocol=2)[2:-1]
"""How a legacy (non-zip) ``torch.save`` file goes on after its protocol opcode."""

SAFETENSORS_SUFFIX = ".safetensors"


@dataclass(frozen=True)
class PersistentRecord:
    """One ``@persistent_class`` object of an EDM pickle: its class name and instance state.

    ``state`` is the instance ``__dict__`` as pickled (for a torch module: ``_parameters``,
    ``_buffers``, ``_modules``, plain attributes, and ``_init_args``/``_init_kwargs``); the
    module source the pickle carried is dropped unread.
    """

    class_name: str
    state: dict[str, Any]


@dataclass(frozen=True)
class EdmNetwork:
    """The network of an EDM pickle: its class, constructor arguments and weights (dg.md §7)."""

    class_name: str
    init_kwargs: dict[str, Any]
    state_dict: dict[str, torch.Tensor]


def rebuild_persistent(meta: Any) -> PersistentRecord:
    """What ``_reconstruct_persistent_obj(meta)`` stands for, without ``exec`` (dg.md §7).

    Only ``type == 'class'``, ``version == 6`` records with a class name and a dict state are
    taken; ``module_src`` is never looked at. Anything else -> ``Refusal`` (the load stops).
    """
    if not isinstance(meta, dict):
        raise Refusal(f"a persistence record that is a {type(meta).__name__}, not a dict")
    if meta.get("type") != "class" or meta.get("version") != PERSISTENCE_VERSION:
        raise Refusal(
            f"a persistence record of type {meta.get('type')!r} version {meta.get('version')!r} "
            f"(only type 'class' version {PERSISTENCE_VERSION} is read)"
        )
    class_name, state = meta.get("class_name"), meta.get("state")
    if not isinstance(class_name, str) or not isinstance(state, dict):
        raise Refusal("a persistence record without a class name and a dict state")
    return PersistentRecord(class_name, state)


def edm_allow_list() -> dict[str, Any]:
    """The globals an EDM pickle may ask for beyond tensors' (dg.md §7 and edm_pickle_layout).

    The persistence reconstructor -> ``rebuild_persistent``; numpy scalars and dtypes; torch's
    plain containers -> stand-ins. ``restricted_load`` adds what tensors need.
    """
    allowed: dict[str, Any] = {PERSISTENCE_RECONSTRUCTOR: rebuild_persistent}
    allowed.update(numpy_scalar_globals())
    allowed.update({name: stand_in(name) for name in TORCH_CONTAINERS})
    return allowed


def is_network_pickle(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a plain pickle (EDM's format), not a torch archive or safetensors.

    A ``torch.save`` zip archive, a legacy ``torch.save`` stream, a ``.safetensors`` file and
    pickles older than protocol 2 are not: those go to the core's ``load_checkpoint``.
    """
    path = Path(path)
    if path.suffix == SAFETENSORS_SUFFIX or not path.is_file():
        return False
    with path.open("rb") as stream:
        head = stream.read(2 + len(LEGACY_TORCH_HEAD))
    if head.startswith(ZIP_MAGIC) or not head.startswith(PICKLE_PROTOCOL_2_OR_LATER):
        return False
    return head[2:] != LEGACY_TORCH_HEAD


def read_edm_network(path: str | os.PathLike[str]) -> EdmNetwork:
    """The ``ema`` network of the EDM pickle ``path``, its code never run (dg.md §7).

    A pickle asking for anything outside ``edm_allow_list`` -> ``UnsafePickleError``; one that
    holds no persistent network -> ``I2IError``; both one line naming the file.
    """
    path = Path(path)
    snapshot = restricted_load(path, edm_allow_list())
    network = network_record(snapshot, str(path))
    return EdmNetwork(
        class_name=network.class_name,
        init_kwargs=recorded_init_kwargs(network, str(path)),
        state_dict=module_state_dict(network, str(path)),
    )


def read_edm_weights(path: str | os.PathLike[str]) -> DescribedWeights | dict[str, torch.Tensor]:
    """The ``edm`` backbone's ``read_weights``: an EDM pickle's network, or a checkpoint's tensors.

    An EDM network pickle gives its ``ema`` network's state dict with EDM's key names and the
    settings its persistence record names (class and constructor arguments, dg.md §2.4, §7), so
    the file decides what is built; any other file (a ``.pt``/``.pth`` state dict,
    ``.safetensors``) is read by the core's safe ``load_checkpoint`` and records nothing.
    """
    from i2i_cli.checkpoints import load_checkpoint
    from i2i_cli.networks.backbones import state_dict_from

    if not is_network_pickle(path):
        return state_dict_from(load_checkpoint(path), f"checkpoint {path}")
    from i2i_edm.settings import EdmSettings, network_name

    network = read_edm_network(path)
    recorded = {"class_name": network.class_name, "init_kwargs": network.init_kwargs}
    settings = edm_settings_fields(recorded)
    name = network_name(EdmSettings.model_validate(settings))
    return DescribedWeights(settings, name, network.state_dict)


def edm_init_kwargs(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The constructor call an EDM pickle recorded: ``{'class_name', 'init_kwargs'}`` (dg.md §7).

    ``class_name`` is the wrapper's (``VPPrecond``, ``VEPrecond``, ``EDMPrecond``) and
    ``init_kwargs`` its ``_init_kwargs`` (img_resolution, label_dim, model_type, model_channels,
    ...), so a method can check the file against the preset it configured. A file that is not an
    EDM network pickle -> ``I2IError``.
    """
    if not is_network_pickle(path):
        raise I2IError(
            f"{path} is not an EDM network pickle: only those record their constructor arguments"
        )
    network = read_edm_network(path)
    return {"class_name": network.class_name, "init_kwargs": network.init_kwargs}


def edm_settings_fields(recorded: Mapping[str, Any]) -> dict[str, Any]:
    """The ``edm`` backbone's settings fields for a recorded constructor call (dg.md §2.4, §7).

    ``recorded`` is what ``edm_init_kwargs`` returns; the result (``precond`` plus the given
    arguments) validates as ``i2i_edm.settings.EdmSettings`` and can be passed as a backbone's
    ``overrides``. A class or argument the backbone does not know -> ``I2IError``, one line.
    """
    from i2i_edm.settings import settings_from_edm

    class_name = str(recorded.get("class_name"))
    try:
        settings = settings_from_edm(class_name, recorded.get("init_kwargs") or {})
    except ValueError as error:
        reason = str(error).strip().splitlines()
        raise I2IError(
            f"the recorded {class_name} does not map onto the edm backbone's settings: "
            + " ".join(line.strip() for line in reason[:3])
        ) from None
    return settings.model_dump(exclude_unset=True)


def settings_mismatches(settings: Any, recorded: Mapping[str, Any]) -> list[str]:
    """The fields where ``settings`` (an ``EdmSettings``) differ from what a pickle recorded.

    Only fields both sides give are compared (a setting left at ``None`` takes the network's
    default, which the file may not spell out); each entry reads ``name: file X, settings Y``.
    """
    fields = edm_settings_fields(recorded)
    problems = []
    for name, value in fields.items():
        mine = getattr(settings, name, None)
        if mine is not None and mine != value:
            problems.append(f"{name}: file {value!r}, settings {mine!r}")
    return problems


def network_record(snapshot: Any, origin: str) -> PersistentRecord:
    """The network of an unpickled snapshot: its ``ema`` entry, or the snapshot itself."""
    if isinstance(snapshot, PersistentRecord):
        return snapshot
    if not isinstance(snapshot, Mapping):
        raise I2IError(f"{origin} holds a {type(snapshot).__name__}, not an EDM snapshot dict")
    network = snapshot.get(NETWORK_ENTRY)
    if not isinstance(network, PersistentRecord):
        entries = ", ".join(map(str, snapshot)) or "none"
        raise I2IError(
            f"{origin} has no persistent {NETWORK_ENTRY!r} network (entries: {entries}); "
            "is it an EDM network snapshot?"
        )
    return network


def recorded_init_kwargs(record: PersistentRecord, origin: str) -> dict[str, Any]:
    """The ``_init_kwargs`` a persistent object kept of its constructor call (a plain dict)."""
    kwargs = record.state.get("_init_kwargs", {})
    if not isinstance(kwargs, Mapping):
        raise I2IError(f"{origin}: the {record.class_name} record's _init_kwargs is not a dict")
    return dict(kwargs)


def module_state_dict(root: PersistentRecord | StandIn, origin: str) -> dict[str, torch.Tensor]:
    """The flat state dict of a rebuilt module tree, as ``nn.Module.state_dict()`` names it.

    Depth first: each module's ``_parameters``, then ``_buffers`` (``None`` entries and names in
    ``_non_persistent_buffers_set`` skipped), then ``_modules`` recursively, names joined with
    '.' (dg.md §7). Tensors are detached; a non-tensor weight or a child that is not a rebuilt
    module -> ``I2IError``.
    """
    gathered: dict[str, torch.Tensor] = {}
    _gather(root, "", gathered, origin)
    return gathered


def _gather(
    node: PersistentRecord | StandIn, prefix: str, into: dict[str, torch.Tensor], origin: str
) -> None:
    """Add ``node``'s tensors and its children's, under ``prefix``, to ``into``."""
    import torch

    state = _module_state(node, prefix, origin)
    skipped = state.get("_non_persistent_buffers_set") or ()
    tensors = [
        *_entries(state, "_parameters", origin),
        *_entries(state, "_buffers", origin, skip=skipped),
    ]
    for name, value in tensors:
        if not torch.is_tensor(value):
            raise I2IError(f"{origin}: {prefix}{name} is a {type(value).__name__}, not a tensor")
        into[prefix + name] = value.detach()
    for name, child in _entries(state, "_modules", origin):
        if not isinstance(child, (PersistentRecord, StandIn)):
            raise I2IError(
                f"{origin}: the module {prefix}{name} is a {type(child).__name__}, "
                "not a torch module the EDM reader knows"
            )
        _gather(child, f"{prefix}{name}.", into, origin)


def _module_state(node: PersistentRecord | StandIn, prefix: str, origin: str) -> Mapping[str, Any]:
    """The pickled ``__dict__`` of a rebuilt module."""
    state = node.state
    if not isinstance(state, Mapping):
        where = prefix.rstrip(".") or "the network"
        raise I2IError(f"{origin}: {where} was pickled without a module state dict")
    return state


def _entries(
    state: Mapping[str, Any], field: str, origin: str, skip: Any = ()
) -> list[tuple[str, Any]]:
    """The non-``None`` ``(name, value)`` pairs of ``state[field]``, minus the names in ``skip``."""
    entries = state.get(field) or {}
    if not isinstance(entries, Mapping):
        raise I2IError(f"{origin}: a module's {field} is a {type(entries).__name__}, not a dict")
    return [(str(k), v) for k, v in entries.items() if v is not None and k not in skip]
