import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DeliveryState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_STATE_UNSPECIFIED: _ClassVar[DeliveryState]
    DELIVERY_STATE_PENDING: _ClassVar[DeliveryState]
    DELIVERY_STATE_SENDING: _ClassVar[DeliveryState]
    DELIVERY_STATE_SENT: _ClassVar[DeliveryState]
    DELIVERY_STATE_FAILED: _ClassVar[DeliveryState]
    DELIVERY_STATE_SCHEDULED: _ClassVar[DeliveryState]
    DELIVERY_STATE_DEFERRED: _ClassVar[DeliveryState]
    DELIVERY_STATE_BOUNCED: _ClassVar[DeliveryState]
    DELIVERY_STATE_SUPPRESSED: _ClassVar[DeliveryState]
    DELIVERY_STATE_UNSUBSCRIBED: _ClassVar[DeliveryState]
    DELIVERY_STATE_QUEUED: _ClassVar[DeliveryState]
    DELIVERY_STATE_COMPLAINED: _ClassVar[DeliveryState]

class SuppressionReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUPPRESSION_REASON_UNSPECIFIED: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_BOUNCED: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_UNSUBSCRIBED: _ClassVar[SuppressionReason]
    SUPPRESSION_REASON_COMPLAINED: _ClassVar[SuppressionReason]
DELIVERY_STATE_UNSPECIFIED: DeliveryState
DELIVERY_STATE_PENDING: DeliveryState
DELIVERY_STATE_SENDING: DeliveryState
DELIVERY_STATE_SENT: DeliveryState
DELIVERY_STATE_FAILED: DeliveryState
DELIVERY_STATE_SCHEDULED: DeliveryState
DELIVERY_STATE_DEFERRED: DeliveryState
DELIVERY_STATE_BOUNCED: DeliveryState
DELIVERY_STATE_SUPPRESSED: DeliveryState
DELIVERY_STATE_UNSUBSCRIBED: DeliveryState
DELIVERY_STATE_QUEUED: DeliveryState
DELIVERY_STATE_COMPLAINED: DeliveryState
SUPPRESSION_REASON_UNSPECIFIED: SuppressionReason
SUPPRESSION_REASON_BOUNCED: SuppressionReason
SUPPRESSION_REASON_UNSUBSCRIBED: SuppressionReason
SUPPRESSION_REASON_COMPLAINED: SuppressionReason

class Delivery(_message.Message):
    __slots__ = ("delivery_id", "certificate_id", "state", "attempts", "message_id", "last_error", "send_time", "recipient_corrected", "resend_count", "history")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_CORRECTED_FIELD_NUMBER: _ClassVar[int]
    RESEND_COUNT_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    certificate_id: str
    state: DeliveryState
    attempts: int
    message_id: str
    last_error: str
    send_time: _timestamp_pb2.Timestamp
    recipient_corrected: bool
    resend_count: int
    history: _containers.RepeatedCompositeFieldContainer[DeliveryEvent]
    def __init__(self, delivery_id: _Optional[str] = ..., certificate_id: _Optional[str] = ..., state: _Optional[_Union[DeliveryState, str]] = ..., attempts: _Optional[int] = ..., message_id: _Optional[str] = ..., last_error: _Optional[str] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., recipient_corrected: _Optional[bool] = ..., resend_count: _Optional[int] = ..., history: _Optional[_Iterable[_Union[DeliveryEvent, _Mapping]]] = ...) -> None: ...

class DeliveryEvent(_message.Message):
    __slots__ = ("event_time", "state", "smtp_code", "detail")
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    SMTP_CODE_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    event_time: _timestamp_pb2.Timestamp
    state: DeliveryState
    smtp_code: int
    detail: str
    def __init__(self, event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[DeliveryState, str]] = ..., smtp_code: _Optional[int] = ..., detail: _Optional[str] = ...) -> None: ...

class GetDeliveryRequest(_message.Message):
    __slots__ = ("delivery_id", "certificate_id")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    certificate_id: str
    def __init__(self, delivery_id: _Optional[str] = ..., certificate_id: _Optional[str] = ...) -> None: ...

class GetDeliveryResponse(_message.Message):
    __slots__ = ("delivery",)
    DELIVERY_FIELD_NUMBER: _ClassVar[int]
    delivery: Delivery
    def __init__(self, delivery: _Optional[_Union[Delivery, _Mapping]] = ...) -> None: ...

