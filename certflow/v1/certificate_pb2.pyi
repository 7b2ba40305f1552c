import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CertificateState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CERTIFICATE_STATE_UNSPECIFIED: _ClassVar[CertificateState]
    CERTIFICATE_STATE_ISSUED: _ClassVar[CertificateState]
    CERTIFICATE_STATE_ANCHORED: _ClassVar[CertificateState]
    CERTIFICATE_STATE_REVOKED: _ClassVar[CertificateState]

class RevocationReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVOCATION_REASON_UNSPECIFIED: _ClassVar[RevocationReason]
    REVOCATION_REASON_SUPERSEDED: _ClassVar[RevocationReason]
    REVOCATION_REASON_ISSUED_IN_ERROR: _ClassVar[RevocationReason]
    REVOCATION_REASON_DATA_CORRECTION: _ClassVar[RevocationReason]
    REVOCATION_REASON_WITHDRAWN: _ClassVar[RevocationReason]
    REVOCATION_REASON_OTHER: _ClassVar[RevocationReason]
CERTIFICATE_STATE_UNSPECIFIED: CertificateState
CERTIFICATE_STATE_ISSUED: CertificateState
CERTIFICATE_STATE_ANCHORED: CertificateState
CERTIFICATE_STATE_REVOKED: CertificateState
REVOCATION_REASON_UNSPECIFIED: RevocationReason
REVOCATION_REASON_SUPERSEDED: RevocationReason
REVOCATION_REASON_ISSUED_IN_ERROR: RevocationReason
REVOCATION_REASON_DATA_CORRECTION: RevocationReason
REVOCATION_REASON_WITHDRAWN: RevocationReason
REVOCATION_REASON_OTHER: RevocationReason

class Certificate(_message.Message):
    __slots__ = ("name", "certificate_id", "batch_id", "recipient_name", "title", "state", "document_json", "leaf_hash", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    certificate_id: str
    batch_id: str
    recipient_name: str
    title: str
    state: CertificateState
    document_json: str
    leaf_hash: bytes
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., certificate_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., recipient_name: _Optional[str] = ..., title: _Optional[str] = ..., state: _Optional[_Union[CertificateState, str]] = ..., document_json: _Optional[str] = ..., leaf_hash: _Optional[bytes] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RowError(_message.Message):
    __slots__ = ("row_number", "field", "reason", "message")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    field: str
    reason: str
    message: str
    def __init__(self, row_number: _Optional[int] = ..., field: _Optional[str] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...
