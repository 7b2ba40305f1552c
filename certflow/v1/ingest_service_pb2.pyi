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

class SourceAuthKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SOURCE_AUTH_KIND_UNSPECIFIED: _ClassVar[SourceAuthKind]
    SOURCE_AUTH_KIND_BASIC: _ClassVar[SourceAuthKind]
    SOURCE_AUTH_KIND_BEARER: _ClassVar[SourceAuthKind]
    SOURCE_AUTH_KIND_HMAC: _ClassVar[SourceAuthKind]

class IssuanceRuleKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISSUANCE_RULE_KIND_UNSPECIFIED: _ClassVar[IssuanceRuleKind]
    ISSUANCE_RULE_KIND_COMPLETED: _ClassVar[IssuanceRuleKind]
    ISSUANCE_RULE_KIND_PASSED: _ClassVar[IssuanceRuleKind]
    ISSUANCE_RULE_KIND_ATTENDED: _ClassVar[IssuanceRuleKind]
    ISSUANCE_RULE_KIND_REQUIREMENTS_MET: _ClassVar[IssuanceRuleKind]

class IssuanceMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ISSUANCE_MODE_UNSPECIFIED: _ClassVar[IssuanceMode]
    ISSUANCE_MODE_IMMEDIATE: _ClassVar[IssuanceMode]
    ISSUANCE_MODE_COLLECTED: _ClassVar[IssuanceMode]
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
SOURCE_AUTH_KIND_UNSPECIFIED: SourceAuthKind
SOURCE_AUTH_KIND_BASIC: SourceAuthKind
SOURCE_AUTH_KIND_BEARER: SourceAuthKind
SOURCE_AUTH_KIND_HMAC: SourceAuthKind
ISSUANCE_RULE_KIND_UNSPECIFIED: IssuanceRuleKind
ISSUANCE_RULE_KIND_COMPLETED: IssuanceRuleKind
ISSUANCE_RULE_KIND_PASSED: IssuanceRuleKind
ISSUANCE_RULE_KIND_ATTENDED: IssuanceRuleKind
ISSUANCE_RULE_KIND_REQUIREMENTS_MET: IssuanceRuleKind
ISSUANCE_MODE_UNSPECIFIED: IssuanceMode
ISSUANCE_MODE_IMMEDIATE: IssuanceMode
ISSUANCE_MODE_COLLECTED: IssuanceMode

class Batch(_message.Message):
    __slots__ = ("name", "batch_id", "display_name", "source", "state", "row_count", "accepted_count", "rejected_count", "anchored_count", "emailed_count", "email_failed_count", "create_time", "stored_count", "cancel_time", "cancelled_count", "email_bounced_count", "email_suppressed_count")
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
    EMAIL_BOUNCED_COUNT_FIELD_NUMBER: _ClassVar[int]
    EMAIL_SUPPRESSED_COUNT_FIELD_NUMBER: _ClassVar[int]
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
    email_bounced_count: int
    email_suppressed_count: int
    def __init__(self, name: _Optional[str] = ..., batch_id: _Optional[str] = ..., display_name: _Optional[str] = ..., source: _Optional[str] = ..., state: _Optional[_Union[BatchState, str]] = ..., row_count: _Optional[int] = ..., accepted_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., anchored_count: _Optional[int] = ..., emailed_count: _Optional[int] = ..., email_failed_count: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stored_count: _Optional[int] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancelled_count: _Optional[int] = ..., email_bounced_count: _Optional[int] = ..., email_suppressed_count: _Optional[int] = ...) -> None: ...

class UploadCsvRequest(_message.Message):
    __slots__ = ("metadata", "chunk")
    METADATA_FIELD_NUMBER: _ClassVar[int]
    CHUNK_FIELD_NUMBER: _ClassVar[int]
    metadata: UploadCsvMetadata
    chunk: bytes
    def __init__(self, metadata: _Optional[_Union[UploadCsvMetadata, _Mapping]] = ..., chunk: _Optional[bytes] = ...) -> None: ...

