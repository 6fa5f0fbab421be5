"""Money in integer fen (0.01 yuan). No float is ever accepted on the money path.

>>> parse_yuan("4.68")
468
>>> format_fen(30_000_000)
'300000.00'
"""

from __future__ import annotations

import re
from fractions import Fraction
from typing import NewType

from mutualaid.errors import InputError

Fen = NewType("Fen", int)

FEN_PER_YUAN = 100

# Digits, an optional point and at most two decimals; no sign, exponent, NaN or separators.
# [0-9], not \d: \d also matches full-width and other scripts' digits, which int() accepts.
_YUAN = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]{1,2}))?")


def parse_yuan(text: str, *, field: str = "amount") -> Fen:
    """Parse a yuan amount written as text into fen, rejecting anything that is not exact.

    >>> parse_yuan("300000")
    30000000
    >>> parse_yuan("0.1")
    10
    """
    if not isinstance(text, str):
        raise InputError(field, text, "must be written as text, e.g. '4.68' (no floats)")
    cleaned = text.strip()
    match = _YUAN.fullmatch(cleaned)
    if match is None:
        if cleaned.startswith("-"):
            raise InputError(field, text, "must not be negative")
        if re.fullmatch(r"[0-9]+\.[0-9]{3,}", cleaned):
            raise InputError(field, text, "is a fraction of a fen (at most 2 decimals)")
        raise InputError(field, text, "is not a yuan amount like 300000 or 4.68")
    whole = int(match["whole"])
    frac = (match["frac"] or "").ljust(2, "0")
    return Fen(whole * FEN_PER_YUAN + int(frac))


def fen(value: object, *, field: str = "amount") -> Fen:
    """Accept an amount already in fen: a non-negative int (bool, float and str refused).

    >>> fen(468)
    468
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(field, value, "must be a whole number of fen")
    if value < 0:
        raise InputError(field, value, "must not be negative")
    return Fen(value)


def parse_fen(text: str, *, field: str = "amount") -> Fen:
    """Parse a fen amount written as digits (as on a command line).

    >>> parse_fen("46800")
    46800
    """
    cleaned = text.strip() if isinstance(text, str) else text
    if not isinstance(cleaned, str) or not cleaned.isdigit() or not cleaned.isascii():
        if isinstance(cleaned, str) and cleaned.startswith("-") and cleaned[1:].isdigit():
            raise InputError(field, text, "must not be negative")
        raise InputError(field, text, "must be a whole number of fen")
    return Fen(int(cleaned))


def format_fen(amount: int) -> str:
    """Write fen as yuan with two decimals.

    >>> format_fen(-5)
    '-0.05'
    """
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), FEN_PER_YUAN)
    return f"{sign}{whole}.{part:02d}"


def format_fen_grouped(amount: int) -> str:
    """Write fen as yuan with two decimals and thousands grouped, for people to read.

    >>> format_fen_grouped(370370370), format_fen_grouped(-5)
    ('3,703,703.70', '-0.05')
    """
    sign = "-" if amount < 0 else ""
    whole, part = divmod(abs(amount), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{part:02d}"


def ceil_div(numerator: int, denominator: int) -> int:
    """Exact integer ceiling of numerator / denominator (denominator > 0).

    >>> ceil_div(7, 2), ceil_div(-7, 2)
    (4, -3)
    """
    if denominator <= 0:
        raise ValueError(f"denominator must be positive, got {denominator}")
    return -((-numerator) // denominator)


def apply_rate_floor(amount: int, rate: Fraction) -> Fen:
    """amount x rate, rounded down to the fen: the member is never charged a part-fen of fee.

    >>> apply_rate_floor(30_000_000, Fraction(8, 100))
    2400000
    >>> apply_rate_floor(1, Fraction(8, 100))
    0
    """
    product = amount * rate
    return Fen(product.numerator // product.denominator)
