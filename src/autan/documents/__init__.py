"""Documents: collections, files, their ingestion into chunks."""
