"""Weights files: loading them safely, telling what a file that did not load is, comparing state
dicts, and the weights shipped inside packages.

One module a job:

    loading      load_checkpoint: torch files with weights_only=True, optional safetensors
    safe_pickle  restricted_load: unpickle building only what an allow-list names (EDM pickles)
    file_kind    what a file that did not load is: not a checkpoint, truncated, or well formed
    arrays       .npz files of plain arrays (never pickled objects)
    state_dicts  a state dict against the one a network expects: missing, unexpected, reshaped
    bundled      ``package:<package>/<file>``: weights shipped in an installed package

It may import only ``i2i_cli.base.errors``, ``i2i_cli.base.paths`` and ``i2i_cli.api.settings``: the
backbone loader (``i2i_cli.networks.backbones``) sits above it, and the artifact store
(``i2i_cli.checkpoints``) above that. Neither torch nor safetensors is imported at module level.
"""
