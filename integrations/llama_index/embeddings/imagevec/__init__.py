"""LlamaIndex integration of imagevec."""
