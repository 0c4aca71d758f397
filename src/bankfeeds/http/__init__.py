"""The REST API and the web UI, with the request handling both share."""
