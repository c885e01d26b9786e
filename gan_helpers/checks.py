"""How a setting is checked, one way everywhere: each check returns the value it accepts (an
integer as ``int``, a number as ``float``) or raises ``SettingError``, which names the setting,
the value it got and what it must be. The command line shows the setting as its flag."""

from __future__ import annotations

import numbers
from collections.abc import Iterable

import torch


class SettingError(ValueError):
    """A setting given a value it cannot take: ``setting`` as Python spells it
    (``"TrainConfig.seed"``), the ``value`` it got, and the ``rule`` it breaks, with the fix."""

    def __init__(self, setting: str, value, rule: str) -> None:
        self.setting, self.value, self.rule = setting, value, rule
        super().__init__(f"{setting} = {value!r}: {rule}")

    @property
    def field(self) -> str:
        """The setting's own name, without its owner (``"seed"``)."""
        return self.setting.rsplit(".", 1)[-1]

    def _render_traceback_(self) -> list[str]:
        """IPython (a notebook, papermill) shows this one line instead of a traceback."""
        return [f"{type(self).__name__}: {self}"]


class RefusalError(ValueError):
    """Bad input whose fix is worded for where it was given: ``str()`` in Python's words (for
    code and notebooks), ``command_line`` in the flags' (the ``error:`` line of a command)."""

    def __init__(self, python: str, command_line: str) -> None:
        super().__init__(python)
        self.command_line = command_line

    def _render_traceback_(self) -> list[str]:
        return [f"{type(self).__name__}: {self}"]


def integer(setting: str, value, low: int, high: int | None = None) -> int:
    """An integer from ``low`` to ``high`` (no upper bound if None); numpy's and torch's integers
    count, a bool does not."""
    too_high = high is not None and isinstance(value, numbers.Integral) and value > high
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low or too_high:
        rule = f"must be an integer >= {low}" if high is None else f"must be an integer from {low} to {high}"
        raise SettingError(setting, value, rule)
    return int(value)


DEVICES = ("auto", "cpu", "cuda", "mps")  # "cuda:N" too
SEED_RANGE = (0, 2**31 - 1)  # what torch.manual_seed and every seeded part of the package take


def check_seed(value, setting: str = "seed") -> int:
    """A seed: an integer from 0 to 2**31 - 1."""
    return integer(setting, value, *SEED_RANGE)


def number(
    setting: str, value, low: float, high: float, *, low_in: bool = False, high_in: bool = True
) -> float:
    """A real number between ``low`` and ``high``; each end belongs to the range if ``low_in`` /
    ``high_in`` (the default is (low, high], as for a learning rate)."""
    real = isinstance(value, numbers.Real) and not isinstance(value, bool)
    above = real and (low <= value if low_in else low < value)
    below = real and (value <= high if high_in else value < high)
    if not (above and below):
        interval = f"{'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"
        raise SettingError(setting, value, f"must be a number in {interval}")
    return float(value)


def one_of(setting: str, value, choices: Iterable) -> object:
    """One of ``choices`` (the names of a registry, say)."""
    choices = tuple(choices)
    if isinstance(value, (list, dict, set)) or value not in choices:
        raise SettingError(setting, value, f"must be one of {', '.join(map(str, choices))}")
    return value


def flag(setting: str, value) -> bool:
    """True or False, and nothing that merely looks like one (1, "yes")."""
    if not isinstance(value, bool):
        raise SettingError(setting, value, "must be True or False")
    return value


def text(setting: str, value, what: str = "a string") -> str:
    """A string (a path, a name)."""
    if not isinstance(value, str):
        raise SettingError(setting, value, f"must be {what}")
    return value


def check_device(setting: str, name) -> str:
    """``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``, refused when set rather than at training."""
    one_of(setting, name.split(":")[0] if isinstance(name, str) else name, DEVICES)
    if name != "auto":
        try:
            torch.device(name)
        except RuntimeError:
            rule = "not a device name; use auto, cpu, cuda, cuda:N or mps"
            raise SettingError(setting, name, rule) from None
    return name