class UploadCsvMetadata(_message.Message):
    __slots__ = ("request_id", "display_name", "encoding", "column_mapping", "date_order", "delivery_window", "send_time", "dry_run", "pilot_rows", "batch_id", "preview_count")
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
    DRY_RUN_FIELD_NUMBER: _ClassVar[int]
    PILOT_ROWS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIEW_COUNT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    display_name: str
    encoding: str
    column_mapping: _containers.ScalarMap[str, str]
    date_order: DateOrder
    delivery_window: DeliveryWindow
    send_time: _timestamp_pb2.Timestamp
    dry_run: bool
    pilot_rows: int
    batch_id: str
    preview_count: int
    def __init__(self, request_id: _Optional[str] = ..., display_name: _Optional[str] = ..., encoding: _Optional[str] = ..., column_mapping: _Optional[_Mapping[str, str]] = ..., date_order: _Optional[_Union[DateOrder, str]] = ..., delivery_window: _Optional[_Union[DeliveryWindow, str]] = ..., send_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dry_run: _Optional[bool] = ..., pilot_rows: _Optional[int] = ..., batch_id: _Optional[str] = ..., preview_count: _Optional[int] = ...) -> None: ...

class UploadCsvResponse(_message.Message):
    __slots__ = ("batch", "row_errors", "warnings", "warning_count", "encoding", "delimiter", "plan", "skipped_count", "held_back_count", "resolved_count")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    ROW_ERRORS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    WARNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    PLAN_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    HELD_BACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    row_errors: _containers.RepeatedCompositeFieldContainer[_certificate_pb2.RowError]
    warnings: _containers.RepeatedCompositeFieldContainer[RowWarning]
    warning_count: int
    encoding: str
    delimiter: str
    plan: UploadPlan
    skipped_count: int
    held_back_count: int
    resolved_count: int
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., row_errors: _Optional[_Iterable[_Union[_certificate_pb2.RowError, _Mapping]]] = ..., warnings: _Optional[_Iterable[_Union[RowWarning, _Mapping]]] = ..., warning_count: _Optional[int] = ..., encoding: _Optional[str] = ..., delimiter: _Optional[str] = ..., plan: _Optional[_Union[UploadPlan, _Mapping]] = ..., skipped_count: _Optional[int] = ..., held_back_count: _Optional[int] = ..., resolved_count: _Optional[int] = ...) -> None: ...

class UploadPlan(_message.Message):
    __slots__ = ("row_count", "accepted_count", "rejected_count", "duplicates_in_file_count", "already_issued_count", "skipped_count", "held_back_count", "row_errors", "warnings", "warning_count", "previews", "anchoring", "encoding", "delimiter", "resolved_count")
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_IN_FILE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ALREADY_ISSUED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    HELD_BACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    ROW_ERRORS_FIELD_NUMBER: _ClassVar[int]
    WARNINGS_FIELD_NUMBER: _ClassVar[int]
    WARNING_COUNT_FIELD_NUMBER: _ClassVar[int]
    PREVIEWS_FIELD_NUMBER: _ClassVar[int]
    ANCHORING_FIELD_NUMBER: _ClassVar[int]
    ENCODING_FIELD_NUMBER: _ClassVar[int]
    DELIMITER_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    row_count: int
    accepted_count: int
    rejected_count: int
    duplicates_in_file_count: int
    already_issued_count: int
    skipped_count: int
    held_back_count: int
    row_errors: _containers.RepeatedCompositeFieldContainer[_certificate_pb2.RowError]
    warnings: _containers.RepeatedCompositeFieldContainer[RowWarning]
    warning_count: int
    previews: _containers.RepeatedCompositeFieldContainer[CertificatePreview]
    anchoring: AnchoringEstimate
    encoding: str
    delimiter: str
    resolved_count: int
    def __init__(self, row_count: _Optional[int] = ..., accepted_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., duplicates_in_file_count: _Optional[int] = ..., already_issued_count: _Optional[int] = ..., skipped_count: _Optional[int] = ..., held_back_count: _Optional[int] = ..., row_errors: _Optional[_Iterable[_Union[_certificate_pb2.RowError, _Mapping]]] = ..., warnings: _Optional[_Iterable[_Union[RowWarning, _Mapping]]] = ..., warning_count: _Optional[int] = ..., previews: _Optional[_Iterable[_Union[CertificatePreview, _Mapping]]] = ..., anchoring: _Optional[_Union[AnchoringEstimate, _Mapping]] = ..., encoding: _Optional[str] = ..., delimiter: _Optional[str] = ..., resolved_count: _Optional[int] = ...) -> None: ...

