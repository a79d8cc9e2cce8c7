"""Patrol routing: balanced closed walks over street networks."""

from .minmax import MinMaxRoutes, Plan, Route

__all__ = ["MinMaxRoutes", "Plan", "Route"]
