"""Translating an uploaded document (Markdown, DOCX, ODT) keeping its structure."""
