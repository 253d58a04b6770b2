"""A phone daemon's env file: read as systemd's EnvironmentFile reads it, and its URL line.

Standard library only and no package-relative import: Panda's kit imports it, and the
chatterbox_route role's Ansible modules ship the same file as module_utils (a symlink), so the
rule for what a line means is written once.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit


def unquote(value: str) -> str:
    """The value as the daemon sees it: spaces around it and one pair of matching quotes dropped."""
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def parse_env_text(text: str) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile and shells read them (quotes, export, comments)."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = unquote(value)
    return values


def read_env_file(path: Path) -> dict[str, str]:
    return parse_env_text(path.read_text(encoding="utf-8"))


def url_line_pattern(variable: str) -> re.Pattern[str]:
    """Group 1: everything up to and including "=" (indentation, export, spacing kept); group 2: the value."""
    return re.compile(r"^(\s*(?:export\s+)?" + re.escape(variable) + r"\s*=)(.*)$")


class UrlLine:
    """The last line that sets the variable (the one the daemon ends up with)."""

    def __init__(self, text: str, variable: str) -> None:
        pattern = url_line_pattern(variable)
        self.lines = text.splitlines(keepends=True)
        self.index = -1
        for number, line in enumerate(self.lines):
            if pattern.match(line.rstrip("\r\n")):
                self.index = number
        if self.index < 0:
            raise LookupError(f"no {variable}= line")
        line = self.lines[self.index]
        self.ending = line[len(line.rstrip("\r\n")) :]
        found = pattern.match(line.rstrip("\r\n"))
        assert found is not None
        self.prefix, self.value = found.group(1), found.group(2)
        self.url = unquote(self.value)

    def with_origin(self, new_origin: str) -> tuple[str, str, str]:
        """(new URL, new value as written, new file text): only scheme, host and port change; the
        path, the quoting and every other line stay as they were."""
        old = origin(self.url)
        new_value = self.value.replace(old, new_origin, 1)
        lines = list(self.lines)
        lines[self.index] = self.prefix + new_value + self.ending
        return self.url.replace(old, new_origin, 1), new_value, "".join(lines)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
