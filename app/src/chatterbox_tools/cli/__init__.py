"""The tools' command lines (see pyproject's [project.scripts])."""
