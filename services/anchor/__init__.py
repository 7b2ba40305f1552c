"""anchor: Merkle-batches certificates and anchors one root per window on chain."""
