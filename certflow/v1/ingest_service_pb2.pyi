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

class BatchState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BATCH_STATE_UNSPECIFIED: _ClassVar[BatchState]
    BATCH_STATE_ANCHORING: _ClassVar[BatchState]
    BATCH_STATE_NOTIFYING: _ClassVar[BatchState]
    BATCH_STATE_COMPLETED: _ClassVar[BatchState]
    BATCH_STATE_REJECTED: _ClassVar[BatchState]
    BATCH_STATE_COMPLETED_WITH_FAILURES: _ClassVar[BatchState]
    BATCH_STATE_VALIDATING: _ClassVar[BatchState]
    BATCH_STATE_CANCELLED: _ClassVar[BatchState]

class DeliveryWindow(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DELIVERY_WINDOW_UNSPECIFIED: _ClassVar[DeliveryWindow]
    DELIVERY_WINDOW_ANYTIME: _ClassVar[DeliveryWindow]
    DELIVERY_WINDOW_BUSINESS_HOURS: _ClassVar[DeliveryWindow]

class DateOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATE_ORDER_UNSPECIFIED: _ClassVar[DateOrder]
    DATE_ORDER_DAY_FIRST: _ClassVar[DateOrder]
    DATE_ORDER_MONTH_FIRST: _ClassVar[DateOrder]
BATCH_STATE_UNSPECIFIED: BatchState
BATCH_STATE_ANCHORING: BatchState
BATCH_STATE_NOTIFYING: BatchState
BATCH_STATE_COMPLETED: BatchState
BATCH_STATE_REJECTED: BatchState
BATCH_STATE_COMPLETED_WITH_FAILURES: BatchState
BATCH_STATE_VALIDATING: BatchState
BATCH_STATE_CANCELLED: BatchState
DELIVERY_WINDOW_UNSPECIFIED: DeliveryWindow
DELIVERY_WINDOW_ANYTIME: DeliveryWindow
DELIVERY_WINDOW_BUSINESS_HOURS: DeliveryWindow
DATE_ORDER_UNSPECIFIED: DateOrder
DATE_ORDER_DAY_FIRST: DateOrder
DATE_ORDER_MONTH_FIRST: DateOrder

class Batch(_message.Message):
    __slots__ = ("name", "batch_id", "display_name", "source", "state", "row_count", "accepted_count", "rejected_count", "anchored_count", "emailed_count", "email_failed_count", "create_time", "stored_count", "cancel_time", "cancelled_count")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ANCHORED_COUNT_FIELD_NUMBER: _ClassVar[int]
    EMAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FAILED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    STORED_COUNT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_COUNT_FIELD_NUMBER: _ClassVar[int]
    name: str
    batch_id: str
    display_name: str
    source: str
    state: BatchState
    row_count: int
    accepted_count: int
    rejected_count: int
    anchored_count: int
    emailed_count: int
    email_failed_count: int
    create_time: _timestamp_pb2.Timestamp
    stored_count: int
    cancel_time: _timestamp_pb2.Timestamp
    cancelled_count: int
    def __init__(self, name: _Optional[str] = ..., batch_id: _Optional[str] = ..., display_name: _Optional[str] = ..., source: _Optional[str] = ..., state: _Optional[_Union[BatchState, str]] = ..., row_count: _Optional[int] = ..., accepted_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., anchored_count: _Optional[int] = ..., emailed_count: _Optional[int] = ..., email_failed_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stored_count: _Optional[int] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancelled_count: _Optional[int] = ...) -> None: ...

class UploadCsvRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadCsvMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadCsvMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadCsvMetadata(_message.Message):
    __slots__ = ("request_id", "display_name", "encoding", "column_mapping", "date_order", "delivery_window", "send_time")
    class ColumnMappingEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    COLUMN_MAPPING_FIELD_NUMBER: _ClassVar[int]
    DATE_ORDER_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_WINDOW_FIELD_NUMBER: _ClassVar[int]
    SEND_TIME_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    display_name: str
    encoding: str
    column_mapping: _containers.ScalarMap[str, str]
    date_order: DateOrder
    delivery_window: DeliveryWindow
    send_time: _timestamp_pb2.Timestamp
    def __init__(self, request_id: _Optional[str] = ..., display_name: _Optional[str] = ..., encoding: _Optional[str] = ..., column_mapping: _Optional[_Mapping[str, str]] = ..., date_order: _Optional[_Union[DateOrder, str]] = ..., delivery_window: _Optional[_Union[DeliveryWindow, str]] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UploadCsvResponse(_message.Message):
    __slots__ = ("batch", "row_errors", "warnings", "warning_count", "encoding", "delimiter")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    ROW_ERRORS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    WARNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    row_errors: _containers.RepeatedCompositeFieldContainer[_certificate_pb2.RowError]
    warnings: _containers.RepeatedCompositeFieldContainer[RowWarning]
    warning_count: int
    encoding: str
    delimiter: str
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., row_errors: _Optional[_Iterable[_Union[_certificate_pb2.RowError, _Mapping]]] = ..., warnings: _Optional[_Iterable[_Union[RowWarning, _Mapping]]] = ..., warning_count: _Optional[int] = ..., encoding: _Optional[str] = ..., delimiter: _Optional[str] = ...) -> None: ...

class RowWarning(_message.Message):
    __slots__ = ("row_number", "field", "code", "message")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FIELD_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    field: str
    code: str
    message: str
    def __init__(self, row_number: _Optional[int] = ..., field: _Optional[str] = ..., code: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IssueCertificateRequest(_message.Message):
    __slots__ = ("request_id", "recipient_name", "recipient_email", "title", "completion_date", "expiry_date", "custom_fields", "date_order")
    class CustomFieldsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    CUSTOM_FIELDS_FIELD_NUMBER: _ClassVar[int]
    DATE_ORDER_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: str
    expiry_date: str
    custom_fields: _containers.ScalarMap[str, str]
    date_order: DateOrder
    def __init__(self, request_id: _Optional[str] = ..., recipient_name: _Optional[str] = ..., recipient_email: _Optional[str] = ..., title: _Optional[str] = ..., completion_date: _Optional[str] = ..., expiry_date: _Optional[str] = ..., custom_fields: _Optional[_Mapping[str, str]] = ..., date_order: _Optional[_Union[DateOrder, str]] = ...) -> None: ...

class IssueCertificateResponse(_message.Message):
    __slots__ = ("certificate", "warnings")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    certificate: _certificate_pb2.Certificate
    warnings: _containers.RepeatedCompositeFieldContainer[RowWarning]
    def __init__(self, certificate: _Optional[_Union[_certificate_pb2.Certificate, _Mapping]] = ..., warnings: _Optional[_Iterable[_Union[RowWarning, _Mapping]]] = ...) -> None: ...

class ReissueCertificateRequest(_message.Message):
    __slots__ = ("request_id", "certificate_id", "recipient_name", "recipient_email", "title", "completion_date", "expiry_date", "reason_text")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_NAME_FIELD_NUMBER: _ClassVar[int]
    RECIPIENT_EMAIL_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    COMPLETION_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPIRY_DATE_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    certificate_id: str
    recipient_name: str
    recipient_email: str
    title: str
    completion_date: str
    expiry_date: str
    reason_text: str
    def __init__(self, request_id: _Optional[str] = ..., certificate_id: _Optional[str] = ..., recipient_name: _Optional[str] = ..., recipient_email: _Optional[str] = ..., title: _Optional[str] = ..., completion_date: _Optional[str] = ..., expiry_date: _Optional[str] = ..., reason_text: _Optional[str] = ...) -> None: ...

class ReissueCertificateResponse(_message.Message):
    __slots__ = ("certificate", "replaced_certificate_id", "warnings")
    CERTIFICATE_FIELD_NUMBER: _ClassVar[int]
    REPLACED_CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    certificate: _certificate_pb2.Certificate
    replaced_certificate_id: str
    warnings: _containers.RepeatedCompositeFieldContainer[RowWarning]
    def __init__(self, certificate: _Optional[_Union[_certificate_pb2.Certificate, _Mapping]] = ..., replaced_certificate_id: _Optional[str] = ..., warnings: _Optional[_Iterable[_Union[RowWarning, _Mapping]]] = ...) -> None: ...

class GetBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class GetBatchResponse(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class ListRowErrorsRequest(_message.Message):
    __slots__ = ("batch_id", "page_size", "page_token")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    page_size: int
    page_token: str
    def __init__(self, batch_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRowErrorsResponse(_message.Message):
    __slots__ = ("row_errors", "next_page_token")
    ROW_ERRORS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    row_errors: _containers.RepeatedCompositeFieldContainer[_certificate_pb2.RowError]
    next_page_token: str
    def __init__(self, row_errors: _Optional[_Iterable[_Union[_certificate_pb2.RowError, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListBatchesRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "states", "create_time_start", "create_time_end")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_START_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_END_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    states: _containers.RepeatedScalarFieldContainer[BatchState]
    create_time_start: _timestamp_pb2.Timestamp
    create_time_end: _timestamp_pb2.Timestamp
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., states: _Optional[_Iterable[_Union[BatchState, str]]] = ..., create_time_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListBatchesResponse(_message.Message):
    __slots__ = ("batches", "next_page_token")
    BATCHES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    batches: _containers.RepeatedCompositeFieldContainer[Batch]
    next_page_token: str
    def __init__(self, batches: _Optional[_Iterable[_Union[Batch, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class WatchBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class WatchBatchResponse(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class CancelBatchRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class CancelBatchResponse(_message.Message):
    __slots__ = ("batch",)
    BATCH_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ...) -> None: ...

class DownloadErrorReportRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class DownloadErrorReportResponse(_message.Message):
    __slots__ = ("chunk",)
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    chunk: bytes
    def __init__(self, chunk: _Optional[bytes] = ...) -> None: ...
