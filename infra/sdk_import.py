"""Import the generated Pulumi SDKs with postponed annotations (PEP 563).

pulumi-aws and pulumi-kubernetes annotate every argument of thousands of generated classes with
`pulumi.Input[Optional[...]]`; evaluating those when a module loads is most of the cost of importing one
(wafv2 alone: 1.2 s). Pulumi reads these annotations only through `typing.get_type_hints`, which accepts
them as strings, so the SDK modules are compiled as if they began with `from __future__ import
annotations`. The bytecode is cached beside the standard one, tagged `opt-<CACHE_TAG>`, and checked against
the source's mtime and size as CPython's own cache is. The cache is written even under
PYTHONDONTWRITEBYTECODE: without it every import would recompile megabytes of source.

More costs of an SDK import that a plan never uses, removed the same way:
- Each input type has a `...ArgsDict` TypedDict twin, for type checkers. Creating one turns every field's
  annotation into a `typing.ForwardRef`, compiling its text: a quarter of the CPU of importing an SDK
  module. Pulumi's runtime only asks `typing.is_typeddict()` of them, so the loader builds them empty and
  sets their `__annotations__` afterwards, as the same strings PEP 563 leaves everywhere else.
- Each package's `__init__` star-imports every module of the package (ec2: 180 of them); a plan uses a few.
  The star imports become a module `__getattr__` that imports a module when one of its names is first used.
- pulumi_kubernetes.yaml imports `requests` (and urllib3, charset_normalizer, email...) to fetch manifests
  by URL, which the program never does: `requests` is imported lazily, on first use, for that module.
"""

from __future__ import annotations
import __future__

import ast
import contextlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
from collections.abc import Callable, Sequence
from types import CodeType, ModuleType

from infra.atomic import write_atomic

PACKAGES = frozenset({"pulumi_aws", "pulumi_kubernetes"})
CACHE_TAG = "pep563v4"  # a new tag when what the loader compiles changes: old caches are not read
# SDK module → modules it imports at the top but uses only in functions it never calls in a plan.
LAZY_IMPORTS = {"pulumi_kubernetes.yaml.yaml": ("requests",)}
_FLAGS = __future__.annotations.compiler_flag


class PostponedAnnotationsLoader(importlib.machinery.SourceFileLoader):
    def get_code(self, fullname: str) -> CodeType:
        path = self.get_filename(fullname)
        cache = importlib.util.cache_from_source(path, optimization=CACHE_TAG)
        st = os.stat(path)
        header = (
            importlib.util.MAGIC_NUMBER
            + (int(st.st_mtime) & 0xFFFFFFFF).to_bytes(4, "little")
            + (st.st_size & 0xFFFFFFFF).to_bytes(4, "little")
        )
        try:
            with open(cache, "rb") as f:
                data = f.read()
        except OSError:
            data = b""
        if data[: len(header)] == header:
            code = marshal.loads(memoryview(data)[len(header) :])
            assert isinstance(code, CodeType)
            return code
        tree = _fieldless_typed_dicts(ast.parse(self.get_data(path), path))
        tree = _without_imports(tree, LAZY_IMPORTS.get(fullname, ()))
        if os.path.basename(path) == "__init__.py":
            tree = _lazy_package(tree, os.path.dirname(path))
        code = compile(tree, path, "exec", flags=_FLAGS, dont_inherit=True)
        with contextlib.suppress(
            OSError
        ):  # a read-only install: the import still works, only slower next time
            write_atomic(cache, header + marshal.dumps(code), durable=False)  # a cache: rebuilt if lost
        return code

    def exec_module(self, module: ModuleType) -> None:
        for name in LAZY_IMPORTS.get(module.__name__, ()):
            setattr(module, name, _ImportedOnFirstUse(name))
        super().exec_module(module)


def _fieldless_typed_dicts(tree: ast.Module) -> ast.Module:
    """Module-level `class X(TypedDict): field: annotation ...` → the class without its fields, then
    `X.__annotations__ = {field: "annotation", ...}`: the TypedDict costs nothing to create."""
    body: list[ast.stmt] = []
    for stmt in tree.body:
        body.append(stmt)
        if not (
            isinstance(stmt, ast.ClassDef)
            and [ast.unparse(b) for b in stmt.bases] == ["TypedDict"]
            and not stmt.decorator_list
        ):
            continue
        fields: dict[str, str] = {}
        kept: list[ast.stmt] = []
        for i, part in enumerate(stmt.body):
            if isinstance(part, ast.AnnAssign) and isinstance(part.target, ast.Name) and part.value is None:
                fields[part.target.id] = ast.unparse(part.annotation)
            elif i == 0 or not (isinstance(part, ast.Expr) and isinstance(part.value, ast.Constant)):
                kept.append(part)  # the class docstring, anything else; a field's docstring goes
        if any(isinstance(part, ast.AnnAssign) for part in kept):
            continue  # not the plain shape the generator writes: leave it as it is
        stmt.body = kept or [ast.Pass()]
        annotations = ast.Dict(
            keys=[ast.Constant(name) for name in fields], values=[ast.Constant(a) for a in fields.values()]
        )
        target = ast.Attribute(ast.Name(stmt.name, ast.Load()), "__annotations__", ast.Store())
        body.append(ast.copy_location(ast.Assign(targets=[target], value=annotations), stmt))
    tree.body = body
    return ast.fix_missing_locations(tree)


