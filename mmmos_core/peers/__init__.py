"""Peers: other published models scored beside MMMOS, never inside its ensemble.

One module per peer; this registry maps the names `--reference` accepts to loaders with
one signature, ``loader(path, device)``, each returning an object with ``.name`` and
``.score(audios) -> list`` of results that have ``to_record()``.
"""

from __future__ import annotations

import os
from typing import Callable

from mmmos_core.errors import ModelLoadError


def _audiobox(path, device):
    from .audiobox import load_reference

    return load_reference("audiobox", path, device)


def _dnsmos(path, device):
    from .dnsmos import load_dnsmos

    return load_dnsmos(path, device)


def require_package(module: str, what: str, hint: str):
    """Import an optional peer package; `ModelLoadError` saying what needs it and how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ModelLoadError(f"{what} ({exc}). Install with: {hint}") from None


PEERS: dict[str, Callable] = {"audiobox": _audiobox, "dnsmos": _dnsmos}


def load_peer(name: str, path: str | os.PathLike | None = None, device=None):
    """Load the peer ``name`` (``audiobox`` or ``dnsmos``); `ModelLoadError` says what is missing."""
    if name not in PEERS:
        raise ModelLoadError(f"unknown reference model {name!r}; known: {', '.join(PEERS)}")
    return PEERS[name](path, device)
