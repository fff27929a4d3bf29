"""The Listening test tab and its API: consent, rater ids, one clip at a time, ratings saved at once."""

from __future__ import annotations

import gradio as gr
import pandas as pd

from mmmos_core import AXES, AXIS_DEFINITIONS, AXIS_NAMES, MMMOSError
from mmmos_core.studies.adaptive import priorities_from_records
from mmmos_core.studies.playlists import ListeningError, random_rater_id, validate_rater_id
from mmmos_core.studies.progress import progress, share_query
from mmmos_core.studies.ratings import RatingsStoreError

from .common import esc, md, skip
from .listening_designs import N_DESIGN_OUTPUTS, ListeningDesigns


class ListeningTab(ListeningDesigns):
    """Mixin of `MMMOSApp`: this tab's handlers and layout."""

    def api_start_session(self, rater_id: str, playlist: str = "") -> dict:
        """Start or resume a rating session; returns the session id and the next clip to rate."""
        try:
            return self.sessions.start(rater_id, playlist or None).status()
        except RatingsStoreError as exc:  # the store's own message names a server path: raters get theirs
            raise gr.Error(exc.for_rater, title="Cannot start the session", print_exception=False) from None
        except MMMOSError as exc:
            raise gr.Error(str(exc), title="Cannot start the session", print_exception=False) from None

    def api_rate(self, session_id: str, clip_id: str, pq: int, pc: int, ce: int, cu: int,
                 comment: str = "") -> dict:
        """Store one rating (appended to the ratings CSV at once); returns it and the session's next clip."""
        try:
            row, session = self.sessions.rate(session_id, clip_id, {"PQ": pq, "PC": pc, "CE": ce, "CU": cu},
                                              comment)
        except RatingsStoreError as exc:
            raise gr.Error(self._not_saved_message(exc), title="Rating not saved", print_exception=False) from None
        except MMMOSError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return {"saved": dict(zip(("timestamp_utc", "clip_id", *AXES), (row.timestamp_utc, row.clip_id,
                                                                        *(row.scores[a] for a in AXES)))),
                **session.status()}

    def ui_start(self, consent: bool, rater_id: str, playlist: str):
        if not consent:
            gr.Warning("Please tick the consent box to start.")
            return skip(10) + ("Please tick the consent box above to start.",) + skip(N_DESIGN_OUTPUTS)
        try:
            session = self.sessions.start(rater_id, playlist)
        except RatingsStoreError as exc:  # e.g. an old-format file and an A/B playlist: the rater tells the experimenter
            gr.Warning(exc.for_rater)
            return skip(10) + (f"⚠️ {esc(exc.for_rater)}",) + skip(N_DESIGN_OUTPUTS)
        except MMMOSError as exc:
            gr.Warning(str(exc))
            return skip(10) + (f"⚠️ {esc(str(exc))}",) + skip(N_DESIGN_OUTPUTS)
        welcome = f"Rater **{session.rater_id}** · playlist **{md(session.playlist.name)}**. "
        welcome += self.design_welcome(session)
        if session.resumed:
            welcome += f"Welcome back: {session.resumed} of {session.total} clips were already rated and are skipped. "
            if session.last_saved:  # after a crash the last one may never have been confirmed on screen
                welcome += f"Your last saved rating was at {session.last_saved['timestamp_utc'][11:19]} UTC. "
        welcome += "Note your rater id to resume later."
        return self._session_outputs(session, status=welcome)

    def _session_outputs(self, session, saved: str = "", status: str | None = None) -> tuple:
        """Values for the absolute outputs, the status and the A/B and MUSHRA panels."""
        return self._clip_outputs(session, saved, status) + self.design_values(session)

    def _clip_outputs(self, session, saved: str = "", status: str | None = None) -> tuple:
        """Values for [session, clip id, panel, position, audio, PQ, PC, CE, CU, comment, status]."""
        clip = session.current
        if session.playlist.options is not None:  # A/B or MUSHRA: the absolute panel stays hidden
            done = "" if clip is None else saved
            if clip is None:
                done = f"✅ {saved}{self.finished_text(session)}"
            text = "\n\n".join(t for t in (status, done) if t)
            return (session.id, "" if clip is None else clip.id, gr.update(visible=False), "", None, *[None] * 4, "",
                    text or gr.skip())
        if clip is None:
            done = (f"✅ {saved}All {session.total} clips of **{md(session.playlist.name)}** are rated. Thank you! "
                    "You can close this page.")
            return (session.id, "", gr.update(visible=False), "", None, *[None] * 4, "",
                    (status + "\n\n" if status else "") + done)
        position = f"{saved}**Clip {len(session.done) + 1} of {session.total}**"
        locked = self._full_play_required
        if locked:
            position += " · play the whole clip: the scales unlock when it ends"
        elif self.settings.listening.require_play:
            position += " · play the clip, then rate all four scales"
        radios = [gr.update(value=None, interactive=not locked) for _ in AXES]
        return (session.id, clip.id, gr.update(visible=True), position,
                gr.update(value=clip.path, label=f"Clip {len(session.done) + 1}"), *radios, "",
                gr.skip() if status is None else status)

    @property
    def _full_play_required(self) -> bool:
        cfg = self.settings.listening
        return cfg.require_play and cfg.min_play_fraction > 0

    def ui_ended(self):
        """The clip reached its end in the browser: unlock the scales (the server still checks the time)."""
        return tuple(gr.update(interactive=True) for _ in AXES)

    def ui_rate(self, session_id: str, clip_id: str, pq, pc, ce, cu, comment: str):
        try:
            _, session = self.sessions.rate(session_id, clip_id, {"PQ": pq, "PC": pc, "CE": ce, "CU": cu}, comment,
                                            client_reports_play=True)
        except RatingsStoreError as exc:  # the rater must know it was not saved; inputs stay filled for a retry
            raise gr.Error(self._not_saved_message(exc), title="Rating not saved", print_exception=False) from None
        except MMMOSError as exc:
            gr.Warning(str(exc))
            return skip(11)
        return self._clip_outputs(session, saved="Saved. ")

    def _not_saved_message(self, exc: RatingsStoreError) -> str:
        """For the rater: what happened and what to do; the server's file path is the experimenter's
        business (it is in the log and in /ratings_status)."""
        return (f"Your rating was NOT saved ({exc.for_rater}). It is kept for now: press Submit again to retry. "
                "If this keeps happening, tell the experimenter.")

    def ui_played(self, session_id: str, clip_id: str) -> None:
        if session_id and clip_id:
            try:
                self.sessions.mark_played(session_id, clip_id)
            except ListeningError:
                pass  # the session is gone; submitting will say so

    def clip_priorities(self, playlist) -> dict[str, float]:
        """Adaptive order: the model scores a playlist once (cached); human means come from the CSV
        at every session start, so clips where humans and model disagree move up as ratings arrive."""
        cache = self.__dict__.setdefault("_playlist_records", {})
        if playlist.name not in cache:
            records = {}
            for clip, result in zip(playlist.clips, self.model.predict_many({"path": c.path} for c in playlist.clips)):
                if not isinstance(result, MMMOSError):
                    records[clip.id] = result.to_record()
            cache[playlist.name] = records
        sums: dict[str, list[dict[str, float]]] = {}
        for row in self.store.read().rows:
            if row["playlist"] == playlist.name and row["gold"] != "1":
                sums.setdefault(row["clip_id"], []).append(row.scores)
        human = {c: {a: sum(s[a] for s in rows) / len(rows) for a in AXES} for c, rows in sums.items()}
        return priorities_from_records(cache[playlist.name], human)

    def ui_from_link(self, request: gr.Request):
        """``?playlist=NAME&rater=ID`` opens the Listening test with both chosen (a shared session link)."""
        params = dict(request.query_params) if request is not None else {}
        name = params.get("playlist", "")
        if name not in self.settings.listening.playlists:
            return skip(3)
        try:
            rater = validate_rater_id(params.get("rater")) if params.get("rater") else None
        except ListeningError:
            rater = None
        return (gr.Tabs(selected="listen"), gr.update(value=name),
                gr.skip() if rater is None else gr.update(value=rater))

    def ui_progress(self):
        """The experimenter's live view: per playlist and rater, counts, timing and flags; no scores."""
        sizes, durations = {}, {}
        for name in self.settings.listening.playlists:
            try:
                playlist = self.sessions.playlist(name)
            except MMMOSError:
                continue
            if playlist.options is not None:  # A/B or MUSHRA: a rater's unit is a trial
                sizes[name] = len(playlist.trials)
                continue
            sizes[name] = len(playlist.clips)
            durations.update({(name, c.id): d for c in playlist.clips if (d := self.sessions.clip_duration(c))})
        try:
            rows = self.store.read().everything
        except MMMOSError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        lines = progress(rows, sizes, durations)
        if not lines:
            return pd.DataFrame({"": ["No ratings yet. Share a link below and refresh when raters have started."]}), \
                self._share_links()
        per_rater = pd.DataFrame([x.row() for x in lines])
        return per_rater, self._share_links(lines)

    def _share_links(self, lines=()) -> str:
        out = ["**Links that open the test with a playlist chosen** (append to this page's address; add "
               "`&rater=ID` to fix the rater id too):"]
        for name in self.settings.listening.playlists:
            raters = sorted({x.rater for x in lines if x.playlist == name})
            done = sum(x.done for x in lines if x.playlist == name)
            out.append(f"- `{share_query(name)}` · {len(raters)} rater(s), {done} rating(s) so far")
        return "\n".join(out)

    def _listening_tab(self, cfg):
        if self.settings.ratings_at_risk:
            gr.HTML("<div class='mmmos-banner error'><b>Ratings are not on persistent storage.</b> This Space "
                    f"writes them to {esc(str(self.settings.ratings_path))}, which is wiped when the Space restarts. "
                    "Enable persistent storage (mounted at /data) or set MMMOS_RATINGS_PATH before a session.</div>")
        gr.Markdown(f"## {cfg.title}\n\n{cfg.instructions}")
        consent = gr.Checkbox(label=cfg.consent, elem_id="consent")
        with gr.Row(equal_height=False, elem_id="session-row"):
            rater = gr.Textbox(label="Rater id", placeholder="letters, digits, - and _ (up to 40)", max_length=40,
                               elem_id="rater-id", scale=3)
            random_id = gr.Button("Random id", scale=1, elem_id="random-id")
            playlist = gr.Dropdown(list(cfg.playlists), value=next(iter(cfg.playlists)), label="Playlist", scale=2,
                                   elem_id="playlist")
            start = gr.Button("Start / resume", variant="primary", scale=1, elem_id="start-btn")
        status = gr.Markdown(elem_id="listen-status")
        session_id, clip_id = gr.State(""), gr.State("")
        with gr.Group(visible=False, elem_id="rating-panel") as panel:
            position = gr.Markdown(elem_id="clip-position", padding=True)
            clip = gr.Audio(label="Clip", type="filepath", interactive=False, elem_id="rating-clip", buttons=[])
            radios = []
            for a in AXES:
                label = f"{a} · {AXIS_NAMES[a]}" + (" (more ≠ better)" if a == "PC" else "")
                radios.append(gr.Radio(list(range(1, 11)), label=label, info=f"{AXIS_DEFINITIONS[a]} 1 = lowest, "
                                       "10 = highest.", elem_id=f"rate-{a}", elem_classes=["mmmos-scale"]))
            comment = gr.Textbox(label="Comment (optional)", lines=2, max_length=cfg.max_comment_chars,
                                 elem_id="rate-comment")
            submit = gr.Button("Submit rating", variant="primary", elem_id="submit-rating")
        clip_outputs = [session_id, clip_id, panel, position, clip, *radios, comment]
        design_outputs, ab_inputs, mushra_inputs = self._design_panels(session_id, clip_id)
        self._wire_design_submits(session_id, clip_id, ab_inputs, mushra_inputs,
                                  clip_outputs + [status] + design_outputs)
        random_id.click(random_rater_id, None, rater, api_visibility="private", concurrency_limit=None)
        start.click(self.ui_start, [consent, rater, playlist], clip_outputs + [status] + design_outputs,
                    api_visibility="private", concurrency_limit=None)
        submit.click(self.ui_rate, [session_id, clip_id, *radios, comment], clip_outputs + [status],
                     api_visibility="private",
                     concurrency_limit=None)
        clip.play(self.ui_played, [session_id, clip_id], None, api_visibility="private", concurrency_limit=None,
                  show_progress="hidden")
        clip.stop(self.ui_ended, None, radios, api_visibility="private", concurrency_limit=None,
                  show_progress="hidden")
        self.link_targets = [playlist, rater]  # filled from ?playlist=...&rater=... when the page loads

    def _progress_panel(self):
        """Shown in the Compare tab (the experimenter's), not beside the raters."""
        with gr.Accordion("Experimenter view: live progress of the listening test (no scores shown)", open=False):
            refresh = gr.Button("Refresh", elem_id="progress-btn", size="sm")
            progress_table = gr.Dataframe(interactive=False, wrap=True, elem_id="progress-table",
                                          label="Per playlist and rater: done / total, median time, flags so far")
            links = gr.Markdown(elem_id="share-links")
        refresh.click(self.ui_progress, None, [progress_table, links], api_visibility="private",
                      concurrency_limit=None)
