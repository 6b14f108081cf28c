"""The runtime-dependency audit: the right packages, and an honest verdict on pip-audit's answer."""

from __future__ import annotations

from tests.hardening.audit import judge, runtime_requirements


def test_the_audited_set_is_the_runtime_closure_without_extras() -> None:
    pinned = runtime_requirements()
    for runtime in (
        "fastapi",
        "starlette",
        "pydantic",
        "onnxruntime",
        "tokenizers",
        "boto3",
        "uvicorn",
        "mangum",
    ):
        assert runtime in pinned
    for dev_or_extra in ("torch", "transformers", "ranx", "pytest", "moto", "schemathesis", "reranker"):
        assert dev_or_extra not in pinned
    assert all(version[0].isdigit() for version in pinned.values())


def test_a_known_vulnerability_fails_the_run() -> None:
    report = {
        "dependencies": [
            {"name": "fastapi", "version": "0.165.0", "vulns": []},
            {
                "name": "starlette",
                "version": "0.1.0",
                "vulns": [{"id": "PYSEC-2099-1", "fix_versions": ["0.2.0"], "aliases": []}],
            },
        ]
    }
    verdict = judge(report, 2)
    assert verdict.exit_code == 1
    assert "starlette 0.1.0: PYSEC-2099-1 (fixed in: 0.2.0)" in verdict.message


def test_an_unreachable_service_is_reported_as_not_audited_not_as_clean() -> None:
    reason = "Dependency not found on PyPI and could not be audited: fastapi (0.165.0)"
    report = {"dependencies": [{"name": "fastapi", "skip_reason": reason}], "fixes": []}
    verdict = judge(report, 1)
    assert verdict.exit_code == 0
    assert verdict.message.startswith("pip-audit: NOT AUDITED") and reason in verdict.message
    crashed = judge(None, 40, "ConnectionError: pypi.org unreachable\n")
    assert crashed.exit_code == 0
    assert "NOT AUDITED" in crashed.message and "40 runtime packages were not checked" in crashed.message


def test_a_clean_audit_names_what_it_could_not_check() -> None:
    report = {
        "dependencies": [
            {"name": "fastapi", "version": "0.165.0", "vulns": []},
            {"name": "private-pkg", "skip_reason": "not on PyPI"},
        ]
    }
    verdict = judge(report, 2)
    assert verdict.exit_code == 0
    assert verdict.message == (
        "pip-audit: no known vulnerabilities in 1 runtime packages; 1 could NOT be audited: private-pkg"
    )


def test_an_audit_that_could_not_run_is_not_run_in_the_summary_and_does_not_fail() -> None:
    reason = "Dependency not found on PyPI and could not be audited: fastapi (0.165.0)"
    unreachable = judge({"dependencies": [{"name": "fastapi", "skip_reason": reason}]}, 1)
    crashed = judge(None, 40, "ConnectionError")
    for verdict in (unreachable, crashed):
        assert not verdict.audited
        assert (
            verdict.summary()
            == "pip-audit: NOT RUN (the vulnerability data could not be reached; not a pass)"
        )
        assert verdict.exit_code == 0  # reported as not run, not failed: CI cannot reach the data
    clean = judge({"dependencies": [{"name": "fastapi", "version": "1", "vulns": []}]}, 1)
    assert (clean.summary(), clean.exit_code) == ("pip-audit: passed", 0)
    vulnerable = judge({"dependencies": [{"name": "x", "version": "1", "vulns": [{"id": "CVE-1"}]}]}, 1)
    assert (vulnerable.summary(), vulnerable.exit_code) == (
        "pip-audit: FAILED (known vulnerabilities)",
        1,
    )
