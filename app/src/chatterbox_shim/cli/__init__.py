"""Command-line entry points (see pyproject's [project.scripts])."""
