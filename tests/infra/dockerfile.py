"""Dockerfiles and .dockerignore files read statically (no Docker engine on these machines).

Enough of the Dockerfile grammar for our two files: comments, line continuations, ARG
defaults substituted into later lines, JSON (exec) and shell forms; and Docker's ignore-file
matching (last pattern wins, a pattern matching a parent folder matches its contents).
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class Instruction:
    keyword: str
    text: str
    stage: int

    def exec_form(self) -> list[str]:
        """Return the JSON-array arguments of a CMD/ENTRYPOINT/HEALTHCHECK in exec form."""
        start = self.text.index("[")
        value = json.loads(self.text[start:])
        assert isinstance(value, list) and all(isinstance(item, str) for item in value)
        return value

    def words(self) -> list[str]:
        return shlex.split(self.text)


def parse_dockerfile(path: Path, build_args: dict[str, str] | None = None) -> list[Instruction]:
    """Return the instructions of `path`, ARG values (defaults or `build_args`) substituted."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    assert not pending, f"{path.name} ends inside a continued line"

    args: dict[str, str] = {}
    overrides = build_args or {}
    instructions: list[Instruction] = []
    stage = -1
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG":
            name, _, default = rest.strip().partition("=")
            args[name] = overrides.get(name, default.strip('"') if default else args.get(name, ""))
            continue
        if keyword == "FROM":
            stage += 1
        rest = _VAR.sub(lambda m: args.get(m.group(1) or m.group(2), m.group(0)), rest.strip())
        instructions.append(Instruction(keyword, rest, stage))
    return instructions


def copy_sources(instructions: list[Instruction]) -> list[str]:
    """Return the build-context paths that COPY/ADD instructions read (not `--from` stages)."""
    sources: list[str] = []
    for instruction in instructions:
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        words = instruction.words()
        if any(word.startswith("--from") for word in words):
            continue
        paths = [word for word in words if not word.startswith("--")]
        sources.extend(paths[:-1])
    return sources


def env_vars(instructions: list[Instruction]) -> dict[str, str]:
    """Return every ENV name and value the Dockerfile sets (last stage wins)."""
    found: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "ENV":
            for word in instruction.words():
                name, _, value = word.partition("=")
                found[name] = value
    return found


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return re.compile(f"^{out}$")


def ignored(relative: str, ignore_file: Path) -> bool:
    """Return whether Docker leaves `relative` (a path in the context) out, per `ignore_file`."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for raw in ignore_file.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        rules.append((negate, _pattern_regex(pattern.strip("/"))))
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    result = False
    for negate, regex in rules:
        if any(regex.match(candidate) for candidate in candidates):
            result = not negate
    return result
