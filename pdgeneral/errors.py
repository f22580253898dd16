"""Errors that reach the user as one line: which file, which key, what is wrong."""
from __future__ import annotations


class PdgeneralError(Exception):
    """Base of every error pdgeneral reports to the user (the CLI turns it into exit code 2)."""


class CaseError(PdgeneralError):
    """A problem with a case file: ``file: key: message``.

    ``key`` is the dotted path of the offending entry (``discretization.spacing``,
    ``boundary_conditions[1].region``); ``file`` is filled in by the loader when the error is raised
    below it, so that model-building code need not know where the case came from.
    ``origin`` is the ``--set KEY=VALUE`` item the offending value came from, when it came from
    the command line rather than from the file.
    """

    def __init__(self, key: str, message: str, file: str | None = None, origin: str | None = None):
        self.key = key
        self.message = message
        self.file = file
        self.origin = origin
        super().__init__(key, message)

    def __str__(self) -> str:
        where = f"{self.file}: " if self.file else ""
        origin = f" (given by --set {self.origin})" if self.origin else ""
        key = f"{self.key}{origin}: " if self.key or origin else ""
        return f"{where}{key}{self.message}"
