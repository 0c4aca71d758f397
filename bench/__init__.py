"""Benchmarks: each script prints its figures against a reference measured in the same run."""
