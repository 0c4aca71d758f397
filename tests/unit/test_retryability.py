"""One source of truth for retryability: the error classes' own flags."""

from __future__ import annotations

import random

import pytest

from bankfeeds.connectors.retry import RetryPolicy
from bankfeeds.core import errors
from bankfeeds.core.errors import UNFIXABLE, BankfeedsError
from bankfeeds.monitoring.health import HEALTH_RULES


def _error_classes() -> list[type[BankfeedsError]]:
    found, todo = [], [BankfeedsError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("cls", _error_classes(), ids=lambda c: c.__name__)
def test_the_retry_policy_agrees_with_each_error_class(cls: type[BankfeedsError]) -> None:
    # A subclass sharing its parent's code (HostKeyError's kinds) is judged by the code's owner.
    owner = next(c for c in reversed(cls.__mro__) if getattr(c, "code", None) == cls.code)
    assert issubclass(owner, BankfeedsError)
    if owner is BankfeedsError:
        return  # an unexpected crash may pass on a later attempt
    policy = RetryPolicy(max_attempts=5)
    assert policy.should_retry(1, cls.code) is owner.retryable
    assert (cls.code in UNFIXABLE) is (not owner.retryable)


def test_a_remote_file_too_large_is_not_retried_and_needs_a_person() -> None:
    # It was refused as not retryable but missing from the unfixable list: health stayed calm.
    assert not errors.RemoteFileTooLarge.retryable
    assert not RetryPolicy().should_retry(1, "remote-file-too-large")
    assert "remote-file-too-large" in HEALTH_RULES["unfixable"]


def test_transient_failures_are_retried() -> None:
    policy = RetryPolicy(max_attempts=3)
    for code in ("source-unreachable", "source-timeout", "api-unavailable", "storage-unavailable"):
        assert policy.should_retry(1, code)
        assert not policy.should_retry(3, code)
    assert policy.delay(1, random.Random(1)) <= policy.ceiling(1)


def test_every_error_class_is_declared_with_the_others() -> None:
    # UNFIXABLE is computed when core.errors loads: a class declared elsewhere would be missing
    # from it in a process that never imported its module.
    import importlib
    import pkgutil

    import bankfeeds

    for module in pkgutil.walk_packages(bankfeeds.__path__, "bankfeeds."):
        if ".migrations" not in module.name:
            importlib.import_module(module.name)
    elsewhere = [c for c in _error_classes() if c.__module__ != errors.__name__]
    assert elsewhere == []
