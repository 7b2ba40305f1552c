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

class DeliveryOutcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_OUTCOME_UNSPECIFIED: _ClassVar[DeliveryOutcome]
    DELIVERY_OUTCOME_SENT: _ClassVar[DeliveryOutcome]
    DELIVERY_OUTCOME_FAILED: _ClassVar[DeliveryOutcome]
    DELIVERY_OUTCOME_REQUEUED: _ClassVar[DeliveryOutcome]
    DELIVERY_OUTCOME_BOUNCED: _ClassVar[DeliveryOutcome]
    DELIVERY_OUTCOME_SUPPRESSED: _ClassVar[DeliveryOutcome]
DELIVERY_OUTCOME_UNSPECIFIED: DeliveryOutcome
DELIVERY_OUTCOME_SENT: DeliveryOutcome
DELIVERY_OUTCOME_FAILED: DeliveryOutcome
DELIVERY_OUTCOME_REQUEUED: DeliveryOutcome
DELIVERY_OUTCOME_BOUNCED: DeliveryOutcome
DELIVERY_OUTCOME_SUPPRESSED: DeliveryOutcome

class CertificatesIssuedEvent(_message.Message):
    __slots__ = ("batch_id", "leaves")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    leaves: _containers.RepeatedCompositeFieldContainer[IssuedLeaf]
    def __init__(self, batch_id: _Optional[str] = ..., leaves: _Optional[_Iterable[_Union[IssuedLeaf, _Mapping]]] = ...) -> None: ...

class IssuedLeaf(_message.Message):
    __slots__ = ("certificate_id", "leaf_hash", "leaf_salt", "document")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    LEAF_SALT_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    leaf_hash: bytes
    leaf_salt: bytes
    document: bytes
    def __init__(self, certificate_id: _Optional[str] = ..., leaf_hash: _Optional[bytes] = ..., leaf_salt: _Optional[bytes] = ..., document: _Optional[bytes] = ...) -> None: ...

class CertificateRecipientsEvent(_message.Message):
    __slots__ = ("batch_id", "recipients")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENTS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    recipients: _containers.RepeatedCompositeFieldContainer[CertificateRecipient]
    def __init__(self, batch_id: _Optional[str] = ..., recipients: _Optional[_Iterable[_Union[CertificateRecipient, _Mapping]]] = ...) -> None: ...

