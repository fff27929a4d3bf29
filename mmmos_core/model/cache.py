"""Embedding cache keyed by the audio's content hash and the encoder's identity.

A repeated clip costs no encoder pass. In memory it is a small LRU; with a folder it
also persists to disk (training extracts embeddings once and reuses them).
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .features import EncodedWindows


class EmbeddingCache:
    def __init__(self, max_items: int = 128, folder: str | os.PathLike | None = None):
        self.max_items = max_items
        self.folder = Path(folder) if folder else None
        self._items: OrderedDict[tuple[str, str], "EncodedWindows"] = OrderedDict()
        # The app serves requests from several threads; LRU bookkeeping must not race.
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def _path(self, key: tuple[str, str]) -> Path:
        audio_hash, encoder_key = key
        return self.folder / encoder_key / audio_hash[:2] / f"{audio_hash}.pt"

    def get(self, key: tuple[str, str]) -> "EncodedWindows | None":
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return value
        if self.folder is not None:
            path = self._path(key)
            if path.exists():
                from .features import EncodedWindows
                try:
                    value = EncodedWindows(**torch.load(path, map_location="cpu", weights_only=True))
                except Exception:  # a torn or foreign file: recompute rather than fail
                    value = None
                if value is not None:
                    self.hits += 1
                    self._remember(key, value)
                    return value
        self.misses += 1
        return None

    def put(self, key: tuple[str, str], value: "EncodedWindows") -> None:
        self._remember(key, value)
        if self.folder is not None:
            path = self._path(key)
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves a half file under the final name.
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
            os.close(fd)
            torch.save(value.as_dict(), tmp)
            os.replace(tmp, path)

    def _remember(self, key, value) -> None:
        if self.max_items <= 0:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)
