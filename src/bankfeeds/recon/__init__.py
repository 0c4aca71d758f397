"""Reconciling PG against bank rows: matching, jobs, results and the recon read model."""
