"""The code's layout rules, read from the source (no imports, no model).

No private name crosses a module boundary: `bench/` and `ui/` use only the public names of `rag`, and
a `rag` module uses only the public names of another. A private name (`_x`, not a dunder) is internal
to the module that defines it, so it can change without breaking a benchmark or the page.

Checked on the syntax tree:
- `from rag.x import _y` (or `from .x import _y` inside `rag`) from another module;
- `module._y` where `module` is a `rag` module other than the current one (`import rag.index`, then
  `rag.index._y`);
- `obj._y` (and `setattr(obj, "_y", ...)`) on anything but `self`/`cls`, where `_y` is a private name
  that only other `rag` modules define: the types are not known here, so a name that `rag` defines
  stands for `rag`'s (third-party privates such as llama.cpp's `client._ctx` are not `rag`'s).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("rag", "bench", "ui")  # the package and its two faces; tests may reach inside to inject faults


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> list[Path]:
    return sorted(p for folder in CHECKED for p in (ROOT / folder).glob("*.py"))


def _imported_from(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _rag_privates() -> dict[str, set[str]]:
    """Private name -> the rag modules that define it (functions, classes, attributes, assignments)."""
    defined: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "rag").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names = [node.attr]
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names = [node.id]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                if _private(name):
                    defined[name].add(_module(path))
    return defined


def _dotted(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        head = _dotted(node.value)
        return f"{head}.{node.attr}" if head else None
    return None


def private_uses(source: str, module: str, rag_privates: dict[str, set[str]], rag_modules: set[str], *,
                 is_package: bool = False, label: str = "") -> list[str]:
    """Each place in `source` (the module `module`) that uses a private name of another rag module,
    as "label:line: what"."""
    tree = ast.parse(source)
    bound: dict[str, str] = {}  # local name -> the rag module it names
    found: list[str] = []

    def where(node: ast.AST) -> str:
        return f"{label or module}:{getattr(node, 'lineno', 0)}"

    def foreign(name: str) -> bool:
        return name in rag_privates and module not in rag_privates[name]

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "rag":
                    bound[alias.asname or "rag"] = alias.name if alias.asname else "rag"
        elif isinstance(node, ast.ImportFrom):
            source = _imported_from(module, node, is_package)
            if source.split(".")[0] != "rag":
                continue
            for alias in node.names:
                if f"{source}.{alias.name}" in rag_modules:
                    bound[alias.asname or alias.name] = f"{source}.{alias.name}"
                if _private(alias.name) and source != module:
                    found.append(f"{where(node)}: imports {alias.name} from {source}")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _private(node.attr):
            dotted = _dotted(node.value)
            head, _, rest = (dotted or "").partition(".")
            target = f"{bound[head]}.{rest}".rstrip(".") if head in bound else None
            if target in rag_modules:
                if target != module:
                    found.append(f"{where(node)}: uses {target}.{node.attr}")
            elif dotted not in ("self", "cls") and foreign(node.attr):
                found.append(f"{where(node)}: uses .{node.attr} (private in {', '.join(sorted(rag_privates[node.attr]))})")
        elif (isinstance(node, ast.Call) and (_dotted(node.func) or "").endswith(("setattr", "getattr", "delattr"))
              and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) and isinstance(node.args[1].value, str)
              and _private(node.args[1].value) and foreign(node.args[1].value)):
            found.append(f"{where(node)}: reaches {node.args[1].value!r} by name "
                         f"(private in {', '.join(sorted(rag_privates[node.args[1].value]))})")
    return list(dict.fromkeys(found))  # one line per place, however often it repeats the name


def test_no_private_name_of_rag_is_used_outside_its_module() -> None:
    rag_privates = _rag_privates()
    rag_modules = {_module(p) for p in (ROOT / "rag").glob("*.py")}
    found = [use for path in _files()
             for use in private_uses(path.read_text(encoding="utf-8"), _module(path), rag_privates, rag_modules,
                                     is_package=path.name == "__init__.py", label=str(path.relative_to(ROOT)))]
    assert not found, ("Private names used outside their module (give them a public name in the module that "
                       "owns them, with a docstring, and use that):\n" + "\n".join(found))


def test_the_check_finds_each_kind_of_private_use() -> None:
    rag_privates = {"_write": {"rag.answering"}, "_tokenize": {"rag.index"}}
    rag_modules = {"rag", "rag.index", "rag.answering"}
    source = ("import rag.index\nfrom rag import answering as chain\nfrom rag.index import _tokenize, tokenize\n"
              "rag.index._tokenize(['a'])\nchain.AnswerChain._write = None\nobj._write()\nself._write()\n"
              "setattr(obj, '_write', None)\nclient._ctx.get_logits()\nobj.__class__\n")
    found = private_uses(source, "bench.probe", rag_privates, rag_modules)
    lines = sorted(int(f.split(":")[1]) for f in found)
    assert lines == [3, 4, 5, 6, 8], found  # not `self._write`, llama.cpp's `_ctx` or a dunder