class ResendDeliveriesRequest(_message.Message):
    __slots__ = ("certificate_id", "batch_id", "recipient_email", "request_id")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    batch_id: str
    recipient_email: str
    request_id: str
    def __init__(self, certificate_id: _Optional[str] = ..., batch_id: _Optional[str] = ..., recipient_email: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class ResendDeliveriesResponse(_message.Message):
    __slots__ = ("resent_count",)
    RESENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    resent_count: int
    def __init__(self, resent_count: _Optional[int] = ...) -> None: ...

class Suppression(_message.Message):
    __slots__ = ("key", "issuer_name", "address_hint", "reason", "detail", "certificate_id", "create_time")
    KEY_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_HINT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    key: str
    issuer_name: str
    address_hint: str
    reason: SuppressionReason
    detail: str
    certificate_id: str
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, key: _Optional[str] = ..., issuer_name: _Optional[str] = ..., address_hint: _Optional[str] = ..., reason: _Optional[_Union[SuppressionReason, str]] = ..., detail: _Optional[str] = ..., certificate_id: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListSuppressionsRequest(_message.Message):
    __slots__ = ("issuer_name", "page_size", "page_token")
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    issuer_name: str
    page_size: int
    page_token: str
    def __init__(self, issuer_name: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSuppressionsResponse(_message.Message):
    __slots__ = ("suppressions", "next_page_token")
    SUPPRESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    suppressions: _containers.RepeatedCompositeFieldContainer[Suppression]
    next_page_token: str
    def __init__(self, suppressions: _Optional[_Iterable[_Union[Suppression, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DeleteSuppressionRequest(_message.Message):
    __slots__ = ("issuer_name", "email", "key")
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    issuer_name: str
    email: str
    key: str
    def __init__(self, issuer_name: _Optional[str] = ..., email: _Optional[str] = ..., key: _Optional[str] = ...) -> None: ...

class DeleteSuppressionResponse(_message.Message):
    __slots__ = ("deleted",)
    DELETED_FIELD_NUMBER: _ClassVar[int]
    deleted: bool
    def __init__(self, deleted: _Optional[bool] = ...) -> None: ...

class ListDeliveriesRequest(_message.Message):
    __slots__ = ("batch_id", "page_size", "page_token")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    page_size: int
    page_token: str
    def __init__(self, batch_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "next_page_token")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    next_page_token: str
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class RetryFailedDeliveriesRequest(_message.Message):
    __slots__ = ("batch_id", "request_id")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    request_id: str
    def __init__(self, batch_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RetryFailedDeliveriesResponse(_message.Message):
    __slots__ = ("requeued_count",)
    REQUEUED_COUNT_FIELD_NUMBER: _ClassVar[int]
    requeued_count: int
    def __init__(self, requeued_count: _Optional[int] = ...) -> None: ...

class PreviewEmailRequest(_message.Message):
    __slots__ = ("certificate_id", "sample")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    SAMPLE_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    sample: EmailSample
    def __init__(self, certificate_id: _Optional[str] = ..., sample: _Optional[_Union[EmailSample, _Mapping]] = ...) -> None: ...

class EmailSample(_message.Message):
    __slots__ = ("recipient_name", "recipient_email", "title", "completion_date", "issuer_name")
    RECIPIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_DATE_FIELD_NUMBER: _ClassVar[int]
    ISSUER_NAME_FIELD_NUMBER: _ClassVar[int]
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: str
    issuer_name: str
    def __init__(self, recipient_name: _Optional[str] = ..., recipient_email: _Optional[str] = ..., title: _Optional[str] = ..., completion_date: _Optional[str] = ..., issuer_name: _Optional[str] = ...) -> None: ...

class EmailHeader(_message.Message):
    __slots__ = ("name", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    value: str
    def __init__(self, name: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...

class PreviewEmailResponse(_message.Message):
    __slots__ = ("recipient", "subject", "headers", "text_body", "html_body", "attachment_names", "smtputf8_required", "size_bytes", "dkim_signed")
    RECIPIENT_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    TEXT_BODY_FIELD_NUMBER: _ClassVar[int]
    HTML_BODY_FIELD_NUMBER: _ClassVar[int]
    ATTACHMENT_NAMES_FIELD_NUMBER: _ClassVar[int]
    SMTPUTF8_REQUIRED_FIELD_NUMBER: _ClassVar[int]
    SIZE_BYTES_FIELD_NUMBER: _ClassVar[int]
    DKIM_SIGNED_FIELD_NUMBER: _ClassVar[int]
    recipient: str
    subject: str
    headers: _containers.RepeatedCompositeFieldContainer[EmailHeader]
    text_body: str
    html_body: str
    attachment_names: _containers.RepeatedScalarFieldContainer[str]
    smtputf8_required: bool
    size_bytes: int
    dkim_signed: bool
    def __init__(self, recipient: _Optional[str] = ..., subject: _Optional[str] = ..., headers: _Optional[_Iterable[_Union[EmailHeader, _Mapping]]] = ..., text_body: _Optional[str] = ..., html_body: _Optional[str] = ..., attachment_names: _Optional[_Iterable[str]] = ..., smtputf8_required: _Optional[bool] = ..., size_bytes: _Optional[int] = ..., dkim_signed: _Optional[bool] = ...) -> None: ...
