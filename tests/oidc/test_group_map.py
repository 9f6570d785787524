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


def test_the_ledger_roles_with_and_without_a_team() -> None:
    mapping = parse_group_map(
        "awu-admins=admin; awu-finance=finance; awu-pay-leads=team_lead:payments;"
        " awu-viewers=viewer; awu-sales=viewer:sales"
    )

    assert mapping["awu-pay-leads"] == ("team_lead:payments",)
    assert roles_for(["awu-sales", "awu-finance"], mapping) == {"viewer:sales", "finance"}


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("leads=team_lead", "team_lead needs a team"),
        ("admins=admin:payments", "admin holds for every team"),
        ("fin=finance:sales", "finance holds for every team"),
        ("x=staff:payments", "only team_lead and viewer name a team"),
    ],
)
def test_a_role_with_a_wrong_team_is_a_settings_error_naming_the_entry(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why) as refused:
        parse_group_map(f"ok=viewer; {text}")
    assert text in str(refused.value)


@pytest.mark.parametrize("text", ["awu-admins", "=staff", "awu-admins=", "a=staff; b"])
def test_a_malformed_entry_is_refused_by_name(text: str) -> None:
    with pytest.raises(ValueError, match="AWU_OIDC_GROUPS"):
        parse_group_map(text)


_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.", min_size=1, max_size=12)


_role = _name.filter(lambda r: r != "team_lead")  # a team lead must name a team


@given(st.dictionaries(_name, st.lists(_role, min_size=1, max_size=3, unique=True), max_size=5))
def test_a_written_mapping_reads_back(mapping: dict[str, list[str]]) -> None:
    text = "; ".join(f"{group}={','.join(roles)}" for group, roles in mapping.items())

    assert parse_group_map(text) == {g: tuple(r) for g, r in mapping.items()}
