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

class AnchorWindowState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANCHOR_WINDOW_STATE_UNSPECIFIED: _ClassVar[AnchorWindowState]
    ANCHOR_WINDOW_STATE_BUILT: _ClassVar[AnchorWindowState]
    ANCHOR_WINDOW_STATE_SUBMITTED: _ClassVar[AnchorWindowState]
    ANCHOR_WINDOW_STATE_CONFIRMED: _ClassVar[AnchorWindowState]
ANCHOR_WINDOW_STATE_UNSPECIFIED: AnchorWindowState
ANCHOR_WINDOW_STATE_BUILT: AnchorWindowState
ANCHOR_WINDOW_STATE_SUBMITTED: AnchorWindowState
ANCHOR_WINDOW_STATE_CONFIRMED: AnchorWindowState

class AnchorWindow(_message.Message):
    __slots__ = ("name", "window_id", "state", "leaf_count", "merkle_root", "chain_id", "contract_address", "transaction_hash", "block_number", "gas_used", "create_time", "confirm_time", "waiting_reason", "transaction_count", "fee_wei", "fee_per_certificate_wei")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    LEAF_COUNT_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    CONTRACT_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    GAS_USED_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    CONFIRM_TIME_FIELD_NUMBER: _ClassVar[int]
    WAITING_REASON_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_COUNT_FIELD_NUMBER: _ClassVar[int]
    FEE_WEI_FIELD_NUMBER: _ClassVar[int]
    FEE_PER_CERTIFICATE_WEI_FIELD_NUMBER: _ClassVar[int]
    name: str
    window_id: str
    state: AnchorWindowState
    leaf_count: int
    merkle_root: bytes
    chain_id: int
    contract_address: str
    transaction_hash: str
    block_number: int
    gas_used: int
    create_time: _timestamp_pb2.Timestamp
    confirm_time: _timestamp_pb2.Timestamp
    waiting_reason: str
    transaction_count: int
    fee_wei: str
    fee_per_certificate_wei: str
    def __init__(self, name: _Optional[str] = ..., window_id: _Optional[str] = ..., state: _Optional[_Union[AnchorWindowState, str]] = ..., leaf_count: _Optional[int] = ..., merkle_root: _Optional[bytes] = ..., chain_id: _Optional[int] = ..., contract_address: _Optional[str] = ..., transaction_hash: _Optional[str] = ..., block_number: _Optional[int] = ..., gas_used: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., confirm_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., waiting_reason: _Optional[str] = ..., transaction_count: _Optional[int] = ..., fee_wei: _Optional[str] = ..., fee_per_certificate_wei: _Optional[str] = ...) -> None: ...

class GetAnchorWindowRequest(_message.Message):
    __slots__ = ("window_id",)
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    window_id: str
    def __init__(self, window_id: _Optional[str] = ...) -> None: ...

class GetAnchorWindowResponse(_message.Message):
    __slots__ = ("anchor_window",)
    ANCHOR_WINDOW_FIELD_NUMBER: _ClassVar[int]
    anchor_window: AnchorWindow
    def __init__(self, anchor_window: _Optional[_Union[AnchorWindow, _Mapping]] = ...) -> None: ...

class ListAnchorWindowsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAnchorWindowsResponse(_message.Message):
    __slots__ = ("anchor_windows", "next_page_token")
    ANCHOR_WINDOWS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    anchor_windows: _containers.RepeatedCompositeFieldContainer[AnchorWindow]
    next_page_token: str
    def __init__(self, anchor_windows: _Optional[_Iterable[_Union[AnchorWindow, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetCertificateProofRequest(_message.Message):
    __slots__ = ("certificate_id",)
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    def __init__(self, certificate_id: _Optional[str] = ...) -> None: ...

class GetCertificateProofResponse(_message.Message):
    __slots__ = ("window_id", "leaf_hash", "merkle_path", "merkle_root", "window_state")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    MERKLE_PATH_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    WINDOW_STATE_FIELD_NUMBER: _ClassVar[int]
    window_id: str
    leaf_hash: bytes
    merkle_path: _containers.RepeatedScalarFieldContainer[bytes]
    merkle_root: bytes
    window_state: AnchorWindowState
    def __init__(self, window_id: _Optional[str] = ..., leaf_hash: _Optional[bytes] = ..., merkle_path: _Optional[_Iterable[bytes]] = ..., merkle_root: _Optional[bytes] = ..., window_state: _Optional[_Union[AnchorWindowState, str]] = ...) -> None: ...

class GetSignerStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetSignerStatusResponse(_message.Message):
    __slots__ = ("signer_address", "balance_wei", "balance_low", "low_balance_threshold_wei", "next_base_fee_wei", "max_fee_per_gas_cap_wei", "rpc_url")
    SIGNER_ADDRESS_FIELD_NUMBER: _ClassVar[int]
    BALANCE_WEI_FIELD_NUMBER: _ClassVar[int]
    BALANCE_LOW_FIELD_NUMBER: _ClassVar[int]
    LOW_BALANCE_THRESHOLD_WEI_FIELD_NUMBER: _ClassVar[int]
    NEXT_BASE_FEE_WEI_FIELD_NUMBER: _ClassVar[int]
    MAX_FEE_PER_GAS_CAP_WEI_FIELD_NUMBER: _ClassVar[int]
    RPC_URL_FIELD_NUMBER: _ClassVar[int]
    signer_address: str
    balance_wei: str
    balance_low: bool
    low_balance_threshold_wei: str
    next_base_fee_wei: str
    max_fee_per_gas_cap_wei: str
    rpc_url: str
    def __init__(self, signer_address: _Optional[str] = ..., balance_wei: _Optional[str] = ..., balance_low: _Optional[bool] = ..., low_balance_threshold_wei: _Optional[str] = ..., next_base_fee_wei: _Optional[str] = ..., max_fee_per_gas_cap_wei: _Optional[str] = ..., rpc_url: _Optional[str] = ...) -> None: ...

class RevokeCertificatesRequest(_message.Message):
    __slots__ = ("request_id", "certificate_ids", "batch_id", "reason", "reason_text")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_IDS_FIELD_NUMBER: _ClassVar[int]
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    REASON_TEXT_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    certificate_ids: _containers.RepeatedScalarFieldContainer[str]
    batch_id: str
    reason: _certificate_pb2.RevocationReason
    reason_text: str
    def __init__(self, request_id: _Optional[str] = ..., certificate_ids: _Optional[_Iterable[str]] = ..., batch_id: _Optional[str] = ..., reason: _Optional[_Union[_certificate_pb2.RevocationReason, str]] = ..., reason_text: _Optional[str] = ...) -> None: ...

class RevokeCertificatesResponse(_message.Message):
    __slots__ = ("certificate_count", "newly_revoked_count", "already_revoked_count")
    CERTIFICATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    NEWLY_REVOKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    ALREADY_REVOKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    certificate_count: int
    newly_revoked_count: int
    already_revoked_count: int
    def __init__(self, certificate_count: _Optional[int] = ..., newly_revoked_count: _Optional[int] = ..., already_revoked_count: _Optional[int] = ...) -> None: ...
