"""walkout labeling package (see design.md)."""
