from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CertificatesIssuedEvent(_message.Message):
    __slots__ = ("batch_id", "leaves")
    BATCH_ID_FIELD_NUMBER: _ClassVar[int]
    LEAVES_FIELD_NUMBER: _ClassVar[int]
    batch_id: str
    leaves: _containers.RepeatedCompositeFieldContainer[IssuedLeaf]
    def __init__(self, batch_id: _Optional[str] = ..., leaves: _Optional[_Iterable[_Union[IssuedLeaf, _Mapping]]] = ...) -> None: ...

class IssuedLeaf(_message.Message):
    __slots__ = ("certificate_id", "leaf_hash")
    CERTIFICATE_ID_FIELD_NUMBER: _ClassVar[int]
    LEAF_HASH_FIELD_NUMBER: _ClassVar[int]
    certificate_id: str
    leaf_hash: bytes
    def __init__(self, certificate_id: _Optional[str] = ..., leaf_hash: _Optional[bytes] = ...) -> None: ...

class CertificatesAnchoredEvent(_message.Message):
    __slots__ = ("window_id", "merkle_root", "chain_id", "transaction_hash", "block_number", "certificate_ids")
    WINDOW_ID_FIELD_NUMBER: _ClassVar[int]
    MERKLE_ROOT_FIELD_NUMBER: _ClassVar[int]
    CHAIN_ID_FIELD_NUMBER: _ClassVar[int]
    TRANSACTION_HASH_FIELD_NUMBER: _ClassVar[int]
    BLOCK_NUMBER_FIELD_NUMBER: _ClassVar[int]
    CERTIFICATE_IDS_FIELD_NUMBER: _ClassVar[int]
    window_id: str
    merkle_root: bytes
    chain_id: int
    transaction_hash: str
    block_number: int
    certificate_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, window_id: _Optional[str] = ..., merkle_root: _Optional[bytes] = ..., chain_id: _Optional[int] = ..., transaction_hash: _Optional[str] = ..., block_number: _Optional[int] = ..., certificate_ids: _Optional[_Iterable[str]] = ...) -> None: ...
