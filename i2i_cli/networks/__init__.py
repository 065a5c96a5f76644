"""Backbones: building a registered network from its settings and loading its weights
strictly (``backbones``), with the file's own record of its network deciding what is built.

It may import ``i2i_cli.weights``, ``i2i_cli.diffusion``, ``i2i_cli.api`` and ``i2i_cli.base``;
the artifact store (``i2i_cli.checkpoints``) sits above it and uses it to check an artifact.
"""
