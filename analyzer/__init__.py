"""plan: find which LLM API traffic could run on a local open model, how well, and what it would save."""

__version__ = "0.1.0"
