"""/scim/v2/Users: people provisioned, filtered, patched the way Okta and Entra ID do."""

from __future__ import annotations

import pytest

from ledger import directory
from ledger.models import Identity, Membership, Person, Team
from tests.integrations.scim.conftest import ENTERPRISE, PATCH, USER, Scim, error_of, user

pytestmark = pytest.mark.django_db


def create(scim: Scim, user_name: str, **extra: object) -> dict:
    response = scim.post("/Users", user(user_name, **extra))
    assert response.status_code == 201, response.content
    return response.json()


def test_a_created_user_is_a_person_with_its_emails_as_identities(scim: Scim) -> None:
    body = create(
        scim,
        "ada.lovelace@example.com",
        externalId="00u1",
        emails=[
            {"value": "ada.lovelace@example.com", "primary": True, "type": "work"},
            {"value": "ada@home.example", "type": "home"},
        ],
        **{ENTERPRISE: {"department": "R&D", "costCenter": "CC-9"}},
    )
    person = Person.objects.get(pk=int(body["id"]))
    assert person.user_name == "ada.lovelace@example.com"
    assert person.external_id == "00u1"
    assert person.name == "Ada Lovelace"
    assert person.email == "ada.lovelace@example.com"
    assert (person.department, person.cost_centre, person.active) == ("R&D", "CC-9", True)
    identities = Identity.objects.filter(person=person)
    assert {i.value for i in identities} == {"ada.lovelace@example.com", "ada@home.example"}
    assert {i.origin for i in identities} == {"scim"}


def test_the_answer_is_scim_json_with_meta_location_and_a_weak_etag(scim: Scim) -> None:
    response = scim.post("/Users", user("grace@example.com"))
    body = response.json()
    assert response["Content-Type"].startswith("application/scim+json")
    assert response["Location"] == body["meta"]["location"]
    assert body["meta"]["location"].endswith(f"/scim/v2/Users/{body['id']}")
    assert body["meta"]["resourceType"] == "User"
    assert response["ETag"] == body["meta"]["version"]
    assert body["meta"]["version"].startswith('W/"')
    assert {"created", "lastModified"} <= set(body["meta"])


def test_a_person_typed_in_before_is_adopted_by_email_not_duplicated(scim: Scim) -> None:
    existing = Person.objects.create(name="Alan", email="alan@example.com")
    body = create(scim, "alan@example.com")
    assert body["id"] == str(existing.pk)
    assert Person.objects.count() == 1


