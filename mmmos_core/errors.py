"""The exceptions MMMOS raises on purpose. Anything else is a bug."""


class MMMOSError(Exception):
    """Base class: a problem the user can act on, with a message meant for them."""


class AudioInputError(MMMOSError):
    """An input could not be scored. The message names the input and the problem.

    ``hint`` is what a command-line user can do about it (e.g. a flag to pass); it is not part
    of the message, because a web visitor has no such flag: the CLI prints it, the app does not."""

    def __init__(self, source: str, problem: str, hint: str = ""):
        self.source = source
        self.problem = problem
        self.hint = hint
        super().__init__(f"{source}: {problem}")

    def __reduce__(self):  # keep the hint across processes (Ray workers, pickled records)
        return (type(self), (self.source, self.problem, self.hint))


class ModelLoadError(MMMOSError):
    """A model directory, manifest or checkpoint is missing or inconsistent."""


class ManifestError(MMMOSError):
    """A manifest (CSV/JSONL list of clips and labels) cannot be read."""
