"""integrations.scim.filter: SCIM filters as Django conditions (no database)."""

from __future__ import annotations

import pytest
from django.db.models import Q
from hypothesis import given
from hypothesis import strategies as st

from integrations.scim.errors import ScimError
from integrations.scim.filter import groups_filter, users_filter

ATTRS = ["userName", "externalId", "emails.value", "displayName", "active", "id", "title", "x"]
OPS = ["eq", "ne", "co", "sw", "ew", "gt", "ge", "lt", "le", "pr", "xx"]
VALUES = ['"a"', '"a@b.co"', "true", "1", "null", '"2026-01-01T00:00:00Z"', '"', ""]


def test_user_name_eq_is_a_case_insensitive_match() -> None:
    assert users_filter('userName eq "Ada"') == Q(user_name__iexact="Ada")


def test_external_id_eq_is_exact() -> None:
    assert users_filter('externalId eq "00u1"') == Q(external_id__exact="00u1")


def test_and_or_combine() -> None:
    condition = users_filter('userName eq "a" or (externalId eq "b" and active eq true)')
    assert condition == Q(user_name__iexact="a") | (
        Q(external_id__exact="b") & Q(active__exact=True)
    )


def test_display_name_of_a_group_is_its_name() -> None:
    assert groups_filter('displayName eq "Payments"') == Q(name__iexact="Payments")


@pytest.mark.parametrize("expression", ['nickName eq "x"', 'userName eq "x" and title pr'])
def test_an_attribute_we_do_not_store_is_invalid_filter(expression: str) -> None:
    with pytest.raises(ScimError) as caught:
        users_filter(expression)
    assert (caught.value.status, caught.value.scim_type) == (400, "invalidFilter")


@given(
    st.text(max_size=40)
    | st.builds(
        lambda parts: " ".join(parts),
        st.lists(
            st.sampled_from(ATTRS + OPS + VALUES + ["and", "or", "not", "(", ")"]), max_size=9
        ),
    )
)
def test_any_text_is_a_condition_or_an_invalid_filter(expression: str) -> None:
    for translate in (users_filter, groups_filter):
        outcome: object
        try:
            outcome = translate(expression)
        except ScimError as error:
            outcome = (error.status, error.scim_type)
        assert isinstance(outcome, Q) or outcome == (400, "invalidFilter")
