"""walkout app package (see design.md)."""
