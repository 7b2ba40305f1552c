"""certflow: bulk issuance and verification of blockchain-anchored certificates."""
