"""When runs happen: planning slots, the scheduler, run lifecycle and retries."""
