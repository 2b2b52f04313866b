"""The manual: README.md and docs/ build as a site in strict mode (a broken link, a page missing
from the nav or a missing snippet fails), link nowhere outside the repository, and name no
internal issue numbers (the snippets the pages include, bench/report.md, are text of the site
too, so they are read as well); every variable a settings class reads is on the configuration
page, every route the services serve on the contracts page (and no other), every command of
the CLI on its page."""

from __future__ import annotations

import importlib
import inspect
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from pydantic import AliasChoices
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parents[2]
MANUAL = (ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md")))

FENCED_CODE = re.compile(r"^(`{3,}|~{3,}).*?^\1", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
INLINE_LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'][^)]*)?\)")
REFERENCE_LINK = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HTML_LINK = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']+)["']""")
SNIPPET = re.compile(r"""^\s*-+8<-+\s+["']([^"':]+)[^"']*["']""", re.M)
URL_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
ISSUE_NUMBER = re.compile(r"\bissues?\s+#?\d+\b", re.IGNORECASE)
SERVICE_PACKAGES = ("order_intake", "fulfilment", "invoicing", "monitoring")
DOCUMENTED_ROUTE = re.compile(r"`(?:[A-Z]+ )?(/[^`\s?]*)")
SETTINGS_MODULES = (
    "supplychain_kit.settings",
    "order_intake.config",
    "fulfilment.config",
    "invoicing.config",
    "monitoring.config",
)


def prose(text: str) -> str:
    """The text a reader follows links in: code blocks and code spans left out."""
    return INLINE_CODE.sub("", FENCED_CODE.sub("", text))


def links(text: str) -> list[str]:
    body = prose(text)
    return [
        *INLINE_LINK.findall(body),
        *REFERENCE_LINK.findall(body),
        *HTML_LINK.findall(body),
    ]


def snippets(text: str) -> list[Path]:
    return [(ROOT / name).resolve() for name in SNIPPET.findall(text)]


def outside_links(page: Path) -> list[str]:
    """Each link of the page that leaves the repository or names a file that does not exist."""
    found = []
    for target in links(page.read_text(encoding="utf-8")):
        if target.startswith("#"):
            continue
        if URL_SCHEME.match(target):
            if target.lower().startswith("file:"):
                found.append(f"{target} (a file outside the repository)")
            continue  # a web address: not a path of anyone's clone
        path = target.split("#", 1)[0].split("?", 1)[0]
        resolved = (page.parent / path).resolve()
        if not resolved.is_relative_to(ROOT):
            found.append(f"{target} (outside the repository)")
        elif not resolved.exists():
            found.append(f"{target} (no such file)")
    return found


def test_the_site_builds_in_strict_mode_and_shows_the_bench_report(tmp_path: Path) -> None:
    site = tmp_path / "site"
    config = ["--config-file", str(ROOT / "mkdocs.yml"), "--site-dir", str(site)]
    # never --quiet: mkdocs then leaves the warnings uncounted and strict mode passes them
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", *config],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    report = (ROOT / "bench" / "report.md").read_text(encoding="utf-8")
    tables_in_report = len(re.findall(r"^\|\s*-{3}", report, re.M))
    performance = (site / "performance.html").read_text(encoding="utf-8")
    assert tables_in_report > 0
    assert performance.count("<table>") >= tables_in_report, "the report's tables are not all in"


@pytest.mark.parametrize("page", MANUAL, ids=lambda page: str(page.relative_to(ROOT)))
def test_no_link_leaves_the_repository(page: Path) -> None:
    assert outside_links(page) == []
    for snippet in snippets(page.read_text(encoding="utf-8")):
        assert snippet.is_relative_to(ROOT) and snippet.is_file(), snippet


def test_no_internal_issue_numbers() -> None:
    included = {snippet for page in MANUAL for snippet in snippets(page.read_text("utf-8"))}
    found = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in (*MANUAL, *sorted(included))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if ISSUE_NUMBER.search(line)
    ]
    assert found == []


