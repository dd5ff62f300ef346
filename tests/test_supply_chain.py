"""Supply chain: no locked dependency with a known vulnerability, and every vendored browser
file listed with its npm package, version and licence."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "src" / "autan" / "web" / "static" / "vendor"
LICENSES = VENDOR / "LICENSES.md"
# Permissive licences, and the weak copyleft MPL offered beside Apache-2.0 by DOMPurify.
ACCEPTED_LICENCES = {"MIT", "0BSD", "BSD-2-Clause", "BSD-3-Clause", "ISC", "Apache-2.0", "MPL-2.0"}
SEMVER = re.compile(r"(?<![\d.])(\d+\.\d+\.\d+)(?![\d.])")
# What pip-audit prints when it could not reach its vulnerability service at all.
NETWORK_FAILURES = (
    "ConnectionError",
    "ConnectTimeout",
    "Max retries exceeded",
    "Name or service not known",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "Connection refused",
)


# --- Python dependencies -------------------------------------------------------------------


def locked_requirements(tmp_path: Path) -> Path:
    """The lock file as pinned requirements (every group, without the project itself)."""
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        uv = str(Path(sys.executable).parent / "uv")
    exported = subprocess.run(
        [
            uv,
            "export",
            "--frozen",
            "--format",
            "requirements-txt",
            "--no-hashes",
            "--no-emit-project",
            "--all-groups",
        ],  # fmt: skip
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    path = tmp_path / "requirements.txt"
    path.write_text(exported.stdout)
    return path


@pytest.mark.slow
def test_no_locked_dependency_has_a_known_vulnerability(tmp_path: Path) -> None:
    if shutil.which("uv") is None and not (ROOT / ".tools" / "bin" / "uv").exists():
        pytest.fail("uv is needed to export the lock file (scripts/setup.sh installs it)")
    requirements = locked_requirements(tmp_path)
    audit = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip_audit",
            "--requirement",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--vulnerability-service",
            "pypi",
            "--timeout",
            "30",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(audit.stdout)
    except json.JSONDecodeError:
        report = None
    if report is None:
        if any(marker in audit.stderr for marker in NETWORK_FAILURES):
            pytest.skip(f"PyPI's vulnerability data could not be reached: {audit.stderr[-500:]}")
        pytest.fail(f"pip-audit failed (exit {audit.returncode}):\n{audit.stderr[-2000:]}")

    vulnerable = {
        f"{dep['name']}=={dep['version']}": [
            f"{v['id']} (fixed in {', '.join(v['fix_versions']) or 'no release yet'})"
            for v in dep["vulns"]
        ]
        for dep in report["dependencies"]
        if dep.get("vulns")
    }
    assert not vulnerable, (
        "locked dependencies with known vulnerabilities (upgrade with "
        f"`uv lock --upgrade-package NAME`): {json.dumps(vulnerable, indent=2)}"
    )
    audited = [dep for dep in report["dependencies"] if "skip_reason" not in dep]
    skipped = [dep for dep in report["dependencies"] if "skip_reason" in dep]
    if not audited:
        # Every release lookup failed: a registry (or mirror) that does not serve PyPI's
        # per-release JSON API (`/pypi/NAME/VERSION/json`), which pip-audit needs. That is
        # "could not check", not "no vulnerability": say so instead of passing.
        pytest.skip(
            f"pip-audit could not look up any of the {len(skipped)} locked releases on PyPI's "
            f"JSON API (first reason: {skipped[0]['skip_reason'] if skipped else 'none'}); "
            "the vulnerability check did not run"
        )
    assert not skipped, f"locked releases PyPI does not know: {skipped}"


# --- vendored browser files ----------------------------------------------------------------


def listed_files() -> dict[str, dict[str, str]]:
    """The rows of LICENSES.md's table, by file name."""
    rows: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for line in LICENSES.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or set(line) <= {"|", "-", " ", ":"}:
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if header is None:
            header = cells
            continue
        row = dict(zip(header, cells, strict=True))
        assert row["file"] not in rows, f"{row['file']} is listed twice"
        rows[row["file"]] = row
    return rows


def header_versions(path: Path) -> set[str]:
    """Versions written in the file's opening comment, or htmx's `version:"..."`."""
    head = path.read_text(encoding="utf-8", errors="replace")[:4000]
    found: set[str] = set()
    comment = re.match(r"\s*/\*!?(.*?)\*/", head, re.S)
    if comment:
        found |= set(SEMVER.findall(comment.group(1)))
    found |= set(re.findall(r'\bversion:"(\d+\.\d+\.\d+)"', path.read_text(errors="replace")))
    return found


def test_every_vendored_file_is_listed_with_its_package_version_and_licence() -> None:
    rows = listed_files()
    present = {p.name for p in VENDOR.iterdir() if p.is_file() and p.name != LICENSES.name}
    assert set(rows) == present, (
        f"not listed in LICENSES.md: {sorted(present - set(rows))}; "
        f"listed but absent: {sorted(set(rows) - present)}"
    )
    for name, row in rows.items():
        assert row["npm package"] and row["version"], name
        assert SEMVER.fullmatch(row["version"]), f"{name}: version {row['version']!r}"
        licences = set(re.split(r"\s+(?:OR|AND)\s+", row["licence"]))
        assert licences <= ACCEPTED_LICENCES, f"{name}: licence {row['licence']!r}"
        named = SEMVER.search(name)
        if named:
            assert named.group(1) == row["version"], f"{name}: the name says {named.group(1)}"
        written = header_versions(VENDOR / name)
        assert written <= {row["version"]}, f"{name}: the file says {written}"


def test_the_header_check_reads_versions_where_files_have_them() -> None:
    # Guards the check above against passing because it reads nothing.
    versions = {name: header_versions(VENDOR / name) for name in listed_files()}
    with_version = [name for name, found in versions.items() if found]
    assert len(with_version) >= 4, versions
