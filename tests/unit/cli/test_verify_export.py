"""The OpenAttestation v2 export (certflow.core.openattestation) and `certflow export-oa`,
offline. OpenAttestation's verifier itself runs on it in tests/e2e/test_openattestation.py."""

import itertools
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from certflow.core.document import MalformedDocument
from certflow.core.openattestation import export, salt_data, target_hash, typed_string
from certflow_cli.app import cli

ROOT = Path(__file__).resolve().parents[3]
VECTORS: dict[str, Any] = json.loads((ROOT / "docs" / "test-vectors" / "v1.json").read_text())
CREDENTIAL: dict[str, Any] = next(c for c in VECTORS["cases"] if c["name"] == "ascii")["document"]

# Computed with OpenAttestation's own digestDocument (@govtechsg/open-attestation 6.9, its
# 2.0/digest module) on this data: escapes, U+2028, non-ASCII, empty list and object.
KNOWN_DATA = {
    "a": '3f2504e0-4f89-41d3-9a0c-0305e82c3301:string:Zoë "x"\n\u2028',
    "b": ["3f2504e0-4f89-41d3-9a0c-0305e82c3302:number:7", [], {}],
    "c": {
        "d": "3f2504e0-4f89-41d3-9a0c-0305e82c3303:null:null",
        "e": "3f2504e0-4f89-41d3-9a0c-0305e82c3304:boolean:true",
    },
}
KNOWN_TARGET_HASH = "17d721df645419f3c5bc0189d18738c647bac5f6f4ef13137f0ad54954bc0376"


def counting_salts() -> Callable[[], uuid.UUID]:
    numbers = itertools.count(1)
    return lambda: uuid.UUID(int=next(numbers), version=4)


def unsalted(value: Any) -> Any:
    """OpenAttestation's unsalt: drop "<uuid>:", read "<type>:<value>" back."""
    if isinstance(value, dict):
        return {k: unsalted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unsalted(v) for v in value]
    kind, _, text = value[37:].partition(":")
    return {
        "string": lambda: text,
        "number": lambda: int(text),
        "boolean": lambda: text == "true",
        "null": lambda: None,
    }[kind]()


def test_the_target_hash_is_openattestations_digest() -> None:
    assert target_hash(KNOWN_DATA).hex() == KNOWN_TARGET_HASH


def test_values_are_salted_with_uuid4_and_typed_as_javascript_writes_them() -> None:
    assert [typed_string(v) for v in ("x:y", 7, 7.0, True, False, None)] == [
        "string:x:y",
        "number:7",
        "number:7",
        "boolean:true",
        "boolean:false",
        "null:null",
    ]
    salted = salt_data({"a": [1, "b"]}, counting_salts())
    assert salted == {
        "a": [
            "00000000-0000-4000-8000-000000000001:number:1",
            "00000000-0000-4000-8000-000000000002:string:b",
        ]
    }


def test_an_export_unsalts_back_to_the_credential() -> None:
    document = export(CREDENTIAL, new_salt=counting_salts())
    assert unsalted(document["data"]["credential"]) == CREDENTIAL
    anchor = CREDENTIAL["proof"]["anchor"]
    assert unsalted(document["data"]["issuers"]) == [
        {
            "name": "Example University",
            "documentStore": anchor["registry"],
            "identityProof": {"type": "DNS-TXT", "location": "registrar.example.edu"},
        }
    ]
    assert unsalted(document["data"]["recipient"]) == {"name": "Alice Martin"}
    signature = document["signature"]
    assert signature == {
        "type": "SHA3MerkleProof",
        "targetHash": target_hash(document["data"]).hex(),
        "proof": [],
        "merkleRoot": signature["targetHash"],
    }
    assert document["version"] == "https://schema.openattestation.com/2.0/schema.json"


def test_every_export_has_fresh_salts_and_so_its_own_root() -> None:
    first, second = export(CREDENTIAL), export(CREDENTIAL)
    assert first["signature"]["targetHash"] != second["signature"]["targetHash"]
    again = export(CREDENTIAL, new_salt=counting_salts())
    assert again == export(CREDENTIAL, new_salt=counting_salts())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("proof"), "not anchored"),
        (lambda c: c.update(issuer={"id": "urn:example:x", "name": "X"}), "DNS domain"),
        (lambda c: c["credentialSubject"].update({"grade.final": "A"}), "dot"),
        (lambda c: c.update(score=1.5), "cannot be exported"),
        (lambda c: c.update(name="\ud800"), "not Unicode"),
    ],
    ids=["no-proof", "no-domain", "dotted-key", "fraction", "lone-surrogate"],
)
def test_what_cannot_be_exported_is_refused(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    credential = json.loads(json.dumps(CREDENTIAL))
    change(credential)
    with pytest.raises(MalformedDocument, match=message):
        export(credential)


def test_export_oa_writes_the_document_and_says_what_to_issue(tmp_path: Path) -> None:
    path = tmp_path / "certificate.json"
    path.write_text(json.dumps(CREDENTIAL))
    result = CliRunner().invoke(cli, ["export-oa", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["signature"]["targetHash"] == target_hash(document["data"]).hex()
    root = document["signature"]["merkleRoot"]
    assert f"issue 0x{root} in registry {CREDENTIAL['proof']['anchor']['registry']}" in (
        result.stderr
    )
    output = tmp_path / "oa.json"
    result = CliRunner().invoke(cli, ["export-oa", str(path), "-o", str(output)])
    assert result.exit_code == 0 and result.stdout == ""
    assert json.loads(output.read_text())["data"]["credential"]


@pytest.mark.parametrize("content", [b"{", b"[1]", b"\xff", b"{}", b"[" * 10_000])
def test_export_oa_of_a_bad_file_exits_4_in_one_line(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    result = CliRunner().invoke(cli, ["export-oa", str(path)], catch_exceptions=False)
    assert result.exit_code == 4
    assert result.stderr.startswith("certflow: error: ") and "Traceback" not in result.stderr
