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
DELIVERY_STATE_UNSPECIFIED: DeliveryState
DELIVERY_STATE_PENDING: DeliveryState
DELIVERY_STATE_SENDING: DeliveryState
DELIVERY_STATE_SENT: DeliveryState
DELIVERY_STATE_FAILED: DeliveryState
DELIVERY_STATE_SCHEDULED: DeliveryState

class Delivery(_message.Message):
    __slots__ = ("delivery_id", "certificate_id", "state", "attempts", "message_id", "last_error", "send_time")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_ID_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    certificate_id: str
    state: DeliveryState
    attempts: int
    message_id: str
    last_error: str
    send_time: _timestamp_pb2.Timestamp
    def __init__(self, delivery_id: _Optional[str] = ..., certificate_id: _Optional[str] = ..., state: _Optional[_Union[DeliveryState, str]] = ..., attempts: _Optional[int] = ..., message_id: _Optional[str] = ..., last_error: _Optional[str] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

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