def test_the_manager_is_a_user_id_as_okta_and_entra_send_it(scim: Scim) -> None:
    boss = create(scim, "boss@example.com")
    body = create(scim, "worker@example.com", **{ENTERPRISE: {"manager": {"value": boss["id"]}}})
    assert Person.objects.get(pk=int(body["id"])).manager_id == int(boss["id"])
    assert body[ENTERPRISE]["manager"]["value"] == boss["id"]
    # Entra ID: the manager's id as a bare string on the attribute's full path.
    other = create(scim, "other@example.com")
    response = scim.patch(
        f"/Users/{other['id']}", {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": boss["id"]}
    )
    assert response.status_code == 200, response.content
    assert Person.objects.get(pk=int(other["id"])).manager_id == int(boss["id"])


@pytest.mark.parametrize(
    ("query", "matches"),
    [
        ('userName eq "ADA@example.com"', ["ada"]),
        ('externalId eq "ext-bob"', ["bob"]),
        ('emails.value eq "bob@example.com"', ["bob"]),
        ('emails[value eq "bob@example.com"]', ["bob"]),
        ('userName eq "ada@example.com" or userName eq "bob@example.com"', ["ada", "bob"]),
        ('userName sw "a" and externalId pr', []),
        ("externalId pr", ["bob"]),
        (f'{ENTERPRISE}:department eq "Ops"', ["ada"]),
        ("active eq true", ["ada", "bob"]),
        ('not (userName eq "ada@example.com")', ["bob"]),
    ],
)
def test_filters(scim: Scim, query: str, matches: list[str]) -> None:
    create(scim, "ada@example.com", **{ENTERPRISE: {"department": "Ops"}})
    create(scim, "bob@example.com", externalId="ext-bob")
    response = scim.get(f"/Users?filter={query}")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["schemas"] == ["urn:ietf:params:scim:api:messages:2.0:ListResponse"]
    assert [r["userName"].split("@")[0] for r in body["Resources"]] == matches
    assert body["totalResults"] == len(matches)


def test_pagination_is_one_based_with_totals(scim: Scim) -> None:
    for n in range(5):
        create(scim, f"user{n}@example.com")
    body = scim.get("/Users?startIndex=2&count=2").json()
    assert body["totalResults"] == 5
    assert body["startIndex"] == 2
    assert body["itemsPerPage"] == 2
    assert [r["userName"] for r in body["Resources"]] == [
        "user1@example.com",
        "user2@example.com",
    ]
    assert scim.get("/Users?startIndex=0&count=0").json()["Resources"] == []


def test_attributes_and_excluded_attributes_shape_the_answer(scim: Scim) -> None:
    body = create(scim, "shape@example.com")
    only = scim.get(f"/Users/{body['id']}?attributes=userName").json()
    assert set(only) == {"schemas", "id", "userName"}
    without = scim.get(f"/Users/{body['id']}?excludedAttributes=emails").json()
    assert "emails" not in without
    assert without["userName"] == "shape@example.com"


def test_put_replaces_the_user_and_its_emails(scim: Scim) -> None:
    body = create(scim, "old@example.com")
    replacement = user("new@example.com", externalId="e-1")
    response = scim.put(f"/Users/{body['id']}", replacement)
    assert response.status_code == 200, response.content
    person = Person.objects.get(pk=int(body["id"]))
    assert (person.user_name, person.email, person.external_id) == (
        "new@example.com",
        "new@example.com",
        "e-1",
    )
    assert not Identity.objects.filter(value="old@example.com").exists()
    assert Identity.history.filter(value="old@example.com", retracted_at__isnull=False).exists()


def test_okta_deactivation_ends_memberships_and_keeps_the_person(scim: Scim) -> None:
    body = create(scim, "leaver@example.com")
    person = Person.objects.get(pk=int(body["id"]))
    directory.membership_start(person=person, team=Team.objects.create(slug="t", name="T"))
    response = scim.patch(f"/Users/{body['id']}", {"op": "replace", "value": {"active": False}})
    assert response.status_code == 200, response.content
    assert response.json()["active"] is False
    person.refresh_from_db()
    assert person.active is False
    assert not Membership.objects.filter(person=person, valid_to__isnull=True).exists()
    assert Membership.objects.filter(person=person).exists()  # history kept


@pytest.mark.parametrize(
    "operation",
    [
        {"op": "Replace", "path": "active", "value": "False"},
        {"op": "replace", "path": "active", "value": False},
        {"op": "Replace", "value": {"active": "False"}},
    ],
)
def test_entra_and_okta_deactivation_shapes(scim: Scim, operation: dict) -> None:
    body = create(scim, "shapes@example.com")
    response = scim.patch(f"/Users/{body['id']}", operation)
    assert response.status_code == 200, response.content
    assert Person.objects.get(pk=int(body["id"])).active is False


def test_entra_patches_enterprise_attributes_by_full_path(scim: Scim) -> None:
    body = create(scim, "entra@example.com")
    response = scim.patch(
        f"/Users/{body['id']}",
        {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Finance"},
        {"op": "Add", "path": f"{ENTERPRISE}:costCenter", "value": "CC-1"},
        {"op": "Replace", "path": "name.familyName", "value": "Jones"},
        {"op": "Add", "path": 'emails[type eq "home"].value', "value": "e@home.example"},
    )
    assert response.status_code == 200, response.content
    person = Person.objects.get(pk=int(body["id"]))
    assert (person.department, person.cost_centre) == ("Finance", "CC-1")
    assert person.name.endswith("Jones")
    assert Identity.objects.filter(person=person, value="e@home.example").exists()


def test_delete_deactivates_and_releases_the_user_but_keeps_the_person(scim: Scim) -> None:
    body = create(scim, "gone@example.com")
    assert scim.delete(f"/Users/{body['id']}").status_code == 204
    person = Person.objects.get(pk=int(body["id"]))
    assert person.active is False
    assert person.user_name is None
    assert error_of(scim.get(f"/Users/{body['id']}"))[0] == 404
    assert Identity.objects.filter(person=person, value="gone@example.com").exists()
    # Provisioned again later: the same person, active again.
    again = create(scim, "gone@example.com")
    assert again["id"] == body["id"]
    assert again["active"] is True


def test_if_match_with_an_old_version_is_refused_with_412(scim: Scim) -> None:
    body = create(scim, "etag@example.com")
    old = body["meta"]["version"]
    scim.patch(f"/Users/{body['id']}", {"op": "replace", "path": "title", "value": "CTO"})
    response = scim.patch(
        f"/Users/{body['id']}",
        {"op": "replace", "path": "title", "value": "CEO"},
        HTTP_IF_MATCH=old,
    )
    assert error_of(response)[0] == 412
    current = scim.get(f"/Users/{body['id']}")
    assert scim.get(f"/Users/{body['id']}", HTTP_IF_NONE_MATCH=current["ETag"]).status_code == 304
    fresh = scim.put(
        f"/Users/{body['id']}", user("etag@example.com"), HTTP_IF_MATCH=current["ETag"]
    )
    assert fresh.status_code == 200


# Bad input: every case answers a SCIM error, never a 500.


def test_a_duplicate_user_name_is_409_uniqueness_whatever_the_case(scim: Scim) -> None:
    create(scim, "dup@example.com")
    body = user("DUP@example.com")
    body["emails"] = [{"value": "other@example.com", "primary": True}]
    assert error_of(scim.post("/Users", body))[:2] == (409, "uniqueness")


def test_a_duplicate_external_id_is_409_uniqueness(scim: Scim) -> None:
    create(scim, "one@example.com", externalId="same")
    assert error_of(scim.post("/Users", user("two@example.com", externalId="same")))[:2] == (
        409,
        "uniqueness",
    )


@pytest.mark.parametrize(
    ("body", "scim_type", "names"),
    [
        ({"schemas": [USER]}, "invalidValue", "userName"),
        ({"schemas": [USER], "userName": 42}, "invalidValue", "userName"),
        ({"schemas": [USER], "userName": "x", "active": "maybe"}, "invalidValue", "active"),
        (
            {"schemas": [USER], "userName": "x", "emails": [{"value": "not-an-email"}]},
            None,
            "emails",
        ),
        ({"schemas": [USER], "userName": "x", "emails": "a@b.c"}, None, "emails"),
        ({"schemas": [USER], "userName": "x" * 201}, "invalidValue", "userName"),
        ({"schemas": [USER], "userName": "x", "name": "plain"}, None, "name"),
        (["a", "list"], "invalidSyntax", "object"),
    ],
)
def test_schema_breaks_are_400_naming_the_attribute(
    scim: Scim, body: object, scim_type: str | None, names: str
) -> None:
    status, got_type, detail = error_of(scim.post("/Users", body))
    assert status == 400
    assert got_type in ({scim_type} if scim_type else {"invalidValue", "invalidSyntax"})
    assert names in detail


def test_a_body_that_is_not_json_is_400_invalid_syntax(scim: Scim) -> None:
    assert error_of(scim.post("/Users", b"{not json"))[:2] == (400, "invalidSyntax")


def test_an_unknown_manager_is_400_naming_it(scim: Scim) -> None:
    status, scim_type, detail = error_of(
        scim.post("/Users", user("m@example.com", **{ENTERPRISE: {"manager": {"value": "999"}}}))
    )
    assert (status, scim_type) == (400, "invalidValue")
    assert "999" in detail


@pytest.mark.parametrize(
    "query",
    [
        'nickName eq "x"',
        'foo eq "x"',
        "userName eq",
        "((",
        'userName xx "a"',
        'userName eq "a" and',
    ],
)
def test_a_filter_we_cannot_run_is_400_invalid_filter(scim: Scim, query: str) -> None:
    assert error_of(scim.get(f"/Users?filter={query}"))[:2] == (400, "invalidFilter")


@pytest.mark.parametrize("params", ["startIndex=abc", "count=1.5"])
def test_a_non_integer_page_parameter_is_400(scim: Scim, params: str) -> None:
    assert error_of(scim.get(f"/Users?{params}"))[:2] == (400, "invalidValue")


@pytest.mark.parametrize("user_id", ["999999", "abc", "9" * 40])
def test_an_unknown_user_is_404(scim: Scim, user_id: str) -> None:
    assert error_of(scim.get(f"/Users/{user_id}"))[0] == 404
    assert error_of(scim.patch(f"/Users/{user_id}", {"op": "replace", "value": {}}))[0] == 404
    assert error_of(scim.delete(f"/Users/{user_id}"))[0] == 404


@pytest.mark.parametrize(
    "body",
    [
        {"schemas": [PATCH], "Operations": [{"op": "explode", "path": "title", "value": "x"}]},
        {"schemas": [PATCH], "Operations": "replace"},
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "id", "value": "7"}]},
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "active", "value": "yes!"}]},
        {"schemas": [PATCH], "Operations": [{"op": "replace", "path": "((", "value": 1}]},
        {"schemas": ["urn:wrong"], "Operations": []},
    ],
)
def test_a_bad_patch_is_a_400_scim_error(scim: Scim, body: dict) -> None:
    created = create(scim, "patchme@example.com")
    status, _, _ = error_of(scim.call("PATCH", f"/Users/{created['id']}", body))
    assert status == 400


