"""The exceptions MMMOS raises on purpose. Anything else is a bug."""


class MMMOSError(Exception):
    """Base class: a problem the user can act on, with a message meant for them."""


class AudioInputError(MMMOSError):
    """An input could not be scored. The message names the input and the problem."""

    def __init__(self, source: str, problem: str):
        self.source = source
        self.problem = problem
        super().__init__(f"{source}: {problem}")


class ModelLoadError(MMMOSError):
    """A model directory, manifest or checkpoint is missing or inconsistent."""


class ManifestError(MMMOSError):
    """A manifest (CSV/JSONL list of clips and labels) cannot be read."""
