"""EDM's preconditioners and networks: each one's table of constructor arguments (issue 28).

The defaults are EDM's (``training/networks.py`` at the lines cited), and the torch-free
settings (``i2i_edm.settings``) pass each preconditioner exactly the arguments its table holds.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from i2i_edm.arguments import arguments
from i2i_edm.block import EdmUNet
from i2i_edm.dhariwal_unet import DhariwalUNet
from i2i_edm.precond import EDMPrecond, Precond, VEPrecond, VPPrecond, iDDPMPrecond
from i2i_edm.settings import DEFAULT_MODEL_TYPE, PRECOND_CLASSES, PRECOND_FIELDS
from i2i_edm.song_unet import SongUNet

EDM_PRECOND_DEFAULTS: dict[type, dict[str, Any]] = {
    VPPrecond: {  # training/networks.py:475-479
        "beta_d": 19.9,
        "beta_min": 0.1,
        "M": 1000,
        "epsilon_t": 1e-5,
        "model_type": "SongUNet",
    },
    VEPrecond: {"sigma_min": 0.02, "sigma_max": 100, "model_type": "SongUNet"},  # :534-536
    iDDPMPrecond: {  # :578-581
        "C_1": 0.001,
        "C_2": 0.008,
        "M": 1000,
        "model_type": "DhariwalUNet",
    },
    EDMPrecond: {  # :638-641
        "sigma_min": 0,
        "sigma_max": math.inf,
        "sigma_data": 0.5,
        "model_type": "DhariwalUNet",
    },
}

EDM_NETWORK_DEFAULTS: dict[type, dict[str, Any]] = {
    SongUNet: {  # training/networks.py:237-249
        "model_channels": 128,
        "channel_mult": (1, 2, 2, 2),
        "channel_mult_emb": 4,
        "num_blocks": 4,
        "attn_resolutions": (16,),
        "dropout": 0.10,
        "label_dropout": 0,
        "embedding_type": "positional",
        "channel_mult_noise": 1,
        "encoder_type": "standard",
        "decoder_type": "standard",
        "resample_filter": (1, 1),
    },
    DhariwalUNet: {  # :380-386
        "model_channels": 192,
        "channel_mult": (1, 2, 3, 4),
        "channel_mult_emb": 4,
        "num_blocks": 3,
        "attn_resolutions": (32, 16, 8),
        "dropout": 0.10,
        "label_dropout": 0,
    },
}

TINY = {"img_resolution": 8, "in_channels": 3, "out_channels": 3, "model_channels": 8}


@pytest.mark.parametrize("cls", list(EDM_PRECOND_DEFAULTS), ids=lambda cls: cls.__name__)
def test_each_preconditioner_s_table_holds_edm_s_defaults(cls: type) -> None:
    assert arguments(cls, Precond) == EDM_PRECOND_DEFAULTS[cls]


@pytest.mark.parametrize("cls", list(EDM_NETWORK_DEFAULTS), ids=lambda cls: cls.__name__)
def test_each_network_s_table_holds_edm_s_defaults(cls: type) -> None:
    assert arguments(cls, EdmUNet) == EDM_NETWORK_DEFAULTS[cls]


@pytest.mark.parametrize("precond", list(PRECOND_CLASSES))
def test_the_settings_pass_each_preconditioner_the_arguments_of_its_table(precond: str) -> None:
    import i2i_edm.precond as module

    table = arguments(getattr(module, PRECOND_CLASSES[precond]), Precond)
    assert set(table) == {"model_type", *PRECOND_FIELDS[precond]}
    assert table["model_type"] == DEFAULT_MODEL_TYPE[precond]


def test_a_call_sets_the_arguments_it_gives_and_leaves_the_defaults() -> None:
    net = SongUNet(**TINY, channel_mult=[1], num_blocks=1, attn_resolutions=[])
    assert (net.model_channels, net.channel_mult, net.num_blocks) == (8, [1], 1)
    assert (net.dropout, net.embedding_type) == (0.10, "positional")
    assert SongUNet.model_channels == 128  # the class default is untouched


@pytest.mark.parametrize(
    ("cls", "argument"), [(SongUNet, "bogus"), (DhariwalUNet, "embedding_type")]
)
def test_an_argument_the_network_does_not_take_is_a_type_error(cls: type, argument: str) -> None:
    with pytest.raises(TypeError, match=f"{cls.__name__} got unexpected keyword arguments: "):
        cls(**TINY, **{argument: "positional"})
