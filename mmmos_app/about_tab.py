"""The About tab: the axes, the loaded model and its members, peers, licences, the API."""

from __future__ import annotations

from mmmos_core import AXES, AXIS_DEFINITIONS, AXIS_NAMES, __version__
from mmmos_core.views.words import member_labels

MODEL_CARD = "MODEL_CARD.md"


class AboutTab:
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    def _model_card(self) -> str:
        folder = getattr(self.model, "model_dir", None) if self.model is not None else None
        card = folder / MODEL_CARD if folder is not None else None
        return card.read_text(encoding="utf-8") if card is not None and card.is_file() else ""

    def _about(self) -> str:
        lines = ["## The four axes", "", "| axis | name | what it measures |", "|---|---|---|"]
        lines += [f"| {a} | {AXIS_NAMES[a]} | {AXIS_DEFINITIONS[a]} |" for a in AXES]
        card = self._model_card()
        if self.model is not None:
            info = self.model.info()
            description = info.get("description") or ""
            if card:  # the card is on this page, below: point there rather than at a file name
                description = description.replace(f"See {MODEL_CARD}.", "See [the model card](#model-card) below.")
            lines += ["", f"## Model `{info['name']}`", "", description or f"{len(info['members'])} ensemble members."]
            if info.get("note"):
                lines += ["", f"> {info['note']}"]
            if info.get("licenses"):
                lines += ["", "Licences: " + "; ".join(info["licenses"])]
            labels = member_labels(info["members"])
            lines += ["", "| member | what it is | encoders |", "|---|---|---|"]
            lines += [f"| `{m['name']}` | {labels[m['name']]} | {', '.join(m['encoders'])} |" for m in info["members"]]
        else:
            lines += ["", f"**No model loaded:** {self.model_error}"]
        lines += ["", "## Second opinions (peer models)", "",
                  "Shown beside the MMMOS scores in Predict, each on its own scale, never mixed into them:", ""]
        lines += self.peers_about()
        attribution = self.settings.examples_dir / "ATTRIBUTION.md"
        if attribution.is_file():
            text = attribution.read_text(encoding="utf-8").lstrip()
            # The file brings its own heading: demoted to this page's level, not stacked under another one.
            heading, _, body = text.partition("\n") if text.startswith("# ") else ("# Example clips", "", text)
            lines += ["", "#" + heading, "", "<div class='mmmos-attribution'>", "", body.strip(), "", "</div>"]
        lines += ["", "## API", "", "Named endpoints for `gradio_client`: `/predict`, `/compare_clips`, "
                  "`/predict_batch`, `/start_session`, `/rate`, `/compare`, `/model_info`.", "",
                  "```python", "from gradio_client import Client, handle_file", "client = Client(URL)",
                  "record = client.predict(handle_file('clip.wav'), api_name='/predict')", "```"]
        if card:
            body = card.partition("\n")[2] if card.startswith("# ") else card
            lines += ["", "<a id='model-card'></a>", "", "## Model card", "", body.replace("\n## ", "\n### ").strip()]
        lines += ["", f"MMMOS {__version__}"]
        return "\n".join(lines)
