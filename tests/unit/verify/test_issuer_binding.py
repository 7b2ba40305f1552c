"""The pure issuer-binding decision: what an issuer's DNS TXT records and profile list, and
which proofs' registries that binds (no servers; tests/integration/verify/test_issuer_identity.py
reads the same from real DNS and HTTP servers)."""

import pytest

from certflow.core.issuer_binding import (
    Binding,
    Publication,
    Published,
    RegistryRef,
    decide,
    issuer_domain,
    profile_document,
    profile_url,
    registries_in_profile,
    registries_in_txt,
    txt_record,
)

OURS = RegistryRef.of(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
COPY = RegistryRef.of(31337, "0x" + "c0" * 20)
OTHER_CHAIN = RegistryRef.of(1, OURS.address)


def lists(*registries: RegistryRef, source: str = "DNS TXT of example.edu") -> Published:
    return Published(source, Publication.LISTS, frozenset(registries))


def test_openattestation_txt_records_are_read() -> None:
    records = [
        "v=spf1 -all",
        f"openatts net=ethereum netId=31337 addr={OURS.address.upper().replace('0X', '0x')}",
        "openatts net=ethereum netId=1 addr=0x" + "c0" * 20,
        "openatts net=bitcoin netId=1 addr=0x" + "c0" * 20,  # not an EVM registry
        "openatts net=ethereum netId=x addr=0x" + "c0" * 20,  # no chain id
        "openatts net=ethereum netId=1 addr=0x1234",  # not an address
        "openatts net=ethereum netId=٣ addr=0x" + "c0" * 20,  # Arabic-Indic digit: not ASCII
        "openattsnet=ethereum",
    ]
    assert registries_in_txt(records) == {OURS, RegistryRef.of(1, "0x" + "c0" * 20)}
    assert registries_in_txt([txt_record(OURS)]) == {OURS}


def test_an_open_badges_profile_and_a_did_document_are_read() -> None:
    profile = profile_document("https://example.edu/issuer", "Example", [OURS, OTHER_CHAIN])
    assert registries_in_profile(profile) == {OURS, OTHER_CHAIN}
    did_document = {
        "id": "did:web:example.edu",
        "service": [
            {
                "id": "#r",
                "type": "CertflowRegistry",
                "serviceEndpoint": f"eip155:31337:{COPY.address}",
            },
            {"id": "#x", "type": "LinkedDomains", "serviceEndpoint": "https://example.edu"},
        ],
    }
    assert registries_in_profile(did_document) == {COPY}


@pytest.mark.parametrize(
    "profile",
    [
        None,
        [],
        "text",
        {"otherIdentifier": "eip155:31337:" + OURS.address},  # not an IdentifierEntry
        {"otherIdentifier": [{"identifierType": "systemId", "identifier": str(OURS)}]},
        {"otherIdentifier": [{"identifierType": "ext:CertflowRegistry", "identifier": "0x12"}]},
        {"service": [{"type": "CertflowRegistry", "serviceEndpoint": "eip155:0:" + OURS.address}]},
    ],
)
def test_anything_else_in_a_profile_lists_nothing(profile: object) -> None:
    assert registries_in_profile(profile) == frozenset()


def test_a_listed_registry_is_bound_by_either_source() -> None:
    profile = lists(source="issuer profile https://example.edu/issuer")
    decision = decide(
        OURS, [lists(COPY), Published(profile.source, Publication.LISTS, frozenset({OURS}))]
    )
    assert decision.binding is Binding.BOUND
    assert decision.message == f"issuer profile https://example.edu/issuer lists registry {OURS}"
    assert decide(OURS, [lists(OURS), Published.unreachable("profile")]).binding is Binding.BOUND


def test_a_copy_of_the_registry_is_not_listed_and_the_message_says_what_is() -> None:
    decision = decide(COPY, [lists(OURS), Published.absent("issuer profile https://example.edu/")])
    assert decision.binding is Binding.NOT_LISTED
    assert str(COPY) in decision.message
    assert f"DNS TXT of example.edu: {OURS}" in decision.message
    assert "issuer profile https://example.edu/: none published" in decision.message


def test_the_same_address_on_another_chain_is_another_registry() -> None:
    assert decide(OTHER_CHAIN, [lists(OURS)]).binding is Binding.NOT_LISTED


def test_no_answer_and_no_listing_is_no_verdict() -> None:
    decision = decide(OURS, [lists(COPY), Published.unreachable("issuer profile https://x.edu/")])
    assert decision.binding is Binding.UNKNOWN
    assert "issuer profile https://x.edu/" in decision.message


def test_an_id_naming_no_domain_binds_nothing() -> None:
    decision = decide(OURS, [])
    assert decision.binding is Binding.NOT_LISTED
    assert "names no domain" in decision.message


@pytest.mark.parametrize(
    ("issuer_id", "domain", "url"),
    [
        ("https://Example.EDU/issuers/demo", "example.edu", "https://example.edu/issuers/demo"),
        ("https://example.edu", "example.edu", "https://example.edu/"),
        ("https://example.edu:443/i?x=1", "example.edu", "https://example.edu/i?x=1"),
        ("did:web:example.edu", "example.edu", "https://example.edu/.well-known/did.json"),
        (
            "did:web:example.edu:issuers:demo",
            "example.edu",
            "https://example.edu/issuers/demo/did.json",
        ),
        ("http://example.edu/issuer", None, None),  # not HTTPS: anyone on the path could answer
        ("https://example.edu:8443/issuer", None, None),
        ("https://10.0.0.5/issuer", None, None),  # an address inside someone's network
        ("https://[::1]/issuer", None, None),
        ("https://user@example.edu/", None, None),
        ("https://localhost/", None, None),
        ("urn:uuid:3f1c9a52-0000-4000-8000-000000000000", None, None),
        ("did:key:z6Mk", None, None),
        ("https://example.edu/" + "a" * 1980, "example.edu", "https://example.edu/" + "a" * 1980),
        ("https://example.edu/" + "a" * 1981, None, None),  # over MAX_ISSUER_ID_CHARS
    ],
)
def test_where_an_issuer_id_is_resolved(
    issuer_id: str, domain: str | None, url: str | None
) -> None:
    assert issuer_domain(issuer_id) == domain
    assert profile_url(issuer_id) == url


def test_a_base_url_replaces_scheme_and_host_only() -> None:
    base = "http://127.0.0.1:8088/"
    assert (
        profile_url("https://example.edu/issuers/demo", base)
        == "http://127.0.0.1:8088/issuers/demo"
    )
    assert profile_url("did:web:example.edu", base) == "http://127.0.0.1:8088/.well-known/did.json"
