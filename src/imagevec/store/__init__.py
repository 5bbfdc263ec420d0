"""Chroma storage: client and collections, encoder stamp, records, ingest, locking."""
