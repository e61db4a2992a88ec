"""Template tags of the browser app."""
