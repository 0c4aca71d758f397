"""A bank day as a set of files: what is expected, what arrived, stale and accepted files."""
