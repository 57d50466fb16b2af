"""The one error type every validator in hj1321 raises."""

from __future__ import annotations


class InvalidValueError(ValueError):
    """A value that breaks a rule of the regulation's vocabulary.

    Attributes:
        code: machine-readable reason, e.g. ``plate.grammar`` or ``vin.check_digit``.
        message: the reason in Chinese, for people.
        value: the offending input as given.
    """

    def __init__(self, code: str, message: str, value: object = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.value = value
