"""Retention: how long an organisation keeps conversations, files and per-request usage."""
