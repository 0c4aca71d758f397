"""Where state lives: the database, the object store, secrets at rest, the context."""
