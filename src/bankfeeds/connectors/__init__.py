"""What a connector is (definition, patterns, schedule, layout, bank names) and its CRUD."""