class CertificateRecipient(_message.Message):
    __slots__ = ("certificate_id", "recipient_name", "recipient_email", "title", "completion_date", "issuer_name", "document", "leaf_salt", "leaf_hash", "time_zone", "business_hours", "send_time")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_DATE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    DOCUMENT_FIELD_NUMBER: _ClassVar[int]
    LEAF_SALT_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    BUSINESS_HOURS_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: str
    issuer_name: str
    document: bytes
    leaf_salt: bytes
    leaf_hash: bytes
    time_zone: str
    business_hours: bool
    send_time: _timestamp_pb2.Timestamp
    def __init__(self, certificate_id: _Optional[str] = ..., recipient_name: _Optional[str] = ..., recipient_email: _Optional[str] = ..., title: _Optional[str] = ..., completion_date: _Optional[str] = ..., issuer_name: _Optional[str] = ..., document: _Optional[bytes] = ..., leaf_salt: _Optional[bytes] = ..., leaf_hash: _Optional[bytes] = ..., time_zone: _Optional[str] = ..., business_hours: _Optional[bool] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CertificatesAnchoredEvent(_message.Message):
    __slots__ = ("window_id", "merkle_root", "chain_id", "transaction_hash", "block_number", "certificate_ids", "registry_address", "leaves", "shared_path")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_IDS_FIELD_NUMBER: _ClassVar[int]
    REGISTRY_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    SHARED_PATH_FIELD_NUMBER: _ClassVar[int]
    window_id: str
    merkle_root: bytes
    chain_id: int
    transaction_hash: str
    block_number: int
    certificate_ids: _containers.RepeatedScalarFieldContainer[str]
    registry_address: str
    leaves: _containers.RepeatedCompositeFieldContainer[AnchoredLeaf]
    shared_path: bytes
    def __init__(self, window_id: _Optional[str] = ..., merkle_root: _Optional[bytes] = ..., chain_id: _Optional[int] = ..., transaction_hash: _Optional[str] = ..., block_number: _Optional[int] = ..., certificate_ids: _Optional[_Iterable[str]] = ..., registry_address: _Optional[str] = ..., leaves: _Optional[_Iterable[_Union[AnchoredLeaf, _Mapping]]] = ..., shared_path: _Optional[bytes] = ...) -> None: ...

class AnchoredLeaf(_message.Message):
    __slots__ = ("certificate_id", "merkle_path", "leaf_hash")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    MERKLE_PATH_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    merkle_path: bytes
    leaf_hash: bytes
    def __init__(self, certificate_id: _Optional[str] = ..., merkle_path: _Optional[bytes] = ..., leaf_hash: _Optional[bytes] = ...) -> None: ...

class DeliveriesUpdatedEvent(_message.Message):
    __slots__ = ("updates",)
    UPDATES_FIELD_NUMBER: _ClassVar[int]
    updates: _containers.RepeatedCompositeFieldContainer[DeliveryUpdate]
    def __init__(self, updates: _Optional[_Iterable[_Union[DeliveryUpdate, _Mapping]]] = ...) -> None: ...

class DeliveryUpdate(_message.Message):
    __slots__ = ("certificate_id", "batch_id", "outcome", "update_time", "attempts")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    batch_id: str
    outcome: DeliveryOutcome
    update_time: _timestamp_pb2.Timestamp
    attempts: int
    def __init__(self, certificate_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., outcome: _Optional[_Union[DeliveryOutcome, str]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempts: _Optional[int] = ...) -> None: ...

class CertificatesCancelledEvent(_message.Message):
    __slots__ = ("batch_id", "certificate_ids")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_IDS_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    certificate_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, batch_id: _Optional[str] = ..., certificate_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CertificatesRevokedEvent(_message.Message):
    __slots__ = ("revocation_window_id", "chain_id", "transaction_hash", "block_number", "certificates")
    REVOCATION_WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATES_FIELD_NUMBER: _ClassVar[int]
    revocation_window_id: str
    chain_id: int
    transaction_hash: str
    block_number: int
    certificates: _containers.RepeatedCompositeFieldContainer[RevokedCertificate]
    def __init__(self, revocation_window_id: _Optional[str] = ..., chain_id: _Optional[int] = ..., transaction_hash: _Optional[str] = ..., block_number: _Optional[int] = ..., certificates: _Optional[_Iterable[_Union[RevokedCertificate, _Mapping]]] = ...) -> None: ...

class RevokedCertificate(_message.Message):
    __slots__ = ("certificate_id", "batch_id", "reason", "reason_text", "revoke_time", "replaced_by_certificate_id")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    REVOKE_TIME_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    batch_id: str
    reason: _certificate_pb2.RevocationReason
    reason_text: str
    revoke_time: _timestamp_pb2.Timestamp
    replaced_by_certificate_id: str
    def __init__(self, certificate_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., reason: _Optional[_Union[_certificate_pb2.RevocationReason, str]] = ..., reason_text: _Optional[str] = ..., revoke_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., replaced_by_certificate_id: _Optional[str] = ...) -> None: ...

class CertificateReissuedEvent(_message.Message):
    __slots__ = ("certificate_id", "replaced_by_certificate_id", "reason_text")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    REPLACED_BY_CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    replaced_by_certificate_id: str
    reason_text: str
    def __init__(self, certificate_id: _Optional[str] = ..., replaced_by_certificate_id: _Optional[str] = ..., reason_text: _Optional[str] = ...) -> None: ...