class CertificatePreview(_message.Message):
    __slots__ = ("row_number", "credential_json", "email")
    ROW_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CREDENTIAL_JSON_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    row_number: int
    credential_json: str
    email: EmailPreview
    def __init__(self, row_number: _Optional[int] = ..., credential_json: _Optional[str] = ..., email: _Optional[_Union[EmailPreview, _Mapping]] = ...) -> None: ...

class EmailPreview(_message.Message):
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

class AnchoringEstimate(_message.Message):
    __slots__ = ("window_size", "transaction_count", "gas_per_transaction", "base_fee_wei", "estimated_fee_wei", "fee_note")
    WINDOW_SIZE_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    GAS_PER_TRANSACTION_FIELD_NUMBER: _ClassVar[int]
    BASE_FEE_WEI_FIELD_NUMBER: _ClassVar[int]
    ESTIMATED_FEE_WEI_FIELD_NUMBER: _ClassVar[int]
    FEE_NOTE_FIELD_NUMBER: _ClassVar[int]
    window_size: int
    transaction_count: int
    gas_per_transaction: int
    base_fee_wei: str
    estimated_fee_wei: str
    fee_note: str
    def __init__(self, window_size: _Optional[int] = ..., transaction_count: _Optional[int] = ..., gas_per_transaction: _Optional[int] = ..., base_fee_wei: _Optional[str] = ..., estimated_fee_wei: _Optional[str] = ..., fee_note: _Optional[str] = ...) -> None: ...

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

class GetBatchReportRequest(_message.Message):
    __slots__ = ("batch_id",)
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    def __init__(self, batch_id: _Optional[str] = ...) -> None: ...

class GetBatchReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: BatchReport
    def __init__(self, report: _Optional[_Union[BatchReport, _Mapping]] = ...) -> None: ...

