"""keccak256, the hash of every leaf and node (Ethereum's, so proofs also check on chain)."""

# eth-hash with its pysha3 backend: the same digest as the pycryptodome backend, about 5x faster.
from eth_hash.backends.pysha3 import keccak256

__all__ = ["keccak256"]
