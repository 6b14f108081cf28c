"""`pip-audit` of the runtime dependencies only: what a deployment installs, not the dev extras.

Run as `python -m tests.hardening.audit` (the Makefile's `test` target does). The dependency
closure of the installed `reranker` distribution, without extras, is pinned to the installed
versions and checked against PyPI's vulnerability data. Known vulnerabilities fail the run.
When that data cannot be reached (no network, or an index that does not serve it), the run
says plainly that nothing was audited: an audit that could not happen is reported, never passed
off as clean. It does not fail `make test`, whose final summary lists it as NOT RUN: CI here
reaches the package index but not the vulnerability data (measured: every package "could not be
audited"), so failing there would fail every CI run on a check nobody can run. `--status-file
PATH` writes the one-line outcome for that summary.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import distribution
from typing import Any

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name


def runtime_requirements(root: str = "reranker") -> dict[str, str]:
    """Return {name: installed version} for the runtime dependency closure of `root` (no extras)."""
    found: dict[str, str] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    stack: list[tuple[str, frozenset[str]]] = [(root, frozenset())]
    while stack:
        name, extras = stack.pop()
        if (canonicalize_name(name), extras) in seen:
            continue
        seen.add((canonicalize_name(name), extras))
        dist = distribution(name)
        found[canonicalize_name(dist.metadata["Name"])] = dist.version
        for raw in dist.requires or []:
            requirement = Requirement(raw)
            wanted = extras or frozenset({""})
            if requirement.marker and not any(requirement.marker.evaluate({"extra": e}) for e in wanted):
                continue
            stack.append((requirement.name, frozenset(requirement.extras)))
    found.pop(canonicalize_name(root), None)
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class Verdict:
    exit_code: int
    message: str
    audited: bool = True

    def summary(self) -> str:
        """Return the line for `make test`'s final summary: passed, FAILED or NOT RUN."""
        if not self.audited:
            return "pip-audit: NOT RUN (the vulnerability data could not be reached; not a pass)"
        return "pip-audit: passed" if self.exit_code == 0 else "pip-audit: FAILED (known vulnerabilities)"


def judge(report: dict[str, Any] | None, packages: int, detail: str = "") -> Verdict:
    """Return the exit code and message for pip-audit's JSON `report` (None: it gave none)."""
    if report is None:
        return Verdict(
            0,
            f"pip-audit: NOT AUDITED - pip-audit could not run against the vulnerability service "
            f"({detail.strip()[-300:] or 'no output'}); {packages} runtime packages were not checked",
            audited=False,
        )
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if d.get("skip_reason")]
    lines: list[str] = []
    for dep in vulnerable:
        ids = ", ".join(v["id"] for v in dep["vulns"])
        fixes = sorted({f for v in dep["vulns"] for f in v.get("fix_versions", [])})
        lines.append(
            f"  {dep['name']} {dep.get('version', '')}: {ids} (fixed in: {', '.join(fixes) or 'none yet'})"
        )
    if vulnerable:
        return Verdict(1, "pip-audit: known vulnerabilities in runtime dependencies:\n" + "\n".join(lines))
    if skipped and len(skipped) == len(dependencies):
        return Verdict(
            0,
            f"pip-audit: NOT AUDITED - PyPI's vulnerability data could not be reached for any of the "
            f"{len(dependencies)} runtime packages (first reason: {skipped[0]['skip_reason']}); "
            "run `make audit` where pypi.org answers",
            audited=False,
        )
    message = f"pip-audit: no known vulnerabilities in {len(dependencies) - len(skipped)} runtime packages"
    if skipped:
        names = ", ".join(d["name"] for d in skipped)
        message += f"; {len(skipped)} could NOT be audited: {names}"
    return Verdict(0, message)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.hardening.audit")
    parser.add_argument("--status-file", help="write the one-line outcome here (make test's summary)")
    args = parser.parse_args(argv)
    pinned = runtime_requirements()
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as requirements:
        requirements.write("".join(f"{name}=={version}\n" for name, version in pinned.items()))
        requirements.flush()
        command = [sys.executable, "-m", "pip_audit", "-r", requirements.name, "--no-deps", "--disable-pip"]
        command += ["--progress-spinner", "off", "--format", "json", "--timeout", "30"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    try:
        report: dict[str, Any] | None = json.loads(result.stdout)
    except ValueError:
        report = None
    verdict = judge(report, len(pinned), result.stderr)
    sys.stdout.write(verdict.message + "\n")
    if args.status_file:
        with open(args.status_file, "w", encoding="utf-8") as status:
            status.write(verdict.summary() + "\n")
    return verdict.exit_code


if __name__ == "__main__":
    raise SystemExit(main())
