"""Which registries an issuer publishes as its own, and whether a proof's registry is one of them.

Anyone can deploy a copy of the registry contract and anchor a credential that claims any
issuer's name. What binds an issuer to a registry is something only the issuer controls,
published where any verifier can read it without us (docs/document.md, "Issuer binding"):

- a DNS TXT record on the domain of the issuer's id, in OpenAttestation's form
  `openatts net=ethereum netId=<chain id> addr=<registry address>`;
- the issuer's profile, served over HTTPS at its id: an Open Badges 3.0 `Profile` whose
  `otherIdentifier` has `{"identifierType": "ext:CertflowRegistry",
  "identifier": "eip155:<chain id>:<registry address>"}` (a CAIP-10 account id) — or, for a
  `did:web` id, its DID document with a `service` of type `CertflowRegistry` and that
  CAIP-10 id as `serviceEndpoint`.

Either one listing the proof's registry binds it. This module is pure: the resolving (DNS,
HTTPS, caching) is an adapter (certflow.platform.issuer_identity).
"""

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, unquote, urlsplit

REGISTRY_IDENTIFIER_TYPE = "ext:CertflowRegistry"
REGISTRY_SERVICE_TYPE = "CertflowRegistry"
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_CAIP10 = re.compile(r"eip155:([1-9][0-9]{0,18}):(0x[0-9a-fA-F]{40})")
# a DNS name: labels of letters, digits and hyphens (IDNs arrive here as A-labels, xn--…)
_DOMAIN = re.compile(r"(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9-]{1,63}")
# What an issuer id may be to be resolved: URLs beyond ~2,000 characters are not served (nor
# sensible ids), and what is read is remembered per id, so an id may not be a posted megabyte.
MAX_ISSUER_ID_CHARS = 2000


@dataclass(frozen=True, slots=True, order=True)
class RegistryRef:
    """A registry contract on one chain; the address in lower case (checksums are not needed
    to compare, and issuers publish either form)."""

    chain_id: int
    address: str

    @classmethod
    def of(cls, chain_id: int, address: str) -> "RegistryRef":
        return cls(chain_id, address.lower())

    def __str__(self) -> str:
        return f"eip155:{self.chain_id}:{self.address}"


class Publication(StrEnum):
    LISTS = "lists"  # the source answered; it lists these registries (perhaps none)
    ABSENT = "absent"  # the source answered that there is nothing (NXDOMAIN, 404, no record)
    UNREACHABLE = "unreachable"  # no answer (timeout, refused, server error): nothing known


@dataclass(frozen=True, slots=True)
class Published:
    """What one source (the DNS TXT records, or the profile) says about an issuer."""

    source: str  # e.g. "DNS TXT of example.edu", "issuer profile https://example.edu/issuer"
    state: Publication
    registries: frozenset[RegistryRef] = frozenset()

    @classmethod
    def absent(cls, source: str) -> "Published":
        return cls(source, Publication.ABSENT)

    @classmethod
    def unreachable(cls, source: str) -> "Published":
        return cls(source, Publication.UNREACHABLE)


class Binding(StrEnum):
    BOUND = "bound"
    NOT_LISTED = "not_listed"  # every source answered, none lists the registry: a verdict
    UNKNOWN = "unknown"  # none lists it and some could not be asked: no verdict, retry


@dataclass(frozen=True, slots=True)
class BindingDecision:
    binding: Binding
    message: str


def decide(registry: RegistryRef, published: Sequence[Published]) -> BindingDecision:
    """Bound when any source lists the registry; not listed when every source answered without
    it; unknown when none lists it and at least one could not be asked (a verifier must not call
    a genuine certificate forged because the issuer's web server was down)."""
    for source in published:
        if source.state is Publication.LISTS and registry in source.registries:
            return BindingDecision(Binding.BOUND, f"{source.source} lists registry {registry}")
    unreachable = [s.source for s in published if s.state is Publication.UNREACHABLE]
    if unreachable:
        return BindingDecision(
            Binding.UNKNOWN,
            f"the issuer's published registries could not be read ({', '.join(unreachable)})",
        )
    said = "; ".join(_what_it_says(s) for s in published) or "the issuer's id names no domain"
    return BindingDecision(
        Binding.NOT_LISTED, f"the issuer does not list registry {registry} as its own: {said}"
    )


def _what_it_says(source: Published) -> str:
    if source.state is Publication.ABSENT or not source.registries:
        return f"{source.source}: none published"
    return f"{source.source}: " + ", ".join(str(r) for r in sorted(source.registries))


