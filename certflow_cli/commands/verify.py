"""`certflow verify FILE`: a certificate checked with only the file, a chain RPC and what its
issuer publishes (DNS TXT, profile) — no database, no certflow service.

The checks are certflow.core.verification's, the verify service's own; the chain and the issuer
identity are the platform adapters the service uses. What differs is the allow-list: the
service trusts its configured registry, this command the registries given with --registry, or,
without any, whichever registry the issuer itself lists (the issuer check has passed by then).
"""

import asyncio
import ipaddress
import json
import logging
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import click
from rich.console import Console

from certflow.core.errors import InvalidInput, Unavailable
from certflow.core.verification import Verification, VerificationStatus
from certflow_cli.exit_codes import CliError, ExitCode
from certflow_cli.input_files import read_input_file
from certflow_cli.invocation import Invocation, certflow_command
from certflow_cli.output import JsonDocument, shown

DEFAULT_RPC_URL = "http://127.0.0.1:8545"
DEFAULT_DEADLINE_SECONDS = 10.0
NO_REGISTRY = "0x" + "00" * 20

EXIT_CODES: dict[VerificationStatus, ExitCode] = {
    VerificationStatus.VALID: ExitCode.OK,
    VerificationStatus.TAMPERED: ExitCode.NOT_AUTHENTIC,
    VerificationStatus.REGISTRY_NOT_LISTED: ExitCode.NOT_AUTHENTIC,
    VerificationStatus.UNKNOWN_ISSUER: ExitCode.NOT_AUTHENTIC,
    VerificationStatus.NOT_FOUND: ExitCode.NOT_AUTHENTIC,
    VerificationStatus.REVOKED: ExitCode.REVOKED,
    VerificationStatus.EXPIRED: ExitCode.NOT_IN_VALIDITY,
    VerificationStatus.NOT_YET_VALID: ExitCode.NOT_IN_VALIDITY,
    VerificationStatus.PENDING: ExitCode.PENDING,
    VerificationStatus.MALFORMED: ExitCode.INVALID_INPUT,
}


@dataclass(frozen=True, slots=True)
class Sources:
    """Where the command asks: the chain, the issuers' DNS, and (local stacks, tests) a base
    URL standing in for the issuers' https profile origins."""

    rpc_url: str
    registries: tuple[str, ...] = ()
    dns_resolver: str = ""
    profile_base_url: str = ""
    deadline_seconds: float = DEFAULT_DEADLINE_SECONDS


def _rpc_url(_: click.Context, __: click.Parameter, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter("an http:// or https:// URL is needed")
    return value


def _dns_server(_: click.Context, __: click.Parameter, value: str) -> str:
    """HOST:PORT with an IP address ([::1]:53 for IPv6), as the identity adapter reads it."""
    if not value:
        return value
    host, _sep, port = value.rpartition(":")
    try:
        ipaddress.ip_address(host.strip("[]"))
        if not 0 < int(port) < 65536:
            raise ValueError(port)
    except ValueError:
        raise click.BadParameter("an IP address and a port are needed, e.g. 127.0.0.1:53") from None
    return value


@click.command()
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--rpc",
    "rpc_url",
    metavar="URL",
    envvar="CERTFLOW_RPC_URL",
    default=DEFAULT_RPC_URL,
    show_default=True,
    callback=_rpc_url,
    help="JSON-RPC endpoint of the chain the certificate is anchored on [env CERTFLOW_RPC_URL].",
)
@click.option(
    "--registry",
    "registries",
    metavar="ADDRESS",
    multiple=True,
    help="Trust only these registries (repeatable). Without it, a registry the issuer lists "
    "in its DNS TXT record or profile is trusted.",
)
@click.option(
    "--dns-resolver",
    metavar="HOST:PORT",
    default="",
    callback=_dns_server,
    help="DNS server asked for the issuer's TXT records [default: the system's].",
)
@click.option(
    "--profile-base-url",
    metavar="URL",
    default="",
    callback=lambda ctx, param, value: _rpc_url(ctx, param, value) if value else value,
    help="Read issuer profiles from this origin instead of the issuer's own https host "
    "(a local stack or test).",
)
@click.option(
    "--verify-url",
    metavar="URL",
    envvar="CERTFLOW_VERIFY_URL",
    default="",
    callback=lambda ctx, param, value: _rpc_url(ctx, param, value) if value else value,
    help="The issuer's verify service: when the chain says revoked, its recorded reason, text "
    "and replacement are shown (the verdict stays the chain's) [env CERTFLOW_VERIFY_URL].",
)
@certflow_command
def verify(
    run: Invocation,
    file: Path,
    rpc_url: str,
    registries: tuple[str, ...],
    dns_resolver: str,
    profile_base_url: str,
    verify_url: str,
) -> ExitCode:
    """Check a certificate with only the file, a chain RPC and the issuer's DNS/profile.

    Runs every check the verify service makes, in the order docs/merkle.md gives (format,
    integrity, merkle_proof, issuer, registry, anchored, revocation, expiry) and prints
    each with its outcome. Exit 0 when valid, 11 tampered or forged, 12 revoked, 13
    expired or not yet valid, 14 pending, 4 not a certificate, 5 when the chain or the
    issuer's DNS/profile could not be asked (no verdict).
    """
    data = read_input_file(file)
    timeout = run.flags.timeout or DEFAULT_DEADLINE_SECONDS
    sources = Sources(rpc_url, registries, dns_resolver, profile_base_url, timeout)
    _quiet_library_logs()
    try:
        result = asyncio.run(check(data, sources))
    except Unavailable as exc:
        raise CliError(ExitCode.UNREACHABLE, exc.message, reason=exc.reason) from None
    except InvalidInput as exc:
        raise CliError(
            ExitCode.INVALID_INPUT, f"{file}: {exc.message}", reason=exc.reason
        ) from None
    document = result_document(str(file), result, claimed_registry(data))
    if verify_url and result.status is VerificationStatus.REVOKED and result.certificate_id:
        document["revocation"] = revocation_note(verify_url, result.certificate_id, timeout)
    run.output.result(document, lambda console: render(console, document))
    return EXIT_CODES[result.status]


