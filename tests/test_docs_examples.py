"""Every example in README.md and in the docstrings under ``sse_asgi/`` runs, and prints what it shows.

One mechanism, pytest-examples: it finds each ``py``/``python`` fence of
README.md and of the docstrings of every module under ``sse_asgi/`` (found
anew on each run: a new module is included by existing), lints it with ruff
(and checks a README block's format, which ``ruff format .`` leaves to this file),
runs it as a module of its own and compares what each ``print`` prints with
the ``#>`` lines below it, exactly (``pytest --update-examples`` rewrites
them). An example that cannot run fails its test; none is skipped.

Conventions the examples keep, so that each runs as written:

- Each imports what it uses; an async example ends with ``anyio.run(main)``.
- Nothing needs a server or the network: apps are driven in-process
  (``sse_asgi.testing.connect``), and a client reads an ``httpx``
  transport that answers in-process -- but for Redis: an example that reads
  ``os.environ["REDIS_URL"]`` gets a real, empty ``redis-server`` (skipped
  with the reason where there is none, a failure under
  ``SSE_ASGI_REQUIRE_ALL=1``).
- In README.md, a block may use what the earlier blocks of its ``##``
  section define (it is run after them, with their names); blocks headed
  ``# examples/<file>.py`` are excerpts of that file, which must contain
  each of their definitions (the files run in ``tests/test_examples.py``
  and ``tests/test_frameworks.py``). Shell blocks are not run.
"""

from __future__ import annotations

import ast
import functools
import importlib
import importlib.util
import inspect
import pkgutil
import re
import subprocess
import sys
import textwrap
import typing
from pathlib import Path
from typing import Any

import pytest
import pytest_examples.run_code
from pytest_examples import CodeExample, EvalExample, find_examples
from pytest_examples.config import ExamplesConfig
from pytest_examples.lint import FormatError, ruff_check
from redis import Redis

import sse_asgi

from .broadcast_support import redis  # noqa: F401 - requested by redis_url
from .redis_server import RedisServer
from .test_shutdown import clean_hook  # noqa: F401 - requested by eval_example

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "sse_asgi"
README = ROOT / "README.md"

# Rules the project's ruff configuration applies to code but not to examples:
# E731 because a bare ASGI app is most plainly shown as a one-line lambda;
# SIM117 because a client and its stream are nested, as httpx's docs nest them.
EXAMPLE_RUFF_IGNORE = ["E731", "SIM117"]
# Docstring lines stay within ruff's 100 columns at a method's indentation (8).
OUTPUT_LINE_LENGTH = 92

EXCERPT = re.compile(r"# (examples/\w+\.py)\n")


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading's text: lower case, punctuation dropped, spaces to ``-``."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def docstring_examples() -> list[CodeExample]:
    """The fenced examples of every module under ``sse_asgi/``."""
    return [
        example for example in find_examples(PACKAGE) if "__pycache__" not in example.path.parts
    ]


@functools.cache
def readme_sections() -> list[tuple[str, int, int, int]]:
    """``(anchor, level, first line, end line)`` of each README section, ``##`` and deeper.

    A section's lines run to the next heading of its level or a higher one.
    """
    lines = README.read_text(encoding="utf-8").splitlines()
    in_fence = False
    headings: list[tuple[int, int, str]] = []  # (line index, level, anchor)
    for index, line in enumerate(lines):
        in_fence ^= line.startswith("```")
        match = None if in_fence else re.match(r"(#{2,6}) (.+)", line)
        if match:
            headings.append((index, len(match.group(1)), anchor(match.group(2))))
    sections = []
    for position, (start, level, name) in enumerate(headings):
        ends = [other for other, other_level, _ in headings[position + 1 :] if other_level <= level]
        sections.append((name, level, start, ends[0] if ends else len(lines)))
    return sections


def section_of(example: CodeExample) -> str:
    """The anchor of the ``##`` section holding ``example``."""
    for name, level, start, end in readme_sections():
        if level == 2 and start <= example.start_line < end:
            return name
    raise AssertionError(f"{example} is in no ## section")


def readme_examples() -> list[CodeExample]:
    """The README's Python blocks."""
    return list(find_examples(README))


def is_excerpt(example: CodeExample) -> bool:
    return EXCERPT.match(example.source) is not None


def runnable_readme_examples() -> list[CodeExample]:
    return [example for example in readme_examples() if not is_excerpt(example)]


def earlier_in_section(example: CodeExample) -> list[CodeExample]:
    """The runnable README blocks before ``example`` in its ``##`` section, in order."""
    section = section_of(example)
    return [
        other
        for other in runnable_readme_examples()
        if other.start_line < example.start_line and section_of(other) == section
    ]


@pytest.fixture
def eval_example(
    eval_example: EvalExample, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> EvalExample:
    """pytest-examples' runner, set to the project's line length and Python.

    What examples change in the process is put back afterwards: the signal
    hook's state (``test_shutdown.clean_hook``) and ``sys.modules["__main__"]``
    (each example runs as ``__main__``).
    """
    request.getfixturevalue("clean_hook")
    example = getattr(request.node, "callspec", None) and request.node.callspec.params["example"]
    if isinstance(example, CodeExample) and "REDIS_URL" in example.source:
        monkeypatch.setenv("REDIS_URL", request.getfixturevalue("redis_url"))
    # pytest-examples 0.0.18 rebuilds an example's traceback with a line table
    # of the wrong format on Python 3.11 (co_lnotab), which crashes pytest's
    # report: keep the real one (its frames are the example's own file).
    monkeypatch.setattr(pytest_examples.run_code, "create_example_traceback", lambda *_: None)
    eval_example.set_config(line_length=OUTPUT_LINE_LENGTH, target_version="py310")
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])
    return eval_example


