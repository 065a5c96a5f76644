"""Checkpoints: the manifests of downloadable artifacts, the cache, downloads and checks.

One module a job:

    manifest     the artifact schema (Source, Artifact), reading one manifest, PackageManifest
    discovery    every manifest: entry-point group ``i2i.checkpoints``, then ``$I2I_MANIFESTS``
    cache        the cache root, the hash record beside each file, status and check results
    downloads    HTTP (resumed) and Google Drive transfers of one source into a partial file
    store        CheckpointStore: select, require, verify, download and adopt artifacts
    cache_files  the store's file steps: a folder per artifact, hashed copies, named files
    structure    what a file must hold to be an artifact: its network's tensors, arrays
    archives     one zip member copied out to a temporary file, its declared size checked first
    index        the repository's top-level checkpoints.toml, rendered from the shipped manifests

Reading a weights file is ``i2i_cli.weights``'s job (below this package and the backbone
loader, which this package uses to check an artifact's network). The names most callers need
are importable from here as well. Neither torch nor gdown is imported at module level:
``i2i --help`` stays light.
"""

from __future__ import annotations

from i2i_cli.checkpoints.manifest import core_manifest
from i2i_cli.checkpoints.store import CheckpointStore, MissingCheckpointError
from i2i_cli.weights.loading import load_checkpoint

__all__ = ["CheckpointStore", "MissingCheckpointError", "core_manifest", "load_checkpoint"]
