"""The Gradio app over `mmmos_core`: layout and messages only, one module per tab."""

from .shell import MMMOSApp, main

__all__ = ["MMMOSApp", "main"]
