"""OTLP/HTTP ingest: decoding, the logs and metrics mappings, storing, and the views."""