def _without_imports(tree: ast.Module, names: Sequence[str]) -> ast.Module:
    """Drop the module-level `import NAME` statements for `names` (exec_module binds them instead)."""
    tree.body = [
        stmt
        for stmt in tree.body
        if not (
            isinstance(stmt, ast.Import)
            and len(stmt.names) == 1
            and stmt.names[0].name in names
            and stmt.names[0].asname is None
        )
    ]
    return tree


def _lazy_package(tree: ast.Module, folder: str) -> ast.Module:
    """A package `__init__`'s `from .module import *` and `from . import module` statements, for modules
    that list their names in a literal `__all__`, become a module `__getattr__` (PEP 562) that imports the
    module when one of its names is first used: a plan uses a few dozen of the SDKs' thousands of modules.
    Statements whose names the `__init__` itself uses stay as they are."""
    found: dict[int, dict[str, str]] = {}  # statement index → {name: module defining it}
    for i, stmt in enumerate(tree.body):
        if not (isinstance(stmt, ast.ImportFrom) and stmt.level == 1):
            continue
        if stmt.module and [a.name for a in stmt.names] == ["*"]:
            names = _literal_all(os.path.join(folder, stmt.module + ".py"))
            # A name that is also its module's name (`Namespace` in Namespace.py, `get_ami` in get_ami.py)
            # stays eager: importing the module first would leave the module, not the name, in the package.
            if names is not None and stmt.module not in names:
                found[i] = dict.fromkeys(names, stmt.module)
        elif stmt.module is None and all(
            a.asname is None and os.path.isfile(os.path.join(folder, a.name + ".py")) for a in stmt.names
        ):
            found[i] = {a.name: "." + a.name for a in stmt.names}  # the module itself
    rest = ast.Module([stmt for i, stmt in enumerate(tree.body) if i not in found], [])
    used = {node.id for node in ast.walk(rest) if isinstance(node, ast.Name)}
    if "__getattr__" in used or any(
        isinstance(stmt, ast.FunctionDef) and stmt.name == "__getattr__" for stmt in rest.body
    ):
        return tree
    table: dict[str, str] = {}  # a later star import wins, as it would eagerly
    body: list[ast.stmt] = []
    for i, stmt in enumerate(tree.body):
        entries = found.get(i)
        if entries is None or used.intersection(entries):
            body.append(stmt)
        else:
            table.update(entries)
    if not table:
        return tree
    hook = ast.parse(
        "import infra.sdk_import as __sdk_import\n"
        f"__getattr__ = __sdk_import.lazy_attributes(__name__, {table!r})\n"
        "del __sdk_import\n"
    )
    tree.body = body + hook.body
    return ast.fix_missing_locations(tree)


def _literal_all(path: str) -> list[str] | None:
    """The names a module's literal `__all__` lists, or None (no such file, or no literal `__all__`)."""
    try:
        with open(path, "rb") as f:
            module = ast.parse(f.read(), path)
    except (OSError, SyntaxError):
        return None
    for stmt in module.body:
        if (
            isinstance(stmt, ast.Assign)
            and [ast.unparse(t) for t in stmt.targets] == ["__all__"]
            and isinstance(stmt.value, ast.List | ast.Tuple)
            and all(isinstance(e, ast.Constant) and isinstance(e.value, str) for e in stmt.value.elts)
        ):
            return [
                e.value for e in stmt.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)
            ]
    return None


def lazy_attributes(package: str, table: dict[str, str]) -> Callable[[str], object]:
    """The `__getattr__` of a package made lazy by `_lazy_package`: `table` maps each name to the module
    defining it, or a submodule's name to itself with a leading dot. The value is kept in the package."""

    def __getattr__(name: str) -> object:
        module_name = table.get(name)
        if module_name is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(f"{package}.{module_name.lstrip('.')}")
        value = module if module_name.startswith(".") else getattr(module, name)
        setattr(sys.modules[package], name, value)
        return value

    return __getattr__


class _ImportedOnFirstUse(ModuleType):
    """Stands, in one SDK module's namespace, for a module that is imported when first used."""

    def __getattr__(self, attr: str) -> object:
        return getattr(importlib.import_module(self.__name__), attr)


class SdkFinder:
    """A meta path finder that hands the SDKs' source modules to `PostponedAnnotationsLoader`."""

    @classmethod
    def find_spec(
        cls, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in PACKAGES:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is not None and type(spec.loader) is importlib.machinery.SourceFileLoader:
            spec.loader = PostponedAnnotationsLoader(spec.loader.name, spec.loader.path)
        return spec


def install() -> None:
    """Put the finder first on `sys.meta_path` (idempotent). SDK modules imported before stay as they are."""
    if SdkFinder not in sys.meta_path:
        sys.meta_path.insert(0, SdkFinder)
