"""Dashboards for the organisations' referents: feedback and usage."""
