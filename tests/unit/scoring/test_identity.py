from services.scoring.domain.identity import (
    Identifier,
    identifiers_of,
    resolve,
    same_person_possible,
)

A1 = Identifier("anonymous", "a1")
A2 = Identifier("anonymous", "a2")
U1 = Identifier("user", "u1")
U2 = Identifier("user", "u2")
E1 = Identifier("email", "ada@acme.example")
E2 = Identifier("email", "ada@home.example")


def owned(**leads: set[Identifier]) -> dict[Identifier, tuple[str, frozenset[Identifier]]]:
    return {i: (lead, frozenset(ids)) for lead, ids in leads.items() for i in ids}


def test_identifiers_come_from_ids_traits_and_context() -> None:
    payload = {"user_id": "u1", "anonymous_id": "a1", "traits": {"email": " Ada@ACME.example "}}
    assert identifiers_of("identify", payload) == [U1, E1, A1]
    assert identifiers_of(
        "track", {"anonymous_id": "a1", "context": {"traits": {"email": "ada@acme.example"}}}
    ) == [E1, A1]
    assert identifiers_of(
        "track", {"anonymous_id": "a1", "traits": {"email": "ignored@x.example"}}
    ) == [A1]
    assert identifiers_of("alias", {"user_id": "u1", "previous_id": "a2"}) == [U1, A2]
    assert identifiers_of("identify", {"user_id": "u1", "traits": {"email": "not-an-email"}}) == [
        U1
    ]


def test_a_new_visitor_gets_a_new_lead() -> None:
    r = resolve([A1], {})
    assert (r.lead_id, r.link, r.merge, r.conflicts) == (None, {A1}, [], [])


def test_a_known_browser_stays_with_its_lead() -> None:
    r = resolve([A1], owned(L1={A1}))
    assert (r.lead_id, r.link, r.merge) == ("L1", set(), [])


def test_identify_joins_the_anonymous_history_to_the_known_lead() -> None:
    r = resolve([U1, A1], owned(K={U1, E1}, A={A1}))
    assert (r.lead_id, r.merge, r.conflicts) == ("K", ["A"], [])


def test_identify_of_a_new_person_makes_the_anonymous_lead_known() -> None:
    r = resolve([U1, E1, A1], owned(A={A1}))
    assert (r.lead_id, r.link, r.merge) == ("A", {U1, E1}, [])


def test_same_user_id_with_a_new_email_is_the_same_person() -> None:
    r = resolve([U1, E2], owned(K={U1, E1}))
    assert (r.lead_id, r.link, r.conflicts) == ("K", {E2}, [])


def test_two_known_people_on_one_browser_are_never_merged() -> None:
    # u2 signs in on the computer u1 used: a new lead for u2, the browser stays u1's.
    r = resolve([U2, A1], owned(K1={U1, A1}))
    assert r.lead_id is None
    assert r.link == {U2}
    assert r.merge == []
    [conflict] = r.conflicts
    assert conflict.other_lead_id == "K1"
    assert "different userIds" in conflict.reason


def test_an_email_owned_by_another_user_is_a_conflict_not_a_merge() -> None:
    r = resolve([U2, E1], owned(K1={U1, E1}))
    assert r.lead_id is None
    assert r.merge == []
    assert [c.other_lead_id for c in r.conflicts] == ["K1"]


def test_different_emails_without_user_ids_are_different_people() -> None:
    assert same_person_possible({E1}, {E2}) == (
        False,
        "different emails ['ada@acme.example'] and ['ada@home.example']",
    )
    assert same_person_possible({E1, A1}, {A1}) == (True, "")
    assert same_person_possible({U1, E1}, {U1, E2})[0]


def test_alias_links_the_previous_anonymous_history() -> None:
    r = resolve([U1, A2], owned(K={U1}, A={A2}))
    assert (r.lead_id, r.merge) == ("K", ["A"])
