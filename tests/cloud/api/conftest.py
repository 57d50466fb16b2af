"""Fixtures of the API tests: row counts through a superuser connection and valid identifiers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest

from hj1321.identifiers import USCC_ALPHABET, uscc_check_char, vin_check_digit


@pytest.fixture(name="row_counts")
def fx_row_counts(superuser_url: str) -> Callable[..., Awaitable[dict[str, int]]]:
    """Count the rows of tables across all tenants (superuser, RLS bypassed): ``await row_counts("vehicle")``."""

    async def counts(*tables: str) -> dict[str, int]:
        conn = await asyncpg.connect(superuser_url)
        try:
            return {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in tables}
        finally:
            await conn.close()

    return counts


def _vin(serial: int) -> str:
    vin = f"LZZ5BLSX0A{serial:07d}"  # position 9 is a placeholder until the check digit is known
    return vin[:8] + vin_check_digit(vin) + vin[9:]


def _uscc(serial: int) -> str:
    body = "".join(c if c in USCC_ALPHABET else "0" for c in f"91420102MA{serial:07d}")
    return body + uscc_check_char(body)


@pytest.fixture(name="make_vin")
def fx_make_vin() -> Callable[[int], str]:
    """A VIN with a correct check digit for a serial number."""
    return _vin


@pytest.fixture(name="make_uscc")
def fx_make_uscc() -> Callable[[int], str]:
    """A 统一社会信用代码 (registered in 江岸区) with a correct check character."""
    return _uscc
