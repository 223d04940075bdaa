"""Small integer helpers shared by the host code."""

from __future__ import annotations


def ceil_div(a: int, b: int) -> int:
    """⌈a / b⌉ for integers (b > 0), without floating point."""
    return -(-a // b)
