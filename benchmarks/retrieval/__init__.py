"""Retrieval benchmarks: service-public fiches and PIAF paragraphs through Autan's search."""
