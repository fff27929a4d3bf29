"""The Listening tab's A/B and MUSHRA screens and the /rate_trial API (studies.trials).

A/B: versions A and B side by side; per axis of the playlist A, B or (where offered) no
preference, and how strongly. MUSHRA: an open reference, then up to `MAX_CONDITIONS`
numbered versions (the hidden reference and the anchor among them) each with a 0-100
slider for the playlist's axis. Gradio needs a fixed set of components, so both panels
hold the most a screen can show and hide what a trial does not use.
"""

from __future__ import annotations

import gradio as gr

from mmmos_core import AXES, AXIS_DEFINITIONS, AXIS_NAMES, MMMOSError
from mmmos_core.studies.playlists import ListeningError
from mmmos_core.studies.preference import STRENGTHS
from mmmos_core.studies.ratings import RatingsStoreError
from mmmos_core.studies.trials import MAX_CONDITIONS

from .common import md, skip

NO_PREFERENCE = "No preference"
MUSHRA_START = 0  # sliders start at the bottom, as in BS.1534 software; a rater moves each one
N_DESIGN_OUTPUTS = 1 + 1 + 2 + 2 * len(AXES) + 1 + 1 + 1 + 2 * MAX_CONDITIONS


class ListeningDesigns:
    """Mixin of `MMMOSApp` (through `ListeningTab`): the A/B and MUSHRA panels and their handlers."""

    def api_rate_trial(self, session_id: str, trial_id: str, answer: dict, comment: str = "") -> dict:
        """Store one A/B or MUSHRA answer. A/B: {axis: "A" | "B" | "none", with ":slight|clear|strong"};
        MUSHRA: {version label: 0-100}. Returns it as stored and the session's next trial."""
        try:
            row, session = self.sessions.rate_design(session_id, trial_id, answer or {}, comment)
        except RatingsStoreError as exc:
            raise gr.Error(self._not_saved_message(exc), title="Answer not saved", print_exception=False) from None
        except MMMOSError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return {"saved": {"timestamp_utc": row.timestamp_utc, "trial_id": row.clip_id, "design": row.design},
                **session.status()}

    def design_values(self, session) -> tuple:
        """Values for the design outputs: the panel of the session's design with its current trial."""
        options = session.playlist.options
        trial = session.current
        if options is None or trial is None:
            return (gr.update(visible=False), *skip(3 + 2 * len(AXES)), gr.update(visible=False),
                    *skip(2 + 2 * MAX_CONDITIONS))
        screen = self.sessions.screen(session.id, trial.id)
        position = f"**Trial {len(session.done) + 1} of {session.total}** · play every version, then answer"
        if options.design == "ab":
            choices = ["A", "B"] + ([NO_PREFERENCE] if options.no_preference else [])
            radios = [gr.update(visible=a in trial.axes, value=None, choices=choices) for a in AXES]
            strengths = [gr.update(visible=a in trial.axes and options.strength, value=None) for a in AXES]
            return (gr.update(visible=True), position, *(gr.update(value=v.path) for v in screen.versions),
                    *radios, *strengths, gr.update(visible=False), *skip(2 + 2 * MAX_CONDITIONS))
        axis = trial.axes[0]
        position += f" · rate **{axis} · {AXIS_NAMES[axis]}** from 0 to 100. {AXIS_DEFINITIONS[axis]}"
        ref = gr.update(value=trial.reference.path if trial.reference else None, visible=trial.reference is not None)
        players, sliders = [], []
        for k in range(MAX_CONDITIONS):
            shown = k < len(screen.versions)
            players.append(gr.update(value=screen.versions[k].path if shown else None, visible=shown))
            sliders.append(gr.update(value=MUSHRA_START, visible=shown, label=f"Version {k + 1}: {axis}"))
        return (gr.update(visible=False), *skip(3 + 2 * len(AXES)), gr.update(visible=True), position, ref,
                *players, *sliders)

    def ui_design_played(self, session_id: str, trial_id: str, key: str) -> None:
        if session_id and trial_id:
            try:
                self.sessions.mark_played(session_id, f"{trial_id}#{key}")
            except ListeningError:
                pass  # the session is gone; submitting will say so

    def _submit_design(self, session_id: str, trial_id: str, answer: dict) -> tuple:
        try:
            _, session = self.sessions.rate_design(session_id, trial_id, answer, client_reports_play=True)
        except RatingsStoreError as exc:  # inputs stay filled for a retry
            raise gr.Error(self._not_saved_message(exc), title="Answer not saved", print_exception=False) from None
        except MMMOSError as exc:
            gr.Warning(str(exc))
            return skip(11 + N_DESIGN_OUTPUTS)
        return self._session_outputs(session, saved="Saved. ")

    def ui_rate_ab(self, session_id: str, trial_id: str, *values):
        choices, strengths = values[:len(AXES)], values[len(AXES):]
        answer = {}
        for axis, choice, strength in zip(AXES, choices, strengths):
            if choice is not None:
                answer[axis] = "none" if choice == NO_PREFERENCE else f"{choice}:{strength or ''}"
        return self._submit_design(session_id, trial_id, answer)

    def ui_rate_mushra(self, session_id: str, trial_id: str, *scores):
        return self._submit_design(session_id, trial_id, {str(k + 1): v for k, v in enumerate(scores)})

    def _played_handler(self, key: str):
        def played(session_id: str, trial_id: str) -> None:
            self.ui_design_played(session_id, trial_id, key)
        return played

    def _design_panels(self, session_id, trial_id) -> tuple[list, list, list]:
        """Builds both panels; returns (outputs, A/B answer inputs, MUSHRA answer inputs)."""
        with gr.Group(visible=False, elem_id="ab-panel") as ab_panel:
            ab_position = gr.Markdown(elem_id="ab-position", padding=True)
            with gr.Row():
                players = [gr.Audio(label=f"Version {side}", type="filepath", interactive=False, buttons=[],
                                    elem_id=f"ab-audio-{side}") for side in ("A", "B")]
            choices, strengths = [], []
            for a in AXES:
                with gr.Row():
                    choices.append(gr.Radio(["A", "B", NO_PREFERENCE], label=f"{a} · {AXIS_NAMES[a]}: which is "
                                            "better?", info=AXIS_DEFINITIONS[a], elem_id=f"ab-choice-{a}", scale=3))
                    strengths.append(gr.Radio(list(STRENGTHS), label="How strongly?", elem_id=f"ab-strength-{a}",
                                              scale=2))
            ab_submit = gr.Button("Submit answer", variant="primary", elem_id="ab-submit")
        with gr.Group(visible=False, elem_id="mushra-panel") as mu_panel:
            mu_position = gr.Markdown(elem_id="mushra-position", padding=True)
            reference = gr.Audio(label="Reference", type="filepath", interactive=False, buttons=[],
                                 elem_id="mushra-reference")
            mu_players, sliders = [], []
            for k in range(MAX_CONDITIONS):
                with gr.Row():
                    mu_players.append(gr.Audio(label=f"Version {k + 1}", type="filepath", interactive=False,
                                               buttons=[], elem_id=f"mushra-audio-{k + 1}", scale=2))
                    sliders.append(gr.Slider(0, 100, value=MUSHRA_START, step=1, label=f"Version {k + 1}",
                                             elem_id=f"mushra-score-{k + 1}", scale=3))
            mu_submit = gr.Button("Submit scores", variant="primary", elem_id="mushra-submit")
        outputs = [ab_panel, ab_position, *players, *choices, *strengths, mu_panel, mu_position, reference,
                   *mu_players, *sliders]
        for key, player in [*zip(("A", "B"), players), ("ref", reference),
                            *((str(k + 1), p) for k, p in enumerate(mu_players))]:
            player.play(self._played_handler(key), [session_id, trial_id], None, api_visibility="private",
                        concurrency_limit=None, show_progress="hidden")
        self._design_submits = (ab_submit, mu_submit)
        return outputs, [*choices, *strengths], sliders

    def _wire_design_submits(self, session_id, trial_id, ab_inputs, mu_inputs, outputs) -> None:
        ab_submit, mu_submit = self._design_submits
        ab_submit.click(self.ui_rate_ab, [session_id, trial_id, *ab_inputs], outputs, api_visibility="private",
                        concurrency_limit=None)
        mu_submit.click(self.ui_rate_mushra, [session_id, trial_id, *mu_inputs], outputs, api_visibility="private",
                        concurrency_limit=None)
        gr.api(self.api_rate_trial, api_name="rate_trial", concurrency_limit=None)

    @staticmethod
    def design_welcome(session) -> str:
        if session.playlist.design == "ab":
            return ("Each trial plays two versions of the same content, **A** and **B**. Play both, then say for each "
                    "scale which is better (or that you hear no difference) and how strongly. ")
        if session.playlist.design == "mushra":
            return ("Each trial shows several versions of the same content with a **Reference** above them. Play "
                    "them all (switch as often as you like) and score each from 0 (bad) to 100 (excellent); one "
                    "version is the reference itself. ")
        return ""

    @staticmethod
    def finished_text(session) -> str:
        return (f"All {session.total} trials of **{md(session.playlist.name)}** are answered. Thank you! You can close "
                "this page.")
