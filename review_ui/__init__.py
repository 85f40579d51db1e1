"""walkout review_ui package (see design.md)."""
