"""The case file: its schema (closed, typed) and its loading (YAML text -> validated Case)."""
from .loading import load_case, load_case_text, parse_override
from .schema import Case

__all__ = ["Case", "load_case", "load_case_text", "parse_override"]
