"""The SDK finder: pulumi-aws and pulumi-kubernetes load with postponed annotations, cached and revalidated."""

from __future__ import annotations

import ast
import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pulumi_aws.wafv2 as wafv2
import pulumi_aws.wafv2.outputs as wafv2_outputs
import pulumi_kubernetes.apps.v1 as apps_v1
from pulumi._types import input_type_types, output_type_types

from infra import sdk_import


def test_the_finder_is_installed_by_importing_infra() -> None:
    assert sdk_import.SdkFinder in sys.meta_path


def test_sdk_annotations_are_strings_and_still_resolve() -> None:
    for cls in (wafv2.WebAclRuleStatementArgs, apps_v1.DeploymentSpecArgs):
        assert cls.__init__.__annotations__
        assert all(isinstance(a, str) for a in cls.__init__.__annotations__.values()), cls
        loader = sys.modules[cls.__module__].__loader__
        assert isinstance(loader, sdk_import.PostponedAnnotationsLoader)
    # Pulumi resolves them (typing.get_type_hints) when it translates inputs and outputs.
    assert (
        input_type_types(wafv2.WebAclRuleStatementArgs)["andStatement"]
        is wafv2.WebAclRuleStatementAndStatementArgs
    )
    assert output_type_types(wafv2_outputs.WebAclRuleStatement)["andStatement"] is (
        wafv2_outputs.WebAclRuleStatementAndStatement
    )


def test_other_packages_load_the_standard_way() -> None:
    import pulumi

    assert type(pulumi.__loader__) is importlib.machinery.SourceFileLoader
    assert sdk_import.SdkFinder.find_spec("pulumi", None) is None


def test_bytecode_is_cached_and_recompiled_when_the_source_changes(tmp_path: Path) -> None:
    source = tmp_path / "generated.py"
    source.write_text("def f(x: Undefined[int]) -> None: ...\nVALUE = 1\n")
    loader = sdk_import.PostponedAnnotationsLoader("generated", str(source))
    cache = Path(importlib.util.cache_from_source(str(source), optimization=sdk_import.CACHE_TAG))

    namespace: dict[str, object] = {}
    exec(loader.get_code("generated"), namespace)  # an undefined name in an annotation: fine, never evaluated
    assert namespace["VALUE"] == 1
    assert cache.name.endswith(".opt-pep563v4.pyc") and cache.exists()
    written = cache.stat().st_mtime_ns

    exec(loader.get_code("generated"), namespace)  # served from the cache, not rewritten
    assert cache.stat().st_mtime_ns == written

    source.write_text("VALUE = 22\n")  # new size and mtime: the stale cache is not used
    os.utime(source, (written / 1e9 + 5, written / 1e9 + 5))
    exec(loader.get_code("generated"), namespace)
    assert namespace["VALUE"] == 22


def test_an_unwritable_cache_only_costs_a_recompile(tmp_path: Path) -> None:
    source = tmp_path / "generated.py"
    source.write_text("VALUE = 3\n")
    (tmp_path / "__pycache__").write_text("a file where the cache directory would go")
    namespace: dict[str, object] = {}
    exec(sdk_import.PostponedAnnotationsLoader("generated", str(source)).get_code("generated"), namespace)
    assert namespace["VALUE"] == 3


def test_typed_dict_twins_are_built_without_evaluating_their_fields(tmp_path: Path) -> None:
    source = tmp_path / "generated.py"
    source.write_text(
        "from typing import NotRequired, TypedDict\n"
        "class ThingArgsDict(TypedDict):\n"
        '    """A thing."""\n'
        "    name: Undefined[str]\n"
        '    """Its name."""\n'
        "    size: NotRequired[int]\n"
    )
    namespace: dict[str, Any] = {}
    exec(sdk_import.PostponedAnnotationsLoader("generated", str(source)).get_code("generated"), namespace)
    thing = namespace["ThingArgsDict"]
    assert typing.is_typeddict(thing) and thing.__doc__ == "A thing."
    # The field annotations are the source's text, never turned into typing.ForwardRef objects.
    assert thing.__annotations__ == {"name": "Undefined[str]", "size": "NotRequired[int]"}
    # In the SDKs as loaded: Pulumi only asks is_typeddict() of these.
    assert typing.is_typeddict(wafv2.WebAclRuleStatementArgsDict)
    assert all(isinstance(a, str) for a in wafv2.WebAclRuleStatementArgsDict.__annotations__.values())


def test_requests_is_imported_only_when_the_kubernetes_yaml_module_uses_it() -> None:
    probe = (
        "import sys, infra, pulumi_kubernetes.helm.v3 as helm, pulumi_kubernetes.yaml.yaml as y; helm.Release;"
        "before = 'requests' in sys.modules or 'urllib3' in sys.modules;"
        "get = y.requests.get;"
        "print(before, get is sys.modules['requests'].get)"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "True"]


def test_sdk_packages_import_their_modules_when_a_name_is_first_used() -> None:
    probe = (
        "import sys, types, infra, pulumi_aws, pulumi_kubernetes.core.v1 as core\n"
        "ec2 = pulumi_aws.ec2\n"
        "vpc = ec2.Vpc\n"
        "print('pulumi_aws.ec2.vpc' in sys.modules, 'pulumi_aws.ec2.ami' in sys.modules)\n"
        "print(ec2.AmiArgs.__module__, 'pulumi_aws.ec2.ami' in sys.modules)\n"
        "print(isinstance(ec2.outputs, types.ModuleType), isinstance(ec2.get_ami, types.FunctionType))\n"
        "print(isinstance(core.Namespace, type), isinstance(ec2.get_vpc_output, types.FunctionType))\n"
        "from pulumi_aws.ec2 import SecurityGroup\n"
        "print(SecurityGroup is ec2.SecurityGroup, hasattr(ec2, 'NoSuchThing'))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.split("\n")[:5] == [
        "True False",  # Vpc's module only, not the 180 others of ec2
        "pulumi_aws.ec2.ami True",
        "True True",  # a submodule; a function named as its module (kept eager)
        "True True",
        "True False",
    ]


def test_a_package_init_keeps_eager_what_it_uses_or_cannot_list(tmp_path: Path) -> None:
    (tmp_path / "alpha.py").write_text("__all__ = ['A']\nA = 1\n")
    (tmp_path / "beta.py").write_text("B = 2\n")  # no __all__: its star import stays
    (tmp_path / "gamma.py").write_text("__all__ = ['gamma']\ngamma = 3\n")  # its name is its module's
    (tmp_path / "delta.py").write_text("__all__ = ['D']\nD = 4\n")
    init = (
        "from .alpha import *\nfrom .beta import *\nfrom .gamma import *\nfrom .delta import *\nE = D + 1\n"
    )
    tree = sdk_import._lazy_package(ast.parse(init), str(tmp_path))
    kept = [ast.unparse(s) for s in tree.body if isinstance(s, ast.ImportFrom)]
    assert kept == ["from .beta import *", "from .gamma import *", "from .delta import *"]
    assert "lazy_attributes(__name__, {'A': 'alpha'})" in ast.unparse(tree)
