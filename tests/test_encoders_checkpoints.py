"""Reading published checkpoints: the plain-read safetensors reader the MuQ loader uses."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file, save_file

from mmmos_core.encoders.checkpoints import SafetensorsReader


@pytest.fixture()
def mixed(tmp_path):
    g = torch.Generator().manual_seed(0)
    tensors = {
        "w32": torch.randn(7, 5, generator=g),
        "w16": torch.randn(3, 4, generator=g).half(),
        "wbf16": torch.randn(6, generator=g).bfloat16(),
        "steps": torch.tensor(12345, dtype=torch.int64),  # 0-dim, like BatchNorm's counter
        "empty": torch.zeros(0, 3),
        "flags": torch.tensor([True, False, True]),
    }
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path), metadata={"format": "pt"})
    return path, tensors


def test_reads_every_tensor_exactly_as_safetensors_does(mixed):
    path, _ = mixed
    reference = load_file(str(path))
    with SafetensorsReader(path) as f:
        assert f.keys() == set(reference)
        for key, value in reference.items():
            assert f.shape(key) == tuple(value.shape)
            out = torch.empty_like(value)
            f.read_into(key, out)
            assert torch.equal(out, value), key


def test_reads_straight_into_the_destination_and_converts_other_dtypes(mixed):
    path, tensors = mixed
    with SafetensorsReader(path) as f:
        dest = torch.zeros(7, 5)
        storage = dest.data_ptr()
        f.read_into("w32", dest)
        assert dest.data_ptr() == storage and torch.equal(dest, tensors["w32"])
        half_into_float = torch.zeros(3, 4)
        f.read_into("w16", half_into_float)
        assert torch.equal(half_into_float, tensors["w16"].float())


def test_a_truncated_file_is_reported(mixed):
    path, _ = mixed
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with SafetensorsReader(path) as f:
        with pytest.raises(ValueError, match="ends inside"):
            f.read_into("flags", torch.empty(3, dtype=torch.bool))


def test_a_file_that_is_not_safetensors_is_reported(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"\x05\x00\x00\x00\x00\x00\x00\x00hello")
    with pytest.raises(ValueError, match="not a safetensors file"):
        SafetensorsReader(path)
