"""The documentation: a short README, links that resolve, a current configuration page, and
the two commands the README tells a newcomer to run. Fast; no model needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CONFIG_DOCS = ROOT / "scripts" / "config_docs.py"
README_MAX_LINES = 200

_FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.S | re.M)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_MD_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*[\"'])?\s*\)")
_HTML_SRC = re.compile(r"<(?:img|source|a)\b[^>]*?\b(?:src|href)\s*=\s*[\"']([^\"']+)[\"']", re.I)
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:|//)", re.I)  # http:, https:, mailto:, ...


def doc_files() -> list[Path]:
    return [README, *sorted((ROOT / "docs").glob("*.md"))]


def relative_links(text: str) -> list[str]:
    """The relative targets of a markdown page's links and images (code left out)."""
    text = _INLINE_CODE.sub("", _FENCE.sub("", text))
    targets = _MD_LINK.findall(text) + _HTML_SRC.findall(text)
    return [t for t in targets if not _EXTERNAL.match(t) and not t.startswith("#")]


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes for a markdown page."""
    text = _FENCE.sub("", page.read_text(encoding="utf-8"))
    out = set()
    for heading in re.findall(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def broken_links(page: Path) -> list[str]:
    """Relative links whose file is missing, or whose #anchor is no heading of a .md file."""
    out = []
    text = page.read_text(encoding="utf-8")
    for target in relative_links(text) + [t for t in _MD_LINK.findall(_FENCE.sub("", text)) if t.startswith("#")]:
        path, _, anchor = target.split("?", 1)[0].partition("#")
        dest = page.parent / path if path else page
        if not dest.exists():
            out.append(target)
        elif anchor and dest.suffix == ".md" and anchor.lower() not in anchors(dest):
            out.append(target)
    return out


def test_readme_is_short():
    n = len(README.read_text(encoding="utf-8").splitlines())
    assert n <= README_MAX_LINES, f"README.md has {n} lines; the limit is {README_MAX_LINES}: move detail to docs/"


def test_link_checker_finds_broken_links(tmp_path):
    """The checker itself: it sees markdown links and <img src>, ignores external links,
    anchors and code, and reports a target that does not exist."""
    (tmp_path / "there.md").write_text('# Title\n\n## The "part", here\n')
    page = tmp_path / "page.md"
    page.write_text("# Top\n[ok](there.md#the-part-here) [web](https://example.org/x) [mail](mailto:a@b.c)\n"
                    '[top](#top) <img src="missing.png" width="10"> ![pic](gone/pic.png)\n'
                    "[no anchor](there.md#nowhere) [no local anchor](#nowhere)\n"
                    "`[code](not-a-link.md)`\n```\n[block](nor-this.md)\n```\n")
    assert sorted(broken_links(page)) == ["#nowhere", "gone/pic.png", "missing.png", "there.md#nowhere"]


@pytest.mark.parametrize("page", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page):
    assert not broken_links(page), f"{page.relative_to(ROOT)}: links to missing files"


def test_readme_links_the_docs_and_the_screenshot():
    links = relative_links(README.read_text(encoding="utf-8"))
    assert "docs/screenshot.png" in links
    assert len([t for t in links if t.startswith("docs/")]) >= 5


def _config_check(path: Path | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(CONFIG_DOCS), "--check"] + (["--path", str(path)] if path else [])
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_configuration_page_is_current():
    r = _config_check()
    assert r.returncode == 0, (r.stderr or r.stdout) + "\nrun: python scripts/config_docs.py"


def test_configuration_check_fails_on_a_stale_page(tmp_path):
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    stale = tmp_path / "configuration.md"
    stale.write_text(page.replace("`ENVAUDIO_SAMPLE_RATE`", "`ENVAUDIO_SAMPLE_RATE_OLD`"))
    assert stale.read_text() != page
    assert _config_check(stale).returncode == 1


def test_configuration_page_lists_every_setting():
    from envaudio.settings import Settings
    import dataclasses

    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [f.name for f in dataclasses.fields(Settings) if f"`ENVAUDIO_{f.name.upper()}`" not in page]
    assert not missing


@pytest.mark.parametrize("script", ["run.sh", "test.sh"])
def test_readme_commands_exist_and_are_executable(script):
    assert f"./{script}" in README.read_text(encoding="utf-8"), f"the README no longer names ./{script}"
    path = ROOT / script
    assert path.is_file(), f"{script} is missing"
    assert os.access(path, os.X_OK), f"{script} is not executable"
    assert path.read_text().startswith("#!"), f"{script} has no #! line"
