"""Checkpoints: the manifests of downloadable artifacts, the cache, downloads and safe loading.

One module a job:

    manifest     the artifact schema (Source, Artifact), reading one manifest, PackageManifest
    discovery    every manifest: entry-point group ``i2i.checkpoints``, then ``$I2I_MANIFESTS``
    cache        the cache root, the hash record beside each file, status and check results
    downloads    HTTP (resumed) and Google Drive transfers of one source into a partial file
    store        CheckpointStore: select, require, verify, download and adopt artifacts
    loading      load_checkpoint: torch files with weights_only=True, optional safetensors
    file_kind    what a file that did not load is: not a checkpoint, truncated, or well formed
    archives     one zip member copied out to a temporary file, its declared size checked first
    safe_pickle  restricted_load: unpickle building only what an allow-list names (EDM pickles)
    index        the repository's top-level checkpoints.toml, rendered from the shipped manifests

The names most callers need are importable from here as well. Neither torch nor gdown is
imported at module level: ``i2i --help`` stays light.
"""

from __future__ import annotations

from i2i_cli.checkpoints.loading import load_checkpoint
from i2i_cli.checkpoints.manifest import core_manifest
from i2i_cli.checkpoints.store import CheckpointStore, MissingCheckpointError

__all__ = ["CheckpointStore", "MissingCheckpointError", "core_manifest", "load_checkpoint"]
