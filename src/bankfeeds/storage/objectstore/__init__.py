"""Content-addressed storage of file bytes: local disk, memory, S3."""
