"""The composition root: the command line that builds the context and starts everything."""