async def check(data: bytes, sources: Sources) -> Verification:
    """Verifies the file's bytes with the service's Verifier, on the platform adapters."""
    # imported here: web3 and dnspython take ~1 s to load, which --help never needs
    from certflow.core.verification import ChainView, RevocationIndex, Verifier
    from certflow.platform.chain import RegistryClient
    from certflow.platform.issuer_identity import IdentitySettings, IssuerIdentity

    registry_address = trusted_registry(claimed_registry(data), sources.registries)
    registry = RegistryClient(
        sources.rpc_url, registry_address, timeout=sources.deadline_seconds, retries=False
    )
    issuers = IssuerIdentity(
        IdentitySettings(
            dns_resolver=sources.dns_resolver,
            profile_base_url=sources.profile_base_url,
            timeout_seconds=sources.deadline_seconds,
        )
    )
    try:
        # never followed: a stale index makes revocation a direct question to the registry
        chain = ChainView(registry, anchor_seconds=0, revocations=RevocationIndex(registry))
        verifier = Verifier(
            chain,
            issuers=issuers,
            registry_address=registry_address,
            deadline_seconds=sources.deadline_seconds,
        )
        return await verifier.verify_json(data)
    finally:
        await registry.close()
        await issuers.close()


def claimed_registry(data: bytes) -> str:
    """The registry the document's proof names; empty when it names none readable (the
    verifier then stops before it asks the chain)."""
    from certflow.core.document import MalformedDocument, read_anchor_proof
    from certflow.core.json_limits import check_json_depth

    try:
        text = data.decode()
        # the depth first: json recurses per level, and under web3's raised recursion limit a
        # deep document crashes the process instead of raising (certflow.core.json_limits)
        check_json_depth(text)
        document = json.loads(text)
        address = read_anchor_proof(document).registry_address
    except (ValueError, RecursionError, MalformedDocument, AttributeError, TypeError):
        return ""
    return address if _is_address(address) else ""


def trusted_registry(claimed: str, allowed: tuple[str, ...]) -> str:
    """The registry the Verifier is told to trust: the claimed one when --registry lists it
    or no --registry is given; otherwise one the claim cannot match, so the registry check
    fails with its own message."""
    if not claimed:
        return NO_REGISTRY
    if not allowed or claimed.lower() in {a.lower() for a in allowed}:
        return claimed
    return NO_REGISTRY


def _is_address(value: str) -> bool:
    return len(value) == 42 and value[:2] in ("0x", "0X") and _is_hex(value[2:])


def _is_hex(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text)


def _quiet_library_logs() -> None:
    """The adapters log at WARNING; without handlers Python prints those to stderr, above the
    one error line this command writes."""
    logging.getLogger().addHandler(logging.NullHandler())


def result_document(file: str, result: Verification, registry: str) -> JsonDocument:
    document: JsonDocument = {
        "file": file,
        "status": result.status.name,
        "valid": result.status is VerificationStatus.VALID,
        "certificate_id": result.certificate_id,
        "issuer_name": result.issuer_name,
        "recipient_name": result.recipient_name,
        "title": result.title,
        "chain_id": result.chain_id or None,
        "registry": registry or None,
        "transaction_hash": result.transaction_hash or None,
        "anchored_at": result.anchored_at.isoformat() if result.anchored_at else None,
        "checks": [
            {"check": c.name, "status": c.status.name, "message": c.message} for c in result.checks
        ],
    }
    return document


def revocation_note(verify_url: str, certificate_id: str, timeout: float) -> JsonDocument | None:
    """What the issuer's verify service recorded with the revocation (its HTTP API's
    `revocation` object); None when it records none or cannot be asked — the chain's verdict
    stands either way."""
    url = f"{verify_url.rstrip('/')}/api/v1/certificates/{quote(certificate_id)}/verification"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            answer = json.loads(reply.read(1_000_000))
    except (OSError, ValueError):
        return None
    note = answer.get("revocation") if isinstance(answer, dict) else None
    return note if isinstance(note, dict) else None


def render(console: Console, document: dict[str, Any]) -> None:
    console.print(shown(f"{document['file']}: {document['status']}"))
    note = document.get("revocation")
    if isinstance(note, dict):
        console.print(shown(f"  the issuer's note: {note.get('message', '')}"))
        if note.get("replacedBy"):
            console.print(shown(f"  replaced by: {note['replacedBy']}"))
    width = max(len(c["check"]) for c in document["checks"])
    for c in document["checks"]:
        console.print(shown(f"  {c['status']:<7} {c['check']:<{width}}  {c['message']}"))
    for label, key in (
        ("certificate", "certificate_id"),
        ("issuer", "issuer_name"),
        ("recipient", "recipient_name"),
        ("title", "title"),
        ("chain id", "chain_id"),
        ("registry", "registry"),
        ("transaction", "transaction_hash"),
        ("anchored at", "anchored_at"),
    ):
        if document[key]:
            console.print(shown(f"{label}: {document[key]}"))
