"""Control-room dashboard: aiohttp app reading Redis, live via server-sent events."""

from sinks.dashboard.app import bound_url, create_app, start_dashboard

__all__ = ["bound_url", "create_app", "start_dashboard"]
