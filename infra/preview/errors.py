"""The preview's errors: bad input (an unknown ref, a saved plan of another stack...) exits 2, a base that
cannot be planned exits 1."""

from __future__ import annotations

from infra.errors import StreamgateError


class PreviewError(StreamgateError):
    """Planning one side of a diff failed."""


class PreviewInputError(PreviewError):
    """A ref, saved plan or stack export given on the command line is unusable: the message says why."""

    exit_code = 2
