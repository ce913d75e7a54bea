"""The platform's user-facing error; kept free of imports so the CLI can catch it without loading pandas."""

from __future__ import annotations


class InputError(ValueError):
    """A user-facing error: the message names the field and the problem."""
