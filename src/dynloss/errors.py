"""The package's error types, in one JAX-free module every layer can import.

- :class:`ConfigError`: a problem with the workflow configuration; the message names the key.
- :class:`SpecError`: a bad field of a job's specification (:mod:`dynloss.spec`); it carries the
  field's name, so the command line and the config translate it into their own words (a flag, a
  config key) without reading the message.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A configuration problem; the message names the key."""


class SpecError(ValueError):
    """A field of a job specification with a value that is not allowed.

    Args:
        field: the field's name (``"hess_every"``, ``"W_std"``, ...).
        message: what is wrong and what is allowed.
    """

    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


class WriteError(OSError):
    """A file that could not be written; the message names the path and the reason (one line).

    Args:
        message: ``cannot write '<path>': <reason>``.
        errno_: the ``errno`` of the cause, if it had one.
    """

    def __init__(self, message: str, errno_: int | None = None):
        super().__init__(message)
        self.errno = errno_
