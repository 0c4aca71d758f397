"""Where state lives: the database, the object store, secrets at rest and the context holding them."""
