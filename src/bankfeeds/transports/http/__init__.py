"""The HTTP API source: requests, response formats, errors."""
