"""Built-in skills (bilingual, offline), registered as `dialog.skills` entry points in pyproject.toml."""
