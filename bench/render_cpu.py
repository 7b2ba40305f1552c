"""`python -m bench.render_cpu [--dkim]`: notify's CPU time to render one certificate email.

A realistic credential (with a 14-step Merkle proof, as in a 10,000-leaf window) for each of
5,000 recipients, rendered back to back; prints the best of five passes in µs of process CPU
per email. `--dkim` signs each message too (a fresh 2048-bit RSA key).
"""

import argparse
import time
import uuid
from datetime import UTC, date, datetime

from certflow.core.document import (
    AnchorProof,
    CertificateContent,
    IssuerProfile,
    build_credential,
    with_anchor_proof,
)
from services.notify.branding import Branding
from services.notify.rendering import CertificateEmail, CertificateMessages, MessageSigner, Sender

ISSUER = IssuerProfile(id="https://uni.example", name="Université Exemple")


def email(i: int) -> CertificateEmail:
    certificate_id = str(uuid.UUID(int=i, version=4))
    content = CertificateContent(
        f"Zoë Ångström {i}", f"student{i}@example.org", "MSc Data Science", date(2026, 6, 30)
    )
    document = build_credential(
        certificate_id=certificate_id,
        issuer=ISSUER,
        content=content,
        email_salt="ab" * 16,
        issued_at=datetime(2026, 7, 1, tzinfo=UTC),
    )
    proof = AnchorProof(
        b"\x01" * 32,
        b"\x02" * 32,
        b"\x03" * 32,
        (b"\x04" * 32,) * 14,
        31337,
        "0x" + "5" * 40,
        "0x" + "6" * 64,
        123,
    )
    return CertificateEmail(
        certificate_id,
        f"<{certificate_id}@uni.example>",
        content.recipient_name,
        content.recipient_email,
        ISSUER.name,
        content.title,
        content.completion_date.isoformat(),
        with_anchor_proof(document, proof),
    )


def signer() -> MessageSigner:
    from Crypto.PublicKey import RSA  # pycryptodome, already in the tree (eth-account)

    from services.notify.dkim_signing import DkimSigner

    pem = RSA.generate(2048).export_key(format="PEM", pkcs=1)
    return DkimSigner(selector="bench", domain="uni.example", private_key=pem)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dkim", action="store_true")
    parser.add_argument("--emails", type=int, default=5000)
    args = parser.parse_args()
    messages = CertificateMessages(
        Sender("certificates@uni.example", "https://verify.example"),
        Branding(
            "Université Exemple", support_email="help@uni.example", reply_to="registrar@uni.example"
        ),
        signer=signer() if args.dkim else None,
    )
    emails = [email(i) for i in range(args.emails)]
    for e in emails[:200]:
        messages.render(e)
    passes = []
    for _ in range(5):
        started = time.process_time()
        for e in emails:
            messages.render(e)
        passes.append((time.process_time() - started) / len(emails) * 1e6)
    size = len(messages.render(emails[0]).data)
    print(
        f"render{' + DKIM' if args.dkim else ''}: {min(passes):.0f} µs/email CPU "
        f"(best of 5 × {len(emails)}; median {sorted(passes)[2]:.0f}); {size:,} bytes/message"
    )


if __name__ == "__main__":
    main()
