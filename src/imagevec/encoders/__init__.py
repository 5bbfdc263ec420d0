"""Encoder families, the catalogue of short names and the ``create_encoder`` factory."""
