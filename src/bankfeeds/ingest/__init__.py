"""Turning listed remote files into stored ones: discovery, records, unpacking, staging."""
