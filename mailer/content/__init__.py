"""Content: editor-written issue files, list definitions and trending sources."""
