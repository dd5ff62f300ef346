"""Benchmarks that ship with Autan: `autan bench load`, the capacity planner."""
