"""The public names: sorted, importable, and covering every error class."""

from __future__ import annotations

import storehouse
from storehouse.errors import ALL_ERRORS


def test_all_is_sorted_and_importable() -> None:
    assert storehouse.__all__ == sorted(storehouse.__all__)
    for name in storehouse.__all__:
        assert hasattr(storehouse, name), name


def test_every_error_class_is_exported() -> None:
    assert {error.__name__ for error in ALL_ERRORS} <= set(storehouse.__all__)


def test_every_error_has_its_own_code_and_an_http_status() -> None:
    codes = [error.code for error in ALL_ERRORS]
    assert len(codes) == len(set(codes))
    assert all(400 <= error.status <= 599 for error in ALL_ERRORS)