class BatchReport(_message.Message):
    __slots__ = ("batch", "refused_row_count", "intakes", "transactions", "deliveries", "first_anchor_time", "last_anchor_time", "last_email_time")
    BATCH_FIELD_NUMBER: _ClassVar[int]
    REFUSED_ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    INTAKES_FIELD_NUMBER: _ClassVar[int]
    TRANSACTIONS_FIELD_NUMBER: _ClassVar[int]
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    FIRST_ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_EMAIL_TIME_FIELD_NUMBER: _ClassVar[int]
    batch: Batch
    refused_row_count: int
    intakes: _containers.RepeatedCompositeFieldContainer[BatchIntake]
    transactions: _containers.RepeatedCompositeFieldContainer[AnchoringTransaction]
    deliveries: _containers.RepeatedCompositeFieldContainer[DeliveryCount]
    first_anchor_time: _timestamp_pb2.Timestamp
    last_anchor_time: _timestamp_pb2.Timestamp
    last_email_time: _timestamp_pb2.Timestamp
    def __init__(self, batch: _Optional[_Union[Batch, _Mapping]] = ..., refused_row_count: _Optional[int] = ..., intakes: _Optional[_Iterable[_Union[BatchIntake, _Mapping]]] = ..., transactions: _Optional[_Iterable[_Union[AnchoringTransaction, _Mapping]]] = ..., deliveries: _Optional[_Iterable[_Union[DeliveryCount, _Mapping]]] = ..., first_anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_email_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BatchIntake(_message.Message):
    __slots__ = ("sequence", "create_time", "row_count", "accepted_count", "rejected_count", "skipped_count", "held_back_count", "resolved_count")
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ROW_COUNT_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    REJECTED_COUNT_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_COUNT_FIELD_NUMBER: _ClassVar[int]
    HELD_BACK_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_COUNT_FIELD_NUMBER: _ClassVar[int]
    sequence: int
    create_time: _timestamp_pb2.Timestamp
    row_count: int
    accepted_count: int
    rejected_count: int
    skipped_count: int
    held_back_count: int
    resolved_count: int
    def __init__(self, sequence: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., row_count: _Optional[int] = ..., accepted_count: _Optional[int] = ..., rejected_count: _Optional[int] = ..., skipped_count: _Optional[int] = ..., held_back_count: _Optional[int] = ..., resolved_count: _Optional[int] = ...) -> None: ...

class AnchoringTransaction(_message.Message):
    __slots__ = ("transaction_hash", "chain_id", "block_number", "window_id", "merkle_root", "certificate_count", "anchor_time")
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    ANCHOR_TIME_FIELD_NUMBER: _ClassVar[int]
    transaction_hash: str
    chain_id: int
    block_number: int
    window_id: str
    merkle_root: bytes
    certificate_count: int
    anchor_time: _timestamp_pb2.Timestamp
    def __init__(self, transaction_hash: _Optional[str] = ..., chain_id: _Optional[int] = ..., block_number: _Optional[int] = ..., window_id: _Optional[str] = ..., merkle_root: _Optional[bytes] = ..., certificate_count: _Optional[int] = ..., anchor_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class DeliveryCount(_message.Message):
    __slots__ = ("outcome", "count")
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    outcome: str
    count: int
    def __init__(self, outcome: _Optional[str] = ..., count: _Optional[int] = ...) -> None: ...

class LmsSource(_message.Message):
    __slots__ = ("source_id", "name", "auth_kind", "mapping_json", "disabled", "create_time")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUTH_KIND_FIELD_NUMBER: _ClassVar[int]
    MAPPING_JSON_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    name: str
    auth_kind: SourceAuthKind
    mapping_json: str
    disabled: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, source_id: _Optional[str] = ..., name: _Optional[str] = ..., auth_kind: _Optional[_Union[SourceAuthKind, str]] = ..., mapping_json: _Optional[str] = ..., disabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateSourceRequest(_message.Message):
    __slots__ = ("request_id", "name", "auth_kind", "mapping_json")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    AUTH_KIND_FIELD_NUMBER: _ClassVar[int]
    MAPPING_JSON_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    name: str
    auth_kind: SourceAuthKind
    mapping_json: str
    def __init__(self, request_id: _Optional[str] = ..., name: _Optional[str] = ..., auth_kind: _Optional[_Union[SourceAuthKind, str]] = ..., mapping_json: _Optional[str] = ...) -> None: ...

class CreateSourceResponse(_message.Message):
    __slots__ = ("source", "secret")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    source: LmsSource
    secret: str
    def __init__(self, source: _Optional[_Union[LmsSource, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListSourcesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSourcesResponse(_message.Message):
    __slots__ = ("sources", "next_page_token")
    SOURCES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sources: _containers.RepeatedCompositeFieldContainer[LmsSource]
    next_page_token: str
    def __init__(self, sources: _Optional[_Iterable[_Union[LmsSource, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DisableSourceRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DisableSourceResponse(_message.Message):
    __slots__ = ("source",)
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    source: LmsSource
    def __init__(self, source: _Optional[_Union[LmsSource, _Mapping]] = ...) -> None: ...

class IssuanceRule(_message.Message):
    __slots__ = ("rule_id", "kind", "activity_id", "required_activity_ids", "min_score_scaled", "min_sessions", "title", "template", "mode", "disabled", "create_time")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTIVITY_ID_FIELD_NUMBER: _ClassVar[int]
    REQUIRED_ACTIVITY_IDS_FIELD_NUMBER: _ClassVar[int]
    MIN_SCORE_SCALED_FIELD_NUMBER: _ClassVar[int]
    MIN_SESSIONS_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    TEMPLATE_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    kind: IssuanceRuleKind
    activity_id: str
    required_activity_ids: _containers.RepeatedScalarFieldContainer[str]
    min_score_scaled: float
    min_sessions: int
    title: str
    template: str
    mode: IssuanceMode
    disabled: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, rule_id: _Optional[str] = ..., kind: _Optional[_Union[IssuanceRuleKind, str]] = ..., activity_id: _Optional[str] = ..., required_activity_ids: _Optional[_Iterable[str]] = ..., min_score_scaled: _Optional[float] = ..., min_sessions: _Optional[int] = ..., title: _Optional[str] = ..., template: _Optional[str] = ..., mode: _Optional[_Union[IssuanceMode, str]] = ..., disabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateIssuanceRuleRequest(_message.Message):
    __slots__ = ("request_id", "rule")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    rule: IssuanceRule
    def __init__(self, request_id: _Optional[str] = ..., rule: _Optional[_Union[IssuanceRule, _Mapping]] = ...) -> None: ...

class CreateIssuanceRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: IssuanceRule
    def __init__(self, rule: _Optional[_Union[IssuanceRule, _Mapping]] = ...) -> None: ...

class ListIssuanceRulesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIssuanceRulesResponse(_message.Message):
    __slots__ = ("rules", "next_page_token")
    RULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[IssuanceRule]
    next_page_token: str
    def __init__(self, rules: _Optional[_Iterable[_Union[IssuanceRule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DisableIssuanceRuleRequest(_message.Message):
    __slots__ = ("rule_id",)
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    def __init__(self, rule_id: _Optional[str] = ...) -> None: ...

class DisableIssuanceRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: IssuanceRule
    def __init__(self, rule: _Optional[_Union[IssuanceRule, _Mapping]] = ...) -> None: ...

class TestIssuanceRuleRequest(_message.Message):
    __slots__ = ("rule_id", "statement_json")
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    STATEMENT_JSON_FIELD_NUMBER: _ClassVar[int]
    rule_id: str
    statement_json: str
    def __init__(self, rule_id: _Optional[str] = ..., statement_json: _Optional[str] = ...) -> None: ...

class TestIssuanceRuleResponse(_message.Message):
    __slots__ = ("fires", "reason")
    FIRES_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    fires: bool
    reason: str
    def __init__(self, fires: _Optional[bool] = ..., reason: _Optional[str] = ...) -> None: ...

class Schedule(_message.Message):
    __slots__ = ("schedule_id", "name", "rule_id", "cron", "time_zone", "run_time", "last_fire_time", "disabled", "create_time")
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_ID_FIELD_NUMBER: _ClassVar[int]
    CRON_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    RUN_TIME_FIELD_NUMBER: _ClassVar[int]
    LAST_FIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    name: str
    rule_id: str
    cron: str
    time_zone: str
    run_time: _timestamp_pb2.Timestamp
    last_fire_time: _timestamp_pb2.Timestamp
    disabled: bool
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, schedule_id: _Optional[str] = ..., name: _Optional[str] = ..., rule_id: _Optional[str] = ..., cron: _Optional[str] = ..., time_zone: _Optional[str] = ..., run_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_fire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., disabled: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateScheduleRequest(_message.Message):
    __slots__ = ("schedule", "request_id")
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    request_id: str
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class ListSchedulesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSchedulesResponse(_message.Message):
    __slots__ = ("schedules", "next_page_token")
    SCHEDULES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    schedules: _containers.RepeatedCompositeFieldContainer[Schedule]
    next_page_token: str
    def __init__(self, schedules: _Optional[_Iterable[_Union[Schedule, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DisableScheduleRequest(_message.Message):
    __slots__ = ("schedule_id",)
    SCHEDULE_ID_FIELD_NUMBER: _ClassVar[int]
    schedule_id: str
    def __init__(self, schedule_id: _Optional[str] = ...) -> None: ...

class DisableScheduleResponse(_message.Message):
    __slots__ = ("schedule",)
    SCHEDULE_FIELD_NUMBER: _ClassVar[int]
    schedule: Schedule
    def __init__(self, schedule: _Optional[_Union[Schedule, _Mapping]] = ...) -> None: ...

class WebhookEndpoint(_message.Message):
    __slots__ = ("endpoint_id", "url", "description", "event_types", "disabled", "disabled_reason", "failing_since_time", "create_time")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPES_FIELD_NUMBER: _ClassVar[int]
    DISABLED_FIELD_NUMBER: _ClassVar[int]
    DISABLED_REASON_FIELD_NUMBER: _ClassVar[int]
    FAILING_SINCE_TIME_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    url: str
    description: str
    event_types: _containers.RepeatedScalarFieldContainer[str]
    disabled: bool
    disabled_reason: str
    failing_since_time: _timestamp_pb2.Timestamp
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, endpoint_id: _Optional[str] = ..., url: _Optional[str] = ..., description: _Optional[str] = ..., event_types: _Optional[_Iterable[str]] = ..., disabled: _Optional[bool] = ..., disabled_reason: _Optional[str] = ..., failing_since_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class CreateWebhookEndpointRequest(_message.Message):
    __slots__ = ("endpoint", "request_id")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    request_id: str
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint", "secret")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    secret: str
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookEndpointsResponse(_message.Message):
    __slots__ = ("endpoints", "next_page_token")
    ENDPOINTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoints: _containers.RepeatedCompositeFieldContainer[WebhookEndpoint]
    next_page_token: str
    def __init__(self, endpoints: _Optional[_Iterable[_Union[WebhookEndpoint, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class DisableWebhookEndpointRequest(_message.Message):
    __slots__ = ("endpoint_id",)
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    def __init__(self, endpoint_id: _Optional[str] = ...) -> None: ...

class DisableWebhookEndpointResponse(_message.Message):
    __slots__ = ("endpoint",)
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ...) -> None: ...

class RotateWebhookSecretRequest(_message.Message):
    __slots__ = ("endpoint_id",)
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    def __init__(self, endpoint_id: _Optional[str] = ...) -> None: ...

class RotateWebhookSecretResponse(_message.Message):
    __slots__ = ("endpoint", "secret")
    ENDPOINT_FIELD_NUMBER: _ClassVar[int]
    SECRET_FIELD_NUMBER: _ClassVar[int]
    endpoint: WebhookEndpoint
    secret: str
    def __init__(self, endpoint: _Optional[_Union[WebhookEndpoint, _Mapping]] = ..., secret: _Optional[str] = ...) -> None: ...

class WebhookDelivery(_message.Message):
    __slots__ = ("delivery_id", "event_type", "state", "attempts", "response_code", "last_error", "response_excerpt", "create_time", "next_attempt_time", "deliver_time")
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_CODE_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    RESPONSE_EXCERPT_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    NEXT_ATTEMPT_TIME_FIELD_NUMBER: _ClassVar[int]
    DELIVER_TIME_FIELD_NUMBER: _ClassVar[int]
    delivery_id: str
    event_type: str
    state: str
    attempts: int
    response_code: int
    last_error: str
    response_excerpt: str
    create_time: _timestamp_pb2.Timestamp
    next_attempt_time: _timestamp_pb2.Timestamp
    deliver_time: _timestamp_pb2.Timestamp
    def __init__(self, delivery_id: _Optional[str] = ..., event_type: _Optional[str] = ..., state: _Optional[str] = ..., attempts: _Optional[int] = ..., response_code: _Optional[int] = ..., last_error: _Optional[str] = ..., response_excerpt: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., next_attempt_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., deliver_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("endpoint_id", "state", "page_size", "page_token")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    state: str
    page_size: int
    page_token: str
    def __init__(self, endpoint_id: _Optional[str] = ..., state: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries", "next_page_token")
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[WebhookDelivery]
    next_page_token: str
    def __init__(self, deliveries: _Optional[_Iterable[_Union[WebhookDelivery, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ReplayWebhookDeliveriesRequest(_message.Message):
    __slots__ = ("endpoint_id", "delivery_id")
    ENDPOINT_ID_FIELD_NUMBER: _ClassVar[int]
    DELIVERY_ID_FIELD_NUMBER: _ClassVar[int]
    endpoint_id: str
    delivery_id: str
    def __init__(self, endpoint_id: _Optional[str] = ..., delivery_id: _Optional[str] = ...) -> None: ...

class ReplayWebhookDeliveriesResponse(_message.Message):
    __slots__ = ("replayed_count",)
    REPLAYED_COUNT_FIELD_NUMBER: _ClassVar[int]
    replayed_count: int
    def __init__(self, replayed_count: _Optional[int] = ...) -> None: ...
