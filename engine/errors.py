"""Errors a user can act on. The CLI prints their message (no traceback unless --debug)."""

from __future__ import annotations


class ShoalError(Exception):
    """Base of the errors shoal raises on purpose; the message says what to do."""


class ConfigError(ShoalError, ValueError):
    """A setting or argument is invalid."""


class LakeError(ShoalError):
    """The lake or its catalog cannot be used as asked."""