@pytest.mark.parametrize(
    "query",
    [
        "active pr",
        "meta.created pr",
        "id pr",
        'id co "1"',
        'manager.value gt "2"',
        "emails.value co null",
        "emails.value eq null",
        "externalId eq null",
        "meta.lastModified gt 1",
        'meta.lastModified gt "2020-01-01T00:00:00Z"',
        'active eq "yes"',
        f"{ENTERPRISE}:manager.value pr",
    ],
)
def test_edge_filters_answer_a_list_or_invalid_filter(scim: Scim, query: str) -> None:
    create(scim, "edge@example.com")
    response = scim.get(f"/Users?filter={query}")
    if response.status_code != 200:
        assert error_of(response)[:2] == (400, "invalidFilter")


def test_okta_create_body_with_password_and_read_only_attributes_is_accepted(scim: Scim) -> None:
    # As Okta sends it: a password we never keep, an empty groups list, a locale.
    body = user(
        "okta.user@example.com",
        password="s3cret-Pa55",
        groups=[],
        locale="en-US",
        displayName="Okta User",
    )
    response = scim.post("/Users", body)
    assert response.status_code == 201, response.content
    person = Person.objects.get(pk=int(response.json()["id"]))
    assert "password" not in person.directory_attributes
    assert "s3cret" not in str(person.directory_attributes)
    assert response.json()["locale"] == "en-US"
    assert "password" not in response.json()
