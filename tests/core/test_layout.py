"""The code's layout rules, read from the source (no imports, no model).

Imports run one way: every `rag` module belongs to a layer (`LAYERS`, lowest first, as in
docs/ARCHITECTURE.md "Where the code is") and imports only from its own layer and the layers below;
`rag.ingest`, `rag.embed` and `rag.llm` share a layer and do not import each other. A new module must
be given its layer here. `bench/` and `ui/` import only modules that exist and are public.

No private name crosses a module boundary: `bench/` and `ui/` use only the public names of `rag`, and
a `rag` module uses only the public names of another. A private name (`_x`, not a dunder) is internal
to the module that defines it, so it can change without breaking a benchmark or the page.

Checked on the syntax tree:
- `from rag.x import _y` (or `from .x import _y` inside `rag`) from another module;
- `module._y` where `module` is a `rag` module other than the current one (`import rag.index.store`, then
  `rag.index.store._y`);
- `obj._y` (and `setattr(obj, "_y", ...)`) on anything but `self`/`cls`, where `_y` is a private name
  that only other `rag` modules define: the types are not known here, so a name that `rag` defines
  stands for `rag`'s (third-party privates such as llama.cpp's `client._ctx` are not `rag`'s).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKED = ("rag", "bench", "ui")  # the package and its two faces; tests may reach inside to inject faults


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _files() -> list[Path]:
    return sorted(p for folder in CHECKED for p in (ROOT / folder).rglob("*.py"))


def _imported_from(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _rag_privates() -> dict[str, set[str]]:
    """Private name -> the rag modules that define it (functions, classes, attributes, assignments)."""
    defined: dict[str, set[str]] = defaultdict(set)
    for path in sorted((ROOT / "rag").rglob("*.py")):
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
    rag_modules = {_module(p) for p in (ROOT / "rag").rglob("*.py")}
    found = [use for path in _files()
             for use in private_uses(path.read_text(encoding="utf-8"), _module(path), rag_privates, rag_modules,
                                     is_package=path.name == "__init__.py", label=str(path.relative_to(ROOT)))]
    assert not found, ("Private names used outside their module (give them a public name in the module that "
                       "owns them, with a docstring, and use that):\n" + "\n".join(found))


def test_the_check_finds_each_kind_of_private_use() -> None:
    rag_privates = {"_write": {"rag.answer.chain"}, "_tokenize": {"rag.index.store"}}
    rag_modules = {"rag", "rag.index.store", "rag.answer.chain"}
    source = ("import rag.index.store\nfrom rag.answer import chain\nfrom rag.index.store import _tokenize, tokenize\n"
              "rag.index.store._tokenize(['a'])\nchain.AnswerChain._write = None\nobj._write()\nself._write()\n"
              "setattr(obj, '_write', None)\nclient._ctx.get_logits()\nobj.__class__\n")
    found = private_uses(source, "bench.probe", rag_privates, rag_modules)
    lines = sorted(int(f.split(":")[1]) for f in found)
    assert lines == [3, 4, 5, 6, 8], found  # not `self._write`, llama.cpp's `_ctx` or a dunder


# Where each rag module sits, lowest layer first: a module imports from its own layer and below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("core", ("rag.settings", "rag.errors", "rag.types", "rag.text", "rag.filters", "rag.terminal", "rag.files")),
    ("ingest, embed, llm", ("rag.ingest", "rag.embed", "rag.llm")),  # siblings: none imports another
    ("index", ("rag.index",)),
    ("search", ("rag.search",)),
    ("answer", ("rag.answer",)),
    ("assistant", ("rag.assistant",)),
    ("eval, cli and the package's face", ("rag.eval", "rag.cli", "rag")),
]


def _place(module: str) -> tuple[int, str] | None:
    """(layer number, the package or module of LAYERS that holds `module`), or None if it has no place."""
    best: tuple[int, str] | None = None
    for number, (_, owners) in enumerate(LAYERS):
        for owner in owners:
            if (module == owner or module.startswith(owner + ".")) and (best is None or len(owner) > len(best[1])):
                best = (number, owner)
    return best if best and (best[1] != "rag" or module == "rag") else None


def _imports(source: str, module: str, is_package: bool, modules: set[str]) -> list[tuple[int, str]]:
    """(line, imported module) for every import of a `rag` module in `source`, at any depth (a lazy import
    inside a function or under TYPE_CHECKING is a dependency too). `from p import x` imports the module
    `p.x` when there is one, else the module `p`; a module that is not in `modules` is given as written."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "rag"]
        elif isinstance(node, ast.ImportFrom):
            base = _imported_from(module, node, is_package)
            if base.split(".")[0] == "rag":
                found += [(node.lineno, f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base)
                          for alias in node.names]
    return list(dict.fromkeys(found))


