"""Benchmarks of Autan (run as modules: python -m benchmarks.<name>.run)."""
