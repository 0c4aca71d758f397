"""Request bodies used across API tests."""

from __future__ import annotations


def spec_body(**overrides: object) -> dict[str, object]:
    """The specification's create-connector body, with top-level overrides."""
    body: dict[str, object] = {
        "name": "AXIS Bank SFTP",
        "type": "SFTP",
        "provider": "AXIS",
        "config": {
            "host": "localhost",
            "port": 2222,
            "username": "bank",
            "password": "bankpass",
            "remotePath": "/upload",
            "filePattern": "AXIS_RECON_YYYYMMDD*.csv",
            "checksumExt": ".sha256",
            "schedule": "0 19 * * *",
            "timezone": "Asia/Kolkata",
        },
    }
    body.update(overrides)
    return body


def with_config(**changes: object) -> dict[str, object]:
    """The spec body with some config fields changed (None removes a field)."""
    body = spec_body()
    config = dict(body["config"])  # type: ignore[call-overload]
    for key, value in changes.items():
        if value is None:
            config.pop(key, None)
        else:
            config[key] = value
    body["config"] = config
    return body
