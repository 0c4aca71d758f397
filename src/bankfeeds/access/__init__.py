"""Who may do what: roles, users, tokens, sessions, the login throttle and the audit log."""
