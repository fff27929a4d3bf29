"""MMMOS web app: score clips, run listening tests, compare humans with the model.

A thin Gradio shell over `mmmos_core` (the tabs live in `mmmos_app/`): every number, file
and figure comes from the library; the app only lays out components and turns library
errors into messages. Run with ``make run`` (or ``python app.py``); settings come from the
environment, see `mmmos_core.settings` and docs/app.md.
"""

from mmmos_app import MMMOSApp, main

__all__ = ["MMMOSApp", "main"]

if __name__ == "__main__":
    main()
