"""The orchestration above the capabilities: the worker and a run from fetch to recon."""
