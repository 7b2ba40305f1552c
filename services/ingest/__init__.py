"""ingest: CSV/API/LMS intake, validation, dedupe, batches, outbox."""
