"""bankfeeds: fetch, verify, store, normalise and reconcile bank settlement files."""

__version__ = "0.1.0"
