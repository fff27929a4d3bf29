"""The Predict tab's summary above the radar (mmmos_app/predict_tab.py)."""

from __future__ import annotations

from dataclasses import asdict

from mmmos_core import load_model
from mmmos_core.views.context import context_strip


def test_the_context_strip_says_what_the_clip_is_placed_among(clips):
    from mmmos_app.common import api_record
    from mmmos_app.predict_tab import summary_html

    model = load_model("lite")
    placed_among = model.context_records()
    record = api_record(model.predict(str(clips[0])).to_record())
    record["context_held_out"] = [asdict(c) for c in context_strip(record, placed_among)]
    html = summary_html(record)
    # The lite model ships validation recordings: never trained on, but not the card's held-out
    # sources, so the strip must not borrow the card's word for them.
    assert f"of {len(placed_among)} unseen recordings" in html and "never trained on" in html
    assert "held-out" not in html
