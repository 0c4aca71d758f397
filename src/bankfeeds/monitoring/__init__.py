"""How connectors are doing: health, metrics, the dashboard and run history."""
