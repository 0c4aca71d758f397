"""What every capability stands on: errors, settings, logging, ids, money, redaction, the clock."""
