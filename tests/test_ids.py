"""Ids: the pattern check, time-sortable new ids, and the one id-to-path join."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest

from storehouse.errors import InvalidId
from storehouse.ids import check_id, id_path, is_valid_id, new_id

INVALID_IDS = [
    pytest.param(".x", id="leading-dot"),
    pytest.param("-x", id="leading-dash"),
    pytest.param("", id="empty"),
    pytest.param("a" * 129, id="129-chars"),
    pytest.param("a/b", id="slash"),
    pytest.param("..", id="dot-dot"),
    pytest.param(".", id="dot"),
    pytest.param("a b", id="space"),
    pytest.param("a\\b", id="backslash"),
    pytest.param("/abs", id="absolute"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a\x00", id="nul"),
    pytest.param("é", id="non-ascii"),
    pytest.param(None, id="none"),
    pytest.param(12, id="int"),
    pytest.param(b"abc", id="bytes"),
    pytest.param(["a"], id="list"),
]

VALID_IDS = [
    pytest.param("a" * 128, id="128-chars"),
    pytest.param("a.b_c-d", id="punctuation"),
    pytest.param("_x", id="leading-underscore"),
    pytest.param("0", id="one-digit"),
    pytest.param("01J0ABCDEFGHJKMNPQRSTVWXYZ", id="ulid"),
    pytest.param("x..", id="trailing-dots"),
]


@pytest.mark.parametrize("value", INVALID_IDS)
def test_invalid_id_is_refused(value: object) -> None:
    assert not is_valid_id(value)
    with pytest.raises(InvalidId):
        check_id(value)


@pytest.mark.parametrize("value", VALID_IDS)
def test_valid_id_is_accepted(value: str) -> None:
    assert is_valid_id(value)
    assert check_id(value) == value


def test_invalid_id_message_names_what_was_checked() -> None:
    with pytest.raises(InvalidId, match="projectId"):
        check_id("a/b", "projectId")


def test_invalid_id_is_a_400() -> None:
    with pytest.raises(InvalidId) as caught:
        check_id("..")
    assert caught.value.status == 400


def test_new_id_is_26_chars_and_valid() -> None:
    value = new_id()
    assert len(value) == 26
    assert is_valid_id(value)


def test_new_id_strictly_increases_over_10000_calls() -> None:
    ids = [new_id() for _ in range(10_000)]
    assert all(earlier < later for earlier, later in pairwise(ids))
    assert all(len(value) == 26 for value in ids)


@pytest.mark.parametrize("value", INVALID_IDS)
def test_id_path_refuses_bad_ids(tmp_path: Path, value: object) -> None:
    with pytest.raises(InvalidId):
        id_path(tmp_path, value)  # type: ignore[arg-type]


def test_id_path_joins_id_and_suffix_inside_directory(tmp_path: Path) -> None:
    assert id_path(tmp_path, "abc") == tmp_path / "abc.json"
    assert id_path(tmp_path, "abc", ".jsonl") == tmp_path / "abc.jsonl"
