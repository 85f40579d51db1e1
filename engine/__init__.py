"""walkout engine package (see design.md)."""
