"""Exports of answers, conversations and reports as Markdown, DOCX and ODT."""
