"""Rating an A/B or MUSHRA trial: the session manager's half for the designs of studies.trials.

Same guarantees as an absolute rating (playlists.SessionManager.rate): validated first,
appended durably to the ratings CSV before the session moves on, a double submit stores
one row. Played: every version on the screen (and the open reference) must have been
started in a browser; unlike absolute ratings they are not timed to their end, because
raters switch back and forth between versions.
"""

from __future__ import annotations

import time
from typing import Any, Mapping

from .ratings import RatingRow
from .trials import AnswerError, Screen, answer_json, screen_for


class DesignRating:
    """Mixin of `SessionManager` (which provides get, store, model_id, app_version, require_play,
    max_comment_chars)."""

    def screen(self, session_id: str, trial_id: str) -> Screen:
        session = self.get(session_id)
        trial = next((t for t in session.playlist.trials if t.id == str(trial_id)), None)
        if trial is None or session.playlist.options is None:
            raise AnswerError(f"Trial {trial_id!r} is not in playlist {session.playlist.name!r}.")
        return screen_for(trial, session.playlist.options, session.playlist.name, session.rater_id)

    def rate_design(self, session_id: str, trial_id: str, answer: Mapping[str, Any], comment: str = "",
                    *, client_reports_play: bool = False):
        """Store one A/B or MUSHRA answer (see `trials.answer_json` for its shape); returns (row, session)."""
        session = self.get(session_id)
        screen = self.screen(session_id, trial_id)
        stored = answer_json(screen, answer)
        comment = (comment or "").strip()
        if len(comment) > self.max_comment_chars:
            raise AnswerError(f"The comment is {len(comment)} characters; keep it under {self.max_comment_chars}.")
        with session.lock:
            trial = screen.trial
            if trial.id in session.done:
                raise AnswerError(f"Trial {trial.id!r} is already answered in this session.")
            unplayed = [k.split("#", 1)[1] for k in screen.play_keys if k not in session.played]
            if self.require_play and client_reports_play and unplayed:
                names = ", ".join("the reference" if k == "ref" else k for k in unplayed)
                raise AnswerError(f"Please play every version before answering (not played yet: {names}).")
            started = session.served_at if session.current is not None and session.current.id == trial.id else None
            row = RatingRow(
                session_id=session.id, rater_id=session.rater_id, playlist=session.playlist.name,
                clip_id=trial.id, scores={}, seconds_spent=time.monotonic() - started if started is not None else 0.0,
                played=(not unplayed) if client_reports_play else (not unplayed or None),
                model_id=self.model_id, app_version=self.app_version, comment=comment,
                design=screen.options.design, answer=stored)
            self.store.append(row)  # raises before the session moves on
            session.done.add(trial.id)
            if session.current is None or session.current.id == trial.id:
                session.advance()
        return row, session
