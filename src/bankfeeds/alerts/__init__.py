"""Alerts through a transactional outbox and the dispatcher that posts them to webhooks."""
