"""Rules for login names and passwords, shared by users and API tokens."""

from __future__ import annotations

import unicodedata

MAX_NAME = 120
MIN_PASSWORD = 10
MAX_PASSWORD = 1024


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot name a user or a token (it becomes the audit actor), or None.

    Names are kept exactly as given, so spaces at either end are refused rather than stripped:
    what a response echoes is what is stored and what the audit log shows.
    """
    if not 1 <= len(name) <= MAX_NAME:
        return f"must be 1 to {MAX_NAME} characters"
    if name != name.strip():
        return "must not start or end with a space"
    if any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in name):
        return "must not contain control characters"
    return None


def password_problem(password: str, name: str) -> str | None:
    """Why ``password`` is too weak for the user ``name``, or None."""
    if len(password) < MIN_PASSWORD:
        return f"must be at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"must be at most {MAX_PASSWORD} characters"
    if len(set(password)) < 4:
        return "must use more than a few different characters"
    if name and name.casefold() in password.casefold():
        return "must not contain the user name"
    return None
