"""LangChain integration of imagevec."""