def documented_paths(page: str) -> set[str]:
    """The paths the page names in code spans, `/a/{b}/c\\|d` standing for `/a/{b}/c` and `/a/{b}/d`."""
    paths = set()
    for path in DOCUMENTED_ROUTE.findall(page):
        first, *others = path.split("\\|")
        stem = first.rsplit("/", 1)[0]
        paths.update([first, *(f"{stem}/{other}" for other in others)])
    return paths


def route_pattern(path: str) -> re.Pattern[str]:
    """An OpenAPI path with each `{parameter}` matching any one segment."""
    return re.compile(re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)))


def test_the_contracts_page_names_every_route_and_no_other() -> None:
    served = {
        path
        for package in SERVICE_PACKAGES
        for path in importlib.import_module(f"{package}.main").create_app().openapi()["paths"]
    }
    documented = documented_paths((ROOT / "docs" / "contracts.md").read_text(encoding="utf-8"))
    patterns = {path: route_pattern(path) for path in served}
    undocumented = [
        path for path, pattern in patterns.items() if not any(map(pattern.fullmatch, documented))
    ]
    invented = [
        path
        for path in documented
        if path.startswith("/v1/") and not any(p.fullmatch(path) for p in patterns.values())
    ]
    assert sorted(undocumented) == []
    assert invented == []


def command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every leaf command of a click group, as its words (`("orders", "place")`)."""
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield path
        return
    for name, subcommand in subcommands.items():
        yield from command_paths(subcommand, (*path, name))


def test_the_cli_page_names_every_command() -> None:
    from supplychain_cli.app import app

    lines = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8").splitlines()

    def named(words: tuple[str, ...]) -> bool:
        patterns = [re.compile(rf"(?<![\w-]){re.escape(word)}(?![\w-])") for word in words]
        return any(all(pattern.search(line) for pattern in patterns) for line in lines)

    commands = list(command_paths(typer.main.get_command(app)))
    assert len(commands) > 10
    assert [" ".join(words) for words in commands if not named(words)] == []


def environment_variables(module_name: str) -> Iterator[tuple[str, list[str]]]:
    """Each setting of the module's settings classes with the variable names that set it."""
    module = importlib.import_module(module_name)
    for cls in vars(module).values():
        if not (inspect.isclass(cls) and issubclass(cls, BaseSettings)):
            continue
        if cls.__module__ != module_name:
            continue
        prefix = cls.model_config.get("env_prefix") or ""
        for name, field in cls.model_fields.items():
            alias = field.validation_alias
            if isinstance(alias, str):
                yield f"{cls.__name__}.{name}", [alias]
            elif isinstance(alias, AliasChoices):
                yield f"{cls.__name__}.{name}", [c for c in alias.choices if isinstance(c, str)]
            else:
                yield f"{cls.__name__}.{name}", [(prefix + name).upper()]


@pytest.mark.parametrize("module_name", SETTINGS_MODULES)
def test_every_setting_is_in_the_configuration_page(module_name: str) -> None:
    page = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    missing = [
        f"{setting} ({' or '.join(names)})"
        for setting, names in environment_variables(module_name)
        if not any(re.search(rf"(?<![A-Z0-9_]){name.upper()}(?![A-Z0-9_])", page) for name in names)
    ]
    assert missing == []


def test_the_readme_stays_short() -> None:
    """What it is, the two commands, a first order, where to go next: the rest is in docs/."""
    assert len((ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 150


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "See [the design](../shared/ARCHITECTURE.md), [home](/etc/passwd), [a](#anchor),\n"
        "[web](https://example.org/x), `[code](../nowhere.md)` and\n"
        "```\n[fenced](../nowhere.md)\n```\n",
        encoding="utf-8",
    )
    assert [link.split(" ")[0] for link in outside_links(page)] == [
        "../shared/ARCHITECTURE.md",
        "/etc/passwd",
    ]
    assert ISSUE_NUMBER.search("when Issue 12 was filed")
    assert not ISSUE_NUMBER.search("an issue with 12 orders")