@pytest.fixture
def redis_url(request: pytest.FixtureRequest) -> str:
    """An example reading ``REDIS_URL`` gets a real, empty redis-server (CI has one)."""
    server: RedisServer = request.getfixturevalue("redis")
    client = Redis.from_url(server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return server.url


def lint(example: CodeExample, config: ExamplesConfig, known: list[str]) -> None:
    """ruff with the project's rules, ``known`` names counted as defined (an earlier block's)."""
    extra = ["--ignore", ",".join(EXAMPLE_RUFF_IGNORE)]
    if known:
        extra += ["--config", f"builtins = {sorted(known)!r}"]
    try:
        ruff_check(example, config, extra_ruff_args=tuple(extra))
    except FormatError as error:  # show ruff's report alone, not this frame
        raise pytest.fail.Exception(str(error), pytrace=False) from None


def check_format(example: CodeExample) -> None:
    """A README block is as ``ruff format`` leaves it, ``#>`` lines aside (it would write ``# >``)."""
    source = re.sub(r"^( *)#> ", r"\1# > ", example.source, flags=re.MULTILINE)
    command = [sys.executable, "-m", "ruff", "format", "--diff", "-"]
    result = subprocess.run(command, input=source, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        report = result.stdout + result.stderr
        pytest.fail(f"{example}: ruff format would change it:\n{report}", pytrace=False)


def run(eval_example: EvalExample, example: CodeExample, names: dict[str, Any]) -> None:
    """Run ``example`` and compare its prints with its ``#>`` lines (or rewrite them)."""
    if eval_example.update_examples:
        eval_example.run_print_update(example, module_globals=names)
    else:
        eval_example.run_print_check(example, module_globals=names)


@pytest.mark.parametrize("example", docstring_examples(), ids=str)
def test_docstring_example(example: CodeExample, eval_example: EvalExample) -> None:
    lint(example, eval_example.config, [])
    run(eval_example, example, {})


@pytest.mark.parametrize("example", runnable_readme_examples(), ids=str)
def test_readme_example(example: CodeExample, eval_example: EvalExample) -> None:
    names: dict[str, Any] = {}
    for earlier in earlier_in_section(example):
        names.update(eval_example.run(earlier, module_globals=names))
    lint(example, eval_example.config, list(names))
    check_format(example)
    run(eval_example, example, names)


@pytest.mark.parametrize("example", [e for e in readme_examples() if is_excerpt(e)], ids=str)
def test_readme_excerpt_is_the_files_code(example: CodeExample) -> None:
    """A block headed ``# examples/<file>.py`` is that file's code, definition by definition."""
    match = EXCERPT.match(example.source)
    assert match
    source = (ROOT / match.group(1)).read_text(encoding="utf-8")
    for definition in example.source[match.end() :].strip().split("\n\n\n"):
        assert definition in source, f"README's block from {match.group(1)} is not in it"


def test_the_collector_finds_every_example() -> None:
    """Each module's and the README's Python blocks are all collected: none is left unrun."""
    fences = re.compile(r"^ *```(?:py|python)\b", flags=re.MULTILINE)
    for path in [README, *PACKAGE.rglob("*.py")]:
        found = readme_examples() if path == README else docstring_examples()
        count = sum(example.path == path for example in found)
        text = path.read_text(encoding="utf-8")
        assert count == len(fences.findall(text)), path
        assert not old_style_examples(text), f"{path}: write these as ```py fences"


def old_style_examples(text: str) -> list[str]:
    """Python written the ways no runner here collects: doctest lines and reST literal blocks.

    A literal block (after a line ending in ``::``) is Python when it parses
    and holds an import, a definition or a call; a grammar or a table does not.
    """
    found = re.findall(r"^ *>>> .*", text, flags=re.MULTILINE)
    for block in re.findall(r"::\n\n((?:(?: +.*)?\n)+)", text):
        try:
            tree = ast.parse(textwrap.dedent(block))
        except SyntaxError:
            continue
        code = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.Call)
        if any(isinstance(node, code) for node in ast.walk(tree)):
            found.append(block)
    return found


# -- every public name has an example that runs ------------------------------------------


def public_modules() -> list[str]:
    """``sse_asgi`` and each module under it whose dotted name has no ``_`` part."""
    names = ["sse_asgi"]
    for module in pkgutil.walk_packages(sse_asgi.__path__, "sse_asgi."):
        if not any(part.startswith("_") for part in module.name.split(".")):
            names.append(module.name)
    return names


def is_documentable(obj: object) -> bool:
    """A class or function, which carries its own docstring (an alias does not).

    On Python 3.10 ``inspect.isclass`` is true for a generic alias such as
    ``Callable[..., T]`` (it passes ``isinstance(alias, type)``), hence the
    ``get_origin`` check.
    """
    if typing.get_origin(obj) is not None:
        return False
    return inspect.isclass(obj) or inspect.isfunction(obj)


@pytest.mark.parametrize("module", public_modules())
def test_every_public_name_has_an_example_that_runs(module: str) -> None:
    mod = importlib.import_module(module)
    assert mod.__doc__, f"{module} has no docstring"
    examples = [example.source.strip() for example in docstring_examples()]
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not is_documentable(obj):
            # Type aliases and constants cannot carry a docstring: the module's names them.
            assert f"``{name}``" in mod.__doc__, f"{module}.{name} is not documented"
            continue
        doc = inspect.getdoc(obj) or ""
        assert any(example in doc for example in examples), f"{module}.{name}: no example"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_") or (
                    not callable(member) and not isinstance(member, property)
                ):
                    continue
                assert inspect.getdoc(member), f"{module}.{name}.{attr} has no docstring"
