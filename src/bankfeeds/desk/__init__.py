"""The exception queue the recon team works: opening, listing and resolving exceptions."""