def layer_violations(sources: dict[str, tuple[str, bool]], label: dict[str, str] | None = None) -> list[str]:
    """Each import against the one-way rule in `sources` (module -> (source, is_package)), as
    "where: module -> imported module (layer a -> layer b)"."""
    modules = set(sources)
    found: list[str] = []
    for module, (source, is_package) in sorted(sources.items()):
        where = (label or {}).get(module, module)
        place = _place(module)
        if place is None:
            found.append(f"{where}: {module} has no layer: add it to LAYERS in tests/core/test_layout.py "
                         "(and to docs/ARCHITECTURE.md)")
            continue
        for line, imported in _imports(source, module, is_package, modules):
            if imported == module or imported not in modules:
                continue  # itself (`from rag.index import store` in rag.index), or no module (the import fails)
            target = _place(imported)
            if target is None:
                continue  # reported as a module without a layer
            a, b = LAYERS[place[0]][0], LAYERS[target[0]][0]
            if target[0] > place[0]:
                found.append(f"{where}:{line}: {module} -> {imported} (layer {place[0]} {a} -> layer {target[0]} {b}: "
                             "imports run from higher layers to lower ones only)")
            elif target[0] == place[0] == 1 and target[1] != place[1]:
                found.append(f"{where}:{line}: {module} -> {imported} (layer 1 {place[1]} -> layer 1 {target[1]}: "
                             "ingest, embed and llm do not import each other; move what they share into core)")
    return list(dict.fromkeys(found))


def test_imports_run_one_way() -> None:
    paths = sorted((ROOT / "rag").rglob("*.py"))
    sources = {_module(p): (p.read_text(encoding="utf-8"), p.name == "__init__.py") for p in paths}
    found = layer_violations(sources, {_module(p): str(p.relative_to(ROOT)) for p in paths})
    assert not found, ("Imports against the layers (a module imports from its own layer and lower ones; move a "
                       "shared thing down instead of importing it sideways or lazily):\n" + "\n".join(found))


def test_bench_and_ui_import_only_public_rag_modules() -> None:
    rag_modules = {_module(p) for p in (ROOT / "rag").rglob("*.py")}
    found = []
    for path in sorted(p for folder in ("bench", "ui") for p in (ROOT / folder).rglob("*.py")):
        source, where = path.read_text(encoding="utf-8"), path.relative_to(ROOT)
        for line, imported in _imports(source, _module(path), path.name == "__init__.py", rag_modules):
            if imported not in rag_modules:
                found.append(f"{where}:{line}: imports {imported}, which is no module of rag (moved or renamed?)")
            elif any(_private(part) for part in imported.split(".")):
                found.append(f"{where}:{line}: imports {imported}, a private module")
    assert not found, "bench/ and ui/ import only rag's public modules:\n" + "\n".join(found)


def test_the_layer_check_finds_each_kind_of_violation() -> None:
    sources = {
        "rag.files": ("", False),
        "rag.errors": ("", False),
        "rag.llm.models": ("from rag.files import file_identity\n", False),
        # the violation this layout fixed: embed reached sideways into llm for a shared helper
        "rag.embed.onnx_export": ("def f():\n    from rag.llm.models import file_identity\n", False),
        "rag.index.store": ("from rag.errors import RagError\n", False),
        "rag.ingest.documents": ("from ..index import store\n", False),
        "rag.search.retrieval": ("import rag.index.store\nfrom rag import errors\n", False),
        "rag.stray": ("", False),
    }
    found = layer_violations(sources)
    assert len(found) == 3, found
    assert "rag.embed.onnx_export:2: rag.embed.onnx_export -> rag.llm.models (layer 1 rag.embed -> layer 1 rag.llm" in found[0]
    assert "rag.ingest.documents:1: rag.ingest.documents -> rag.index.store (layer 1 " in found[1]
    assert found[2].startswith("rag.stray: rag.stray has no layer")
