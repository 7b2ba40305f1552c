"""The pure domain: documents, canonical form, Merkle trees, validation. No I/O here."""
