"""Tests of document search."""
