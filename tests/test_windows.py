import numpy as np
import pytest
import torch

from mmmos_core.model.pooling import bin_frames, masked_mean
from mmmos_core.model.windows import cut_windows, window_spans


def test_spans_cover_long_audio_with_a_short_last_window():
    assert window_spans(25.0) == [(0.0, 10.0), (10.0, 20.0), (20.0, 25.0)]
    assert window_spans(20.0) == [(0.0, 10.0), (10.0, 20.0)]
    assert window_spans(3.0) == [(0.0, 3.0)]


def test_last_window_is_zero_padded_and_its_length_known():
    sr = 100
    x = np.arange(1, 2501, dtype=np.float32)
    w = cut_windows(x, sr, window_spans(25.0))
    assert w.samples.shape == (3, 1000)
    assert w.lengths.tolist() == [1000, 1000, 500]
    assert torch.all(w.samples[2, 500:] == 0) and w.samples[2, 499] == 2500
    assert w.weights.tolist() == pytest.approx([10.0, 10.0, 5.0])


def test_masked_mean_ignores_padding():
    frames = torch.randn(2, 3, 6, 4)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1] * 6], dtype=torch.bool)
    garbage = frames.clone()
    garbage[0, :, 3:] = 1e6
    torch.testing.assert_close(masked_mean(frames, mask), masked_mean(garbage, mask))
    torch.testing.assert_close(masked_mean(frames, mask)[0], frames[0, :, :3].mean(dim=1))


def test_bins_line_up_encoders_of_different_frame_rates():
    # 50 Hz and 6.25 Hz frames carrying their own timestamps land in the same 0.32 s bins.
    t50 = (torch.arange(500) + 0.5) / 50
    t6 = (torch.arange(63) + 0.5) / 6.25
    f50 = t50[None, None, :, None]
    f6 = t6[None, None, :, None]
    b50, m50 = bin_frames(f50, torch.ones(1, 500, dtype=torch.bool), 50, 0.32, 32)
    b6, m6 = bin_frames(f6, torch.ones(1, 63, dtype=torch.bool), 6.25, 0.32, 32)
    assert m50.all() and m6.all()
    torch.testing.assert_close(b50[0, 0, :31, 0], b6[0, 0, :31, 0], atol=0.1, rtol=0)
