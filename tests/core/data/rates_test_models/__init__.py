"""An importable package holding YAML test models (for dotted references in the tests)."""
