"""Ember's errors as Python exceptions: one class per ``ember::ErrorKind``.

Every error of the engine is an :class:`EmberError` whose ``kind`` is the C++ kind's name;
the subclasses also derive from the built-in exception a Python caller would expect
(bad input is a ``ValueError``, a missing model a ``FileNotFoundError``).
"""


class EmberError(Exception):
    """Base class of every error the engine raises."""

    kind = "internal"


class InvalidInputError(EmberError, ValueError):
    """The caller's data is wrong: bad text, bad file, bad option."""

    kind = "invalid_input"


class NotFoundError(EmberError, FileNotFoundError):
    """A model, file or tensor that does not exist."""

    kind = "not_found"


class UnsupportedError(EmberError):
    """Valid but not handled: an unknown architecture, or a call the model's head cannot do."""

    kind = "unsupported"


class OverloadedError(EmberError):
    """A queue or limit is full; retry later."""

    kind = "overloaded"


class UnavailableError(EmberError):
    """Shutting down, not ready, or a file could not be written."""

    kind = "unavailable"


class InternalError(EmberError, RuntimeError):
    """A bug in Ember."""

    kind = "internal"


# The class of each ember::ErrorKind name; the extension raises through this table.
BY_KIND = {
    cls.kind: cls
    for cls in (InvalidInputError, NotFoundError, UnsupportedError, OverloadedError,
                UnavailableError, InternalError)
}

__all__ = ["EmberError", "InvalidInputError", "NotFoundError", "UnsupportedError",
           "OverloadedError", "UnavailableError", "InternalError"]
