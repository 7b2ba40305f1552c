"""The OpenAPI 3.1 description of verify's public HTTP API (GET /api/v1/openapi.json)."""

from typing import Any

from certflow.core.verification import VerificationStatus
from services.verify.reports import CATEGORIES, MAX_MESSAGE

_ID = {
    "name": "certificate_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}
_ERROR = {
    "description": "an error",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_RATE_LIMITED = {**_ERROR, "description": "too many requests from this client"}
_HTML = {"text/html": {"schema": {"type": "string"}}}
_VERIFICATION = {
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Verification"}}}
}


def _json(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _file(description: str, media: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {media: {"schema": {"type": "string", "format": "binary"}}},
    }


_PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Whether the service answers",
            "responses": {"200": _json("serving", {"type": "object"})},
        }
    },
    "/api/v1/verify": {
        "post": {
            "summary": "Verify a posted certificate file",
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"type": "object"}}},
            },
            "responses": {
                "200": {"description": "the verdict and each check", **_VERIFICATION},
                "413": _ERROR,
                "429": _RATE_LIMITED,
                "503": _ERROR,
            },
        }
    },
    "/api/v1/certificates/{certificate_id}/verification": {
        "get": {
            "summary": "Verify a certificate by id",
            "parameters": [_ID],
            "responses": {
                "200": {"description": "the verdict and each check", **_VERIFICATION},
                "404": {"description": "no such certificate", **_VERIFICATION},
                "429": _RATE_LIMITED,
                "503": _ERROR,
            },
        }
    },
    "/api/v1/certificates/{certificate_id}/document": {
        "get": {
            "summary": "The anchored certificate file (JSON, with its proof)",
            "parameters": [_ID],
            "responses": {
                "200": _json("the credential", {"type": "object"}),
                "404": _ERROR,
                "429": _RATE_LIMITED,
            },
        }
    },
    "/api/v1/certificates/{certificate_id}/certificate.pdf": {
        "get": {
            "summary": "The printable certificate as PDF, with a QR code to its page",
            "parameters": [_ID],
            "responses": {
                "200": _file("the PDF", "application/pdf"),
                "404": _ERROR,
                "429": _RATE_LIMITED,
            },
        }
    },
    "/api/v1/certificates/{certificate_id}/certificate.png": {
        "get": {
            "summary": "The printable certificate as PNG",
            "parameters": [_ID],
            "responses": {
                "200": _file("the PNG", "image/png"),
                "404": _ERROR,
                "429": _RATE_LIMITED,
            },
        }
    },
    "/api/v1/batches/{batch_id}/problem-reports": {
        "get": {
            "summary": "How many problem reports recipients sent about a batch, per category",
            "parameters": [
                {"name": "batch_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _json(
                    "the counts",
                    {
                        "type": "object",
                        "properties": {
                            "batchId": {"type": "string"},
                            "total": {"type": "integer"},
                            "byCategory": {
                                "type": "object",
                                "additionalProperties": {"type": "integer"},
                            },
                        },
                    },
                ),
                "429": _RATE_LIMITED,
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This description",
            "responses": {"200": _json("OpenAPI 3.1", {"type": "object"})},
        }
    },
    "/verify": {
        "get": {
            "summary": "The verification page (upload a file)",
            "responses": {"200": {"description": "the page", "content": _HTML}},
        },
        "post": {
            "summary": "Check an uploaded file without JavaScript (the page's form)",
            "requestBody": {
                "required": True,
                "content": {
                    "multipart/form-data": {
                        "schema": {
                            "type": "object",
                            "properties": {"file": {"type": "string", "format": "binary"}},
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "the page with the verdict", "content": _HTML},
                "400": {"description": "no file", "content": _HTML},
                "413": {"description": "file too large", "content": _HTML},
            },
        },
    },
    "/verify/{certificate_id}": {
        "get": {
            "summary": "The verification page of a certificate",
            "parameters": [_ID],
            "responses": {
                "200": {"description": "the page", "content": _HTML},
                "404": {"description": "no such certificate", "content": _HTML},
                "503": {"description": "the chain cannot be asked", "content": _HTML},
            },
        }
    },
    "/verify/{certificate_id}/report": {
        "post": {
            "summary": "Report a problem with a certificate (same-site form)",
            "parameters": [_ID],
            "requestBody": {
                "required": True,
                "content": {
                    "application/x-www-form-urlencoded": {
                        "schema": {
                            "type": "object",
                            "required": ["category", "message"],
                            "properties": {
                                "category": {
                                    "type": "string",
                                    "enum": list(CATEGORIES),
                                },
                                "message": {"type": "string", "maxLength": MAX_MESSAGE},
                                "email": {
                                    "type": "string",
                                    "description": "optional; stored only when given",
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "201": {"description": "recorded", "content": _HTML},
                "400": {"description": "a field is wrong", "content": _HTML},
                "403": _ERROR,
                "404": {"description": "no such certificate", "content": _HTML},
                "413": {"description": "too large", "content": _HTML},
                "429": {"description": "too many reports", "content": _HTML},
            },
        }
    },
}

_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "Verification": {
        "type": "object",
        "properties": {
            "status": {
                "type": "string",
                "enum": [status.upper() for status in VerificationStatus],
            },
            "certificateId": {"type": "string"},
            "issuerName": {"type": "string"},
            "recipientName": {"type": "string"},
            "title": {"type": "string"},
            "anchoredAt": {"type": ["string", "null"], "format": "date-time"},
            "transactionHash": {"type": "string"},
            "chainId": {"type": "integer"},
            "checks": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "check": {"type": "string"},
                        "status": {"type": "string", "enum": ["PASSED", "FAILED", "SKIPPED"]},
                        "message": {"type": "string"},
                    },
                },
            },
            "revocation": {
                "description": "With REVOKED, what the issuer recorded with the revocation;"
                " null when this verifier knows no reason (e.g. a revocation made outside"
                " certflow).",
                "type": ["object", "null"],
                "properties": {
                    "reason": {
                        "type": "string",
                        "enum": [
                            "SUPERSEDED",
                            "ISSUED_IN_ERROR",
                            "DATA_CORRECTION",
                            "WITHDRAWN",
                            "OTHER",
                        ],
                    },
                    "reasonText": {"type": "string"},
                    "revokedAt": {"type": ["string", "null"], "format": "date-time"},
                    "replacedBy": {
                        "type": ["string", "null"],
                        "description": "A reissue: the id of the certificate replacing this one.",
                    },
                    "replacedByPage": {"type": ["string", "null"]},
                    "transactionHash": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}


def openapi_document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "certflow verify",
            "version": "1",
            "description": "Public certificate verification: by id, by file, and the page.",
        },
        "paths": _PATHS,
        "components": {"schemas": _SCHEMAS},
    }
