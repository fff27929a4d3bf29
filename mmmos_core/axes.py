"""The four rating axes, in the order every tensor and table in MMMOS uses."""

AXES: tuple[str, ...] = ("PQ", "PC", "CE", "CU")

AXIS_NAMES = {
    "PQ": "Production Quality",
    "PC": "Production Complexity",
    "CE": "Content Enjoyment",
    "CU": "Content Usefulness",
}

# One line each, shown next to every rating input and plot. PC is complexity, not merit.
AXIS_DEFINITIONS = {
    "PQ": "Technical quality of the recording: clarity, fidelity, dynamics, freedom from noise and distortion.",
    "PC": "How much is going on: number of sources, layers and events. More is not better.",
    "CE": "How much a listener enjoys the content: emotional impact, artistry, expression.",
    "CU": "How useful the audio is as material for creating content (e.g. a video soundtrack or a sample).",
}

SCALE_MIN = 1.0
SCALE_MAX = 10.0
