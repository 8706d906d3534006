"""docs/cli.md keeps up with the ``heitu`` parser and the settings (after sqlite-utils' test_docs).

Convention: every command that exists has a Markdown heading naming it in full, at any level
(``## heitu ingest``, ``### heitu trace back``); commands not built yet are bullet lines under
the ``## Planned`` heading, never headings. Fails when a command is missing from the docs, has
no help text, has an option its section does not mention, or when the docs name a command the
parser no longer has; and when an environment variable the code reads is not in docs/cli.md.
"""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

from traceability.cli import parser

ROOT = Path(__file__).resolve().parent.parent
CLI_MD = ROOT / "docs" / "cli.md"
PACKAGE = ROOT / "traceability"

HEADING_RE = re.compile(r"^(#{1,6})\s+(.*?)\s*$", re.M)
COMMAND_HEADING_RE = re.compile(r"^heitu(?: [a-z][a-z0-9-]*)+$")
PLANNED_RE = re.compile(r"^[-*]\s+`heitu ([a-z][a-z0-9-]*)", re.M)


def _subparsers(p: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def _walk(
    p: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[str, str | None, argparse.ArgumentParser]]:
    """(command, help text, its parser) for every command and nested subcommand."""
    sub = _subparsers(p)
    if sub is None:
        return []
    helps = {a.dest: a.help for a in sub._choices_actions}
    out = []
    for name, child in sub.choices.items():
        command = " ".join(("heitu", *path, name))
        out.append((command, helps.get(name), child))
        out += _walk(child, (*path, name))
    return out


COMMANDS = _walk(parser())
COMMAND_NAMES = [c for c, _, _ in COMMANDS]


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(level, offset, title) of every Markdown heading outside fenced code blocks."""
    fenced = [m.span() for m in re.finditer(r"^```.*?^```", text, re.M | re.S)]
    return [
        (len(m.group(1)), m.start(), m.group(2))
        for m in HEADING_RE.finditer(text)
        if not any(a <= m.start() < b for a, b in fenced)
    ]


@pytest.fixture(scope="module")
def cli_md() -> str:
    return CLI_MD.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def sections(cli_md: str) -> dict[str, str]:
    """Documented command -> its section (up to the next heading of the same or a higher
    level, so a group's section holds its subcommands')."""
    heads = _headings(cli_md)
    out = {}
    for i, (level, start, title) in enumerate(heads):
        if not COMMAND_HEADING_RE.match(title):
            continue
        end = next((s for lv, s, _ in heads[i + 1 :] if lv <= level), len(cli_md))
        out[title] = cli_md[start:end]
    return out


@pytest.fixture(scope="module")
def planned(cli_md: str) -> set[str]:
    heads = _headings(cli_md)
    for i, (level, start, title) in enumerate(heads):
        if title.lower().startswith("planned"):
            end = next((s for lv, s, _ in heads[i + 1 :] if lv <= level), len(cli_md))
            return set(PLANNED_RE.findall(cli_md[start:end]))
    return set()


def test_parser_has_commands() -> None:
    # Guards the walk itself: an empty list would make every test below pass vacuously.
    assert {"heitu ingest", "heitu trace back", "heitu trace forward"} <= set(COMMAND_NAMES)


@pytest.mark.parametrize("command", COMMAND_NAMES)
def test_commands_are_documented(sections: dict[str, str], command: str) -> None:
    assert command in sections, f"docs/cli.md has no heading '## {command}'"


@pytest.mark.parametrize(("command", "help_text"), [(c, h) for c, h, _ in COMMANDS])
def test_commands_have_help(command: str, help_text: str | None) -> None:
    assert help_text and help_text.strip(), f"{command} has no help text in traceability/cli.py"


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (command, opt)
        for command, _, p in COMMANDS
        for action in p._actions
        if not isinstance(action, argparse._HelpAction)
        for opt in action.option_strings
        if opt.startswith("--")
    ],
)
def test_options_are_documented(sections: dict[str, str], command: str, option: str) -> None:
    section = sections.get(command, "")
    assert option in section, f"option {option} of {command} is not in its docs/cli.md section"


@pytest.mark.parametrize(
    ("command", "option"),
    [
        (command, action.option_strings[0])
        for command, _, p in COMMANDS
        for action in p._actions
        if action.option_strings and not isinstance(action, argparse._HelpAction)
    ],
)
def test_options_have_help(command: str, option: str) -> None:
    p = dict((c, p) for c, _, p in COMMANDS)[command]
    action = next(a for a in p._actions if option in a.option_strings)
    assert action.help and action.help.strip(), f"{command} {option} has no help text"


def test_documented_commands_exist(sections: dict[str, str]) -> None:
    gone = sorted(set(sections) - set(COMMAND_NAMES))
    assert not gone, f"docs/cli.md documents commands the parser does not have: {gone}"


def test_planned_commands_are_not_built(planned: set[str]) -> None:
    assert planned, "docs/cli.md lists no planned commands under '## Planned'"
    top = {c.split()[1] for c in COMMAND_NAMES}
    built = sorted(planned & top)
    assert not built, f"built now, move them out of 'Planned' in docs/cli.md: {built}"


GETTERS = ("os.environ.get", "os.getenv", "environ.get", "getenv")
ENVIRONS = ("os.environ", "environ")


def _env_reads(path: Path) -> list[str]:
    """Names (or name prefixes, for f-strings) of the environment variables a module reads:
    ``os.environ.get(X)``, ``os.getenv(X)``, ``os.environ[X]``."""
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        arg = None
        if isinstance(node, ast.Call) and node.args and ast.unparse(node.func) in GETTERS:
            arg = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) in ENVIRONS:
            arg = node.slice
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            names.append(arg.value)
        elif isinstance(arg, ast.JoinedStr) and arg.values:
            first = arg.values[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.append(first.value + "<")  # documented as HEITU_YIELD_<STEP>
    return names


ENV_VARS = sorted({n for f in sorted(PACKAGE.rglob("*.py")) for n in _env_reads(f)})


def test_config_reads_the_settings() -> None:
    # Guards the AST walk: config.py is where the settings live.
    read = set(_env_reads(PACKAGE / "config.py"))
    assert {"HEITU_HOME", "HEITU_DB_URL", "HEITU_RESOLVER"} <= read


@pytest.mark.parametrize("name", ENV_VARS)
def test_environment_variables_are_documented(cli_md: str, name: str) -> None:
    assert name in cli_md, f"environment variable {name} is read by traceability/ but not in docs"


def test_documented_environment_variables_are_read(cli_md: str) -> None:
    documented = set(re.findall(r"^\|\s*`(HEITU_[A-Z0-9_]+(?:<)?)", cli_md, re.M))
    assert documented, "docs/cli.md has no environment variable table"
    stale = sorted(documented - set(ENV_VARS))
    assert not stale, f"docs/cli.md documents variables nothing reads: {stale}"
