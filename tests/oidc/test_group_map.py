"""AWU_OIDC_GROUPS: provider groups -> roles, read by the settings module."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from awu.signin.group_map import parse_group_map
from awu.signin.roles import roles_for


def test_groups_map_to_one_or_several_roles() -> None:
    mapping = parse_group_map(" awu-admins=superuser ; awu-finance = staff, finance ;")

    assert mapping == {"awu-admins": ("superuser",), "awu-finance": ("staff", "finance")}
    assert roles_for(["awu-finance", "unknown"], mapping) == {"staff", "finance"}


def test_empty_is_no_mapping() -> None:
    assert parse_group_map("") == {}


@pytest.mark.parametrize("text", ["awu-admins", "=staff", "awu-admins=", "a=staff; b"])
def test_a_malformed_entry_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="AWU_OIDC_GROUPS"):
        parse_group_map(text)


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)


@given(st.dictionaries(_name, st.lists(_name, min_size=1, max_size=3, unique=True), max_size=5))
def test_a_written_mapping_reads_back(mapping: dict[str, list[str]]) -> None:
    text = "; ".join(f"{group}={','.join(roles)}" for group, roles in mapping.items())

    assert parse_group_map(text) == {g: tuple(r) for g, r in mapping.items()}
