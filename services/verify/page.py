"""What the verification page shows beyond the verdict: links built from a certificate's facts
(its page, downloads, LinkedIn's add-to-profile), and the revocation notice. Pure."""

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

LINKEDIN_ADD_TO_PROFILE = "https://www.linkedin.com/profile/add"
# the registry records that a certificate is revoked, not why: without the issuer's note
# (certs.revoked; a revocation made outside certflow has none) there is no reason to show
REVOKED_WITHOUT_REASON = (
    "The issuer has revoked this certificate. No reason was recorded with the revocation."
)


@dataclass(frozen=True, slots=True)
class PageLinks:
    page: str
    document: str
    pdf: str
    png: str
    linkedin: str
    report: str


def public_origin(configured: str, scheme: str, host: str) -> str:
    """The configured public origin, else the one the request came to."""
    if configured:
        parts = urlsplit(configured)
        return f"{parts.scheme}://{parts.netloc}"
    return f"{scheme}://{host}"


def page_url(origin: str, certificate_id: str) -> str:
    return f"{origin}/verify/{certificate_id}"


def linkedin_url(result: dict[str, Any], certificate_url: str) -> str:
    """LinkedIn's add-to-profile link for a certification, filled from the credential."""
    params: dict[str, str] = {
        "startTask": "CERTIFICATION_NAME",
        "name": result.get("title") or "",
        "organizationName": result.get("issuerName") or "",
        "certUrl": certificate_url,
        "certId": result.get("certificateId") or "",
    }
    issued = result.get("issuedOn") or ""
    if len(issued) >= 7 and issued[:4].isdigit() and issued[5:7].isdigit():
        params["issueYear"], params["issueMonth"] = issued[:4], str(int(issued[5:7]))
    return f"{LINKEDIN_ADD_TO_PROFILE}?{urlencode(params)}"


def links(origin: str, result: dict[str, Any]) -> PageLinks:
    certificate_id = result["certificateId"]
    api = f"/api/v1/certificates/{certificate_id}"
    url = page_url(origin, certificate_id)
    return PageLinks(
        page=url,
        document=f"{api}/document",
        pdf=f"{api}/certificate.pdf",
        png=f"{api}/certificate.png",
        linkedin=linkedin_url(result, url),
        report=f"/verify/{certificate_id}/report",
    )
