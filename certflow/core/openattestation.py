"""An OpenAttestation v2 wrapped document made from one of our credentials, for verifiers that
speak OpenAttestation (its `@govtechsg/oa-verify` library and the apps built on it).

OpenAttestation v2, as its verifier checks it:
- every primitive value in `data` is salted as "<uuid v4>:<type>:<value>" (type: string,
  number, boolean, null), so a field can later be hidden without changing the digest;
- `data` is flattened to dotted paths ("issuers.0.name"; an empty list or object is a value);
  each path and its salted value hashes to keccak256(JSON text of {path: value}), in hex;
- targetHash = keccak256 of the JSON text of those hashes, sorted as strings;
- the Merkle root follows from targetHash and the proof with the convention we share
  (certflow.core.merkle); one document per export, so merkleRoot = targetHash, proof = [];
- the root must be issued in the document store `issuers[0].documentStore` (our registry is
  DocumentStore-compatible: isIssued, isRevoked) and neither targetHash nor root revoked; the
  issuer's DNS TXT record at identityProof.location must list that store for the chain.

Our leaf cannot be made OpenAttestation's targetHash (that is a digest of OpenAttestation's
salted fields), so an export carries its own root, which the issuer anchors in the same
registry; revoking the certificate then means revoking that root too. docs/document.md says so.
The export embeds the whole credential (with its own proof) under `data.credential`, salted like
every other field: unsalting gives it back unchanged, and it still verifies on its own.
"""

import json
import math
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from certflow.core.document import MalformedDocument, certificate_id_of, read_anchor_proof
from certflow.core.hashing import keccak256
from certflow.core.issuer_binding import issuer_domain

SCHEMA_V2 = "https://schema.openattestation.com/2.0/schema.json"
PROOF_TYPE = "SHA3MerkleProof"
# JavaScript writes integers up to here as digits (beyond, in exponent form)
_JS_PLAIN_INTEGER_LIMIT = 10**21


def export(
    credential: Mapping[str, Any], *, new_salt: Callable[[], uuid.UUID] = uuid.uuid4
) -> dict[str, Any]:
    """Our anchored credential as an OpenAttestation v2 wrapped document. Raises
    MalformedDocument when it lacks what the export needs (an anchor proof, an issuer whose id
    names a DNS domain) or holds what OpenAttestation cannot carry (a key with a dot)."""
    proof = read_anchor_proof(credential)
    issuer = credential.get("issuer")
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    domain = issuer_domain(issuer_id) if isinstance(issuer_id, str) else None
    if domain is None:
        raise MalformedDocument("the issuer's id names no DNS domain for OpenAttestation's DNS-TXT")
    issuer_name = issuer.get("name") if isinstance(issuer, Mapping) else None
    data = {
        "id": certificate_id_of(credential),
        "name": credential.get("name") or "",
        "issuedOn": credential.get("awardedDate") or credential.get("validFrom") or "",
        "recipient": {"name": _recipient_name(credential)},
        "issuers": [
            {
                "name": issuer_name if isinstance(issuer_name, str) else domain,
                "documentStore": proof.registry_address,
                "identityProof": {"type": "DNS-TXT", "location": domain},
            }
        ],
        "credential": credential,
    }
    salted = salt_data(data, new_salt)
    target = target_hash(salted)
    return {
        "version": SCHEMA_V2,
        "data": salted,
        "signature": {
            "type": PROOF_TYPE,
            "targetHash": target.hex(),
            "proof": [],
            "merkleRoot": target.hex(),
        },
    }


def salt_data(data: Any, new_salt: Callable[[], uuid.UUID] = uuid.uuid4) -> Any:
    """Every primitive value as "<uuid v4>:<type>:<value>", inside lists and objects."""
    if isinstance(data, Mapping):
        return {key: salt_data(value, new_salt) for key, value in data.items()}
    if isinstance(data, list):
        return [salt_data(value, new_salt) for value in data]
    salt = new_salt()
    if salt.version != 4:
        raise ValueError("OpenAttestation salts are version 4 UUIDs")
    return f"{salt}:{typed_string(data)}"


def typed_string(value: object) -> str:
    """A primitive as OpenAttestation types it, its value written as JavaScript's String()."""
    if value is None:
        return "null:null"
    if isinstance(value, bool):
        return f"boolean:{'true' if value else 'false'}"
    if isinstance(value, int):
        if abs(value) >= _JS_PLAIN_INTEGER_LIMIT:
            raise MalformedDocument(f"the number {value} is too large for OpenAttestation")
        return f"number:{value}"
    if isinstance(value, float):
        # JavaScript and Python write fractions and large numbers differently: only whole
        # numbers are written alike (a credential of ours has none of the others)
        if not math.isfinite(value) or not value.is_integer():
            raise MalformedDocument(f"the number {value!r} cannot be exported")
        return typed_string(int(value))
    if isinstance(value, str):
        return f"string:{value}"
    raise MalformedDocument(f"a {type(value).__name__} cannot be exported")


def target_hash(salted: Any) -> bytes:
    """keccak256 of the JSON text of the sorted hex hashes of each flattened field."""
    hashes = sorted(field_hash(path, value) for path, value in flatten(salted))
    return keccak256(_js_json(hashes).encode())


def field_hash(path: str, value: Any) -> str:
    return keccak256(_js_json({path: value}).encode()).hex()


def flatten(data: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """(dotted path, value) of each leaf; list items by index; an empty list or object is
    itself a value. A dot inside a key would make two paths one: refused, as OpenAttestation
    refuses it."""
    items = data.items() if isinstance(data, Mapping) else ((str(i), v) for i, v in enumerate(data))
    for key, value in items:
        if "." in key:
            raise MalformedDocument(f"the key {key!r} has a dot, which OpenAttestation refuses")
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, (Mapping, list)) and value:
            yield from flatten(value, path)
        else:
            yield path, value


def _js_json(value: Any) -> str:
    """The text JavaScript's JSON.stringify writes for strings, lists and objects of them."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        text.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate, which JavaScript writes escaped
        raise MalformedDocument("the credential holds text that is not Unicode") from exc
    return text


def _recipient_name(credential: Mapping[str, Any]) -> str:
    subject = credential.get("credentialSubject")
    identifiers = subject.get("identifier") if isinstance(subject, Mapping) else None
    for identity in identifiers if isinstance(identifiers, list) else []:
        if isinstance(identity, Mapping) and identity.get("identityType") == "name":
            name = identity.get("identityHash")
            return name if isinstance(name, str) else ""
    return ""
