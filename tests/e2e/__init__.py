"""End-to-end tests: the controllers as processes."""
