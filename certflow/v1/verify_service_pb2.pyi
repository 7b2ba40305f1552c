import datetime

from certflow.v1 import certificate_pb2 as _certificate_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VerificationStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFICATION_STATUS_UNSPECIFIED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_VALID: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_TAMPERED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_REVOKED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_EXPIRED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_PENDING: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_MALFORMED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_NOT_FOUND: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_UNKNOWN_ISSUER: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_REGISTRY_NOT_LISTED: _ClassVar[VerificationStatus]
    VERIFICATION_STATUS_NOT_YET_VALID: _ClassVar[VerificationStatus]

class CheckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CHECK_STATUS_UNSPECIFIED: _ClassVar[CheckStatus]
    CHECK_STATUS_PASSED: _ClassVar[CheckStatus]
    CHECK_STATUS_FAILED: _ClassVar[CheckStatus]
    CHECK_STATUS_SKIPPED: _ClassVar[CheckStatus]
VERIFICATION_STATUS_UNSPECIFIED: VerificationStatus
VERIFICATION_STATUS_VALID: VerificationStatus
VERIFICATION_STATUS_TAMPERED: VerificationStatus
VERIFICATION_STATUS_REVOKED: VerificationStatus
VERIFICATION_STATUS_EXPIRED: VerificationStatus
VERIFICATION_STATUS_PENDING: VerificationStatus
VERIFICATION_STATUS_MALFORMED: VerificationStatus
VERIFICATION_STATUS_NOT_FOUND: VerificationStatus
VERIFICATION_STATUS_UNKNOWN_ISSUER: VerificationStatus
VERIFICATION_STATUS_REGISTRY_NOT_LISTED: VerificationStatus
VERIFICATION_STATUS_NOT_YET_VALID: VerificationStatus
CHECK_STATUS_UNSPECIFIED: CheckStatus
CHECK_STATUS_PASSED: CheckStatus
CHECK_STATUS_FAILED: CheckStatus
CHECK_STATUS_SKIPPED: CheckStatus

class VerificationCheck(_message.Message):
    __slots__ = ("check", "status", "message")
    CHECK_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    check: str
    status: CheckStatus
    message: str
    def __init__(self, check: _Optional[str] = ..., status: _Optional[_Union[CheckStatus, str]] = ..., message: _Optional[str] = ...) -> None: ...

class VerifyCertificateRequest(_message.Message):
    __slots__ = ("document_json", "certificate_id")
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    certificate_id: str
    def __init__(self, document_json: _Optional[str] = ..., certificate_id: _Optional[str] = ...) -> None: ...

class VerifyCertificateResponse(_message.Message):
    __slots__ = ("status", "checks", "certificate_id", "issuer_name", "recipient_name", "title", "anchor_time", "transaction_hash", "chain_id", "revocation")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    REVOCATION_FIELD_NUMBER: _ClassVar[int]
    status: VerificationStatus
    checks: _containers.RepeatedCompositeFieldContainer[VerificationCheck]
    certificate_id: str
    issuer_name: str
    recipient_name: str
    title: str
    anchor_time: _timestamp_pb2.Timestamp
    transaction_hash: str
    chain_id: int
    revocation: RevocationDetails
    def __init__(self, status: _Optional[_Union[VerificationStatus, str]] = ..., checks: _Optional[_Iterable[_Union[VerificationCheck, _Mapping]]] = ..., certificate_id: _Optional[str] = ..., issuer_name: _Optional[str] = ..., recipient_name: _Optional[str] = ..., title: _Optional[str] = ..., anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., transaction_hash: _Optional[str] = ..., chain_id: _Optional[int] = ..., revocation: _Optional[_Union[RevocationDetails, _Mapping]] = ...) -> None: ...

class RevocationDetails(_message.Message):
    __slots__ = ("reason", "reason_text", "revoke_time", "replaced_by_certificate_id", "transaction_hash")
    REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    reason: _certificate_pb2.RevocationReason
    reason_text: str
    revoke_time: _timestamp_pb2.Timestamp
    replaced_by_certificate_id: str
    transaction_hash: str
    def __init__(self, reason: _Optional[_Union[_certificate_pb2.RevocationReason, str]] = ..., reason_text: _Optional[str] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replaced_by_certificate_id: _Optional[str] = ..., transaction_hash: _Optional[str] = ...) -> None: ...

class GetCertificateDocumentRequest(_message.Message):
    __slots__ = ("certificate_id",)
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    def __init__(self, certificate_id: _Optional[str] = ...) -> None: ...

class GetCertificateDocumentResponse(_message.Message):
    __slots__ = ("document_json",)
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    document_json: str
    def __init__(self, document_json: _Optional[str] = ...) -> None: ...
