"""Presenter tools: presenter mode (controls hidden, large type), dark/light, one-click PNG/SVG of
a chart, and click-to-play on the timeline. All in the browser: nothing here touches the model."""

from __future__ import annotations

import gradio as gr

# Buttons carry what they act on, so one delegated listener serves every tab's toolbar.
_BUTTON = "<button class='mmmos-tool' data-{kind}='{arg}' {extra}>{label}</button>"

SCRIPT = """
element.addEventListener('click', (ev) => {
  const b = ev.target.closest('button.mmmos-tool'); if (!b) return;
  if (b.dataset.mode === 'presenter') {
    document.body.classList.toggle('mmmos-presenter');
    setTimeout(() => window.dispatchEvent(new Event('resize')), 50);  // charts take the freed width
  }
  if (b.dataset.mode === 'theme') { document.body.classList.toggle('dark'); }
  if (b.dataset.export) {
    const gd = document.querySelector(b.dataset.export + ' .js-plotly-plot');
    if (gd && window.Plotly) {
      window.Plotly.downloadImage(gd, {format: b.dataset.format, filename: b.dataset.name,
                                       width: Math.max(gd.clientWidth, 700), height: gd.clientHeight});
    }
  }
});
// Timeline: clicking a window plays the clip from that window's start.
if (!window.__mmmosTimeline) {
  window.__mmmosTimeline = true;
  const attach = () => {
    const gd = document.querySelector('#timeline .js-plotly-plot');
    if (!gd || gd.__mmmosClick || typeof gd.on !== 'function') return;
    gd.__mmmosClick = true;
    gd.on('plotly_click', (e) => {
      const audio = document.querySelector('#clip-input audio');
      if (!audio || !e.points.length) return;
      audio.currentTime = e.points[0].customdata[0];
      audio.play();
    });
  };
  new MutationObserver(attach).observe(document.body, {childList: true, subtree: true});
}
"""


def toolbar(exports: list[tuple[str, str, str]], elem_id: str) -> gr.HTML:
    """A row of tools; ``exports``: (label, chart elem id, file name) for each exportable chart."""
    buttons = [_BUTTON.format(kind="mode", arg="presenter", extra="", label="Presenter mode"),
               _BUTTON.format(kind="mode", arg="theme", extra="", label="Dark / light")]
    for label, target, name in exports:
        for fmt in ("png", "svg"):
            buttons.append(_BUTTON.format(kind="export", arg=f"#{target}",
                                          extra=f"data-format='{fmt}' data-name='{name}'",
                                          label=f"{label} {fmt.upper()}"))
    return gr.HTML(f"<div class='mmmos-toolbar'>{''.join(buttons)}</div>", js_on_load=SCRIPT, elem_id=elem_id,
                   container=False)


CSS = """
.mmmos-toolbar {display:flex;flex-wrap:wrap;gap:6px;margin:4px 0}
.mmmos-tool {border:1px solid #c8ced8;border-radius:6px;padding:3px 10px;font-size:0.85em;background:transparent;
  color:inherit;cursor:pointer}
.mmmos-tool:hover {background:rgba(46,134,222,0.1)}
body.mmmos-presenter .mmmos-controls, body.mmmos-presenter #members-acc, body.mmmos-presenter .mmmos-model,
body.mmmos-presenter .mmmos-banner, body.mmmos-presenter #record-json {display:none !important}
body.mmmos-presenter .gradio-container {font-size:1.25em}
body.mmmos-presenter .mmmos-clip, body.mmmos-presenter .mmmos-agree, body.mmmos-presenter .mmmos-badge,
body.mmmos-presenter .mmmos-worst, body.mmmos-presenter .mmmos-ab-sentences {font-size:1.3em}
"""