def issuer_domain(issuer_id: str) -> str | None:
    """The DNS name that speaks for an issuer: the host of an https id, the domain of a did:web
    id. None for anything else (a urn, an IP address, a port other than 443, an id longer than
    MAX_ISSUER_ID_CHARS)."""
    if len(issuer_id) > MAX_ISSUER_ID_CHARS:
        return None
    if issuer_id.startswith("did:web:"):
        host = unquote(issuer_id.removeprefix("did:web:").split(":", 1)[0])
        return _domain_or_none(host)
    try:
        parts = urlsplit(issuer_id)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or port not in (None, 443) or parts.username is not None:
        return None
    return _domain_or_none(parts.hostname or "")


def _domain_or_none(host: str) -> str | None:
    host = host.lower().rstrip(".")
    try:
        ipaddress.ip_address(host)
        return None  # an address speaks for nobody, and must not make us fetch from it
    except ValueError:
        pass
    return host if _DOMAIN.fullmatch(host) and "." in host else None


def profile_url(issuer_id: str, base_url: str = "") -> str | None:
    """Where the issuer's profile is read: the https id itself; for did:web, the DID document
    (did:web:example.edu → https://example.edu/.well-known/did.json, did:web:example.edu:a:b →
    https://example.edu/a/b/did.json). base_url, when set, replaces scheme and host (a local
    stack or a test serves every issuer's profile from one server)."""
    domain = issuer_domain(issuer_id)
    if domain is None:
        return None
    if issuer_id.startswith("did:web:"):
        segments = [unquote(s) for s in issuer_id.removeprefix("did:web:").split(":")[1:]]
        path = "/" + "/".join(quote(s) for s in segments) + "/did.json"
        path = path if segments else "/.well-known/did.json"
    else:
        parts = urlsplit(issuer_id)
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    origin = base_url.rstrip("/") if base_url else f"https://{domain}"
    return origin + path


def registries_in_txt(records: Iterable[str]) -> frozenset[RegistryRef]:
    """The registries named by OpenAttestation-style TXT records; other records are ignored."""
    found: set[RegistryRef] = set()
    for record in records:
        words = record.split()
        if not words or words[0] != "openatts":
            continue
        fields = dict(word.split("=", 1) for word in words[1:] if "=" in word)
        net, chain, address = fields.get("net"), fields.get("netId", ""), fields.get("addr", "")
        numeric = chain.isascii() and chain.isdigit() and 0 < int(chain) < 2**63
        if net == "ethereum" and numeric and _ADDRESS.fullmatch(address):
            found.add(RegistryRef.of(int(chain), address))
    return frozenset(found)


def registries_in_profile(profile: object) -> frozenset[RegistryRef]:
    """The registries an issuer profile lists: OB 3.0 `otherIdentifier` entries of type
    ext:CertflowRegistry, and DID document `service` entries of type CertflowRegistry."""
    if not isinstance(profile, dict):
        return frozenset()
    found: set[RegistryRef] = set()
    for entry in _listed(profile.get("otherIdentifier")):
        if entry.get("identifierType") == REGISTRY_IDENTIFIER_TYPE:
            found.update(_caip10(entry.get("identifier")))
    for entry in _listed(profile.get("service")):
        if REGISTRY_SERVICE_TYPE in _listed_strings(entry.get("type")):
            found.update(_caip10(entry.get("serviceEndpoint")))
    return frozenset(found)


def _listed(value: object) -> list[dict[str, object]]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _listed_strings(value: object) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, str)]


def _caip10(value: object) -> list[RegistryRef]:
    match = _CAIP10.fullmatch(value) if isinstance(value, str) else None
    if match is None or int(match[1]) >= 2**63:
        return []
    return [RegistryRef.of(int(match[1]), match[2])]


def txt_record(registry: RegistryRef) -> str:
    """The TXT record an issuer publishes for a registry."""
    return f"openatts net=ethereum netId={registry.chain_id} addr={registry.address}"


def profile_document(
    issuer_id: str, name: str, registries: Iterable[RegistryRef]
) -> dict[str, object]:
    """An Open Badges 3.0 issuer Profile listing the issuer's registries (what an issuer serves
    at its id; the local stack serves the demo issuer's)."""
    return {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json",
        ],
        "id": issuer_id,
        "type": ["Profile"],
        "name": name,
        "otherIdentifier": [
            {
                "type": "IdentifierEntry",
                "identifierType": REGISTRY_IDENTIFIER_TYPE,
                "identifier": str(registry),
            }
            for registry in sorted(registries)
        ],
    }
