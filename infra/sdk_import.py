"""Import the generated Pulumi SDKs with postponed annotations (PEP 563).

pulumi-aws and pulumi-kubernetes annotate every argument of thousands of generated classes with
`pulumi.Input[Optional[...]]`; evaluating those when a module loads is most of the cost of importing one
(wafv2 alone: 1.2 s). Pulumi reads these annotations only through `typing.get_type_hints`, which accepts
them as strings, so the SDK modules are compiled as if they began with `from __future__ import
annotations`. The bytecode is cached beside the standard one, tagged `opt-pep563`, and checked against
the source's mtime and size as CPython's own cache is. The cache is written even under
PYTHONDONTWRITEBYTECODE: without it every import would recompile megabytes of source.
"""

from __future__ import annotations
import __future__

import contextlib
import importlib.machinery
import importlib.util
import marshal
import os
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

from infra.atomic import write_atomic

PACKAGES = frozenset({"pulumi_aws", "pulumi_kubernetes"})
CACHE_TAG = "pep563"
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
        code = compile(self.get_data(path), path, "exec", flags=_FLAGS, dont_inherit=True)
        with contextlib.suppress(
            OSError
        ):  # a read-only install: the import still works, only slower next time
            write_atomic(cache, header + marshal.dumps(code), durable=False)  # a cache: rebuilt if lost
        return code


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
