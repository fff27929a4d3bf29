"""The About tab: the axes, the loaded model and its members, licences, the API."""

from __future__ import annotations

from mmmos_core import AXES, AXIS_DEFINITIONS, AXIS_NAMES, __version__
from mmmos_core.peers.audiobox import LICENSE as REFERENCE_LICENSE


class AboutTab:
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    def _about(self) -> str:
        lines = ["## The four axes", "", "| axis | name | what it measures |", "|---|---|---|"]
        lines += [f"| {a} | {AXIS_NAMES[a]} | {AXIS_DEFINITIONS[a]} |" for a in AXES]
        if self.model is not None:
            info = self.model.info()
            lines += ["", f"## Model `{info['name']}`", "", info.get("description") or ""]
            if info.get("note"):
                lines += ["", f"> {info['note']}"]
            if info.get("licenses"):
                lines += ["", "Licences: " + "; ".join(info["licenses"])]
            lines += ["", "| member | encoders | aggregator | loss |", "|---|---|---|---|"]
            lines += [f"| {m['name']} | {', '.join(m['encoders'])} | {m['aggregator']} | {m['loss']} |"
                      for m in info["members"]]
        else:
            lines += ["", f"**No model loaded:** {self.model_error}"]
        lines += ["", "## Reference model (optional)", "",
                  "Ticking *Also score with Meta's Audiobox Aesthetics* in Predict adds the scores of Meta's "
                  "published model (`facebook/audiobox-aesthetics`) beside the ensemble, for comparison only. "
                  "It needs `pip install -r requirements-audiobox.txt` and its `checkpoint.pt` "
                  "(`MMMOS_REFERENCE_PATH`, or see the README).", "", f"Licence: {REFERENCE_LICENSE}."]
        attribution = self.settings.examples_dir / "ATTRIBUTION.md"
        if attribution.is_file():
            lines += ["", "## Example clips", "", attribution.read_text(encoding="utf-8")]
        lines += ["", "## API", "", "Named endpoints for `gradio_client`: `/predict`, `/predict_batch`, "
                  "`/start_session`, `/rate`, `/compare`, `/model_info`.", "",
                  "```python", "from gradio_client import Client, handle_file", "client = Client(URL)",
                  "record = client.predict(handle_file('clip.wav'), api_name='/predict')", "```",
                  "", f"MMMOS {__version__}"]
        return "\n".join(lines)
