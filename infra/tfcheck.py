"""Structural checks of `terraform/` without network or a terraform binary (issue 20, `make tf-check`).

Every `.tf` file is parsed with python-hcl2, then:

* every module and environment variable has a `type` and a `description`;
* no `.tfvars` file holds a secret (secret-looking names, access-key ids, long random-looking values);
* every `module` block points at an existing module, passes only variables it declares and every variable
  it requires;
* every OSS bucket is encrypted with KMS, private (an `alicloud_oss_bucket_acl` of `private`, no public ACL),
  names its data class in the `ecogate-data` tag, and has an enabled lifecycle rule whose expiration is at
  least the legal floor of that class (REGULATION.md: ledgers, pass details and photos ≥ 24 months, video
  ≥ 12 months), with the expiration taken from a literal or from the variable's default and from every
  value an environment passes for it;
* every environment keeps its state in an encrypted backend.

`python -m infra.tfcheck [DIR]` prints one line per problem (in English: operators read it) and exits 1 on any.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2

#: Minimum lifetime in days of each data class before a bucket may expire it.
FLOOR_DAYS: dict[str, int] = {
    "evidence": 730,  # photos, scans, ledgers, exports: ≥ 24 months (REGULATION.md, HJ 1321-2023)
    "video": 365,  # video: ≥ 12 months
    "backup": 730,  # off-site backups must cover the 24-month ledger floor
    "logs": 180,  # access logs: ≥ 6 months (GB/T 22239-2019 level 2)
}
_SECRET_NAME = re.compile(r"password|passwd|secret|token|private_key|access_key|credential|api_key", re.IGNORECASE)
_SECRET_VALUE = re.compile(r"^(LTAI[0-9A-Za-z]{12,}|-----BEGIN|[A-Za-z0-9+/=_-]{40,}$)")
_VAR_REF = re.compile(r"^\$\{var\.([A-Za-z0-9_]+)\}$")


@dataclass
class Module:
    """One folder of `.tf` files, merged."""

    path: Path
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    resources: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    modules: dict[str, dict[str, Any]] = field(default_factory=dict)
    terraform: list[dict[str, Any]] = field(default_factory=list)


def _unquote(value: Any) -> Any:
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _blocks(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return [value] if isinstance(value, dict) else []


def load_module(path: Path) -> Module:
    """Parse every `.tf` file of one folder."""
    module = Module(path)
    for tf in sorted(path.glob("*.tf")):
        parsed = hcl2.loads(tf.read_text(encoding="utf-8"))
        for block in parsed.get("variable", []):
            for name, body in block.items():
                module.variables[_unquote(name)] = body
        for block in parsed.get("resource", []):
            for rtype, named in block.items():
                for name, body in named.items():
                    module.resources.setdefault(_unquote(rtype), {})[_unquote(name)] = body
        for block in parsed.get("module", []):
            for name, body in block.items():
                module.modules[_unquote(name)] = body
        module.terraform += _blocks(parsed.get("terraform", []))
    return module


def _number(value: Any) -> int | None:
    value = _unquote(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _resolved_days(value: Any, module: Module, passed: list[Any]) -> list[int | None]:
    """Every value an expiration can take: a literal, or the variable's default and each value passed for it."""
    literal = _number(value)
    if literal is not None:
        return [literal]
    match = _VAR_REF.match(str(value))
    if not match:
        return [None]
    variable = module.variables.get(match[1], {})
    values: list[int | None] = []
    if "default" in variable:
        values.append(_number(variable["default"]))
    values += [_number(v) for v in passed]
    return values or [None]


def _check_variables(module: Module) -> list[str]:
    problems = []
    for name, body in module.variables.items():
        if "type" not in body:
            problems.append(f"{module.path}: variable {name} has no type")
        if not _unquote(body.get("description", "")).strip():
            problems.append(f"{module.path}: variable {name} has no description")
    return problems


def _passed_values(modules: dict[Path, Module], target: Path, variable: str) -> list[Any]:
    values = []
    for module in modules.values():
        for body in module.modules.values():
            source = (module.path / _unquote(body.get("source", ""))).resolve()
            if source == target.resolve() and variable in body:
                values.append(body[variable])
    return values


def _lifecycle_problems(
    where: str, body: dict[str, Any], floor: int, data_class: str, module: Module, modules: dict[Path, Module]
) -> list[str]:
    rules = [r for r in _blocks(body.get("lifecycle_rule")) if r.get("enabled") is True]
    if not rules:
        return [f"{where} has no enabled lifecycle rule"]
    problems = []
    for rule in rules:
        for expiration in _blocks(rule.get("expiration")):
            value = expiration.get("days")
            match = _VAR_REF.match(str(value))
            passed = _passed_values(modules, module.path, match[1]) if match else []
            for days in _resolved_days(value, module, passed):
                if days is None:
                    problems.append(f"{where}: expiration {value} cannot be checked against the floor")
                elif days < floor:
                    problems.append(f"{where}: expires {data_class} after {days} days, floor is {floor}")
    return problems


def _bucket_problems(module: Module, modules: dict[Path, Module]) -> list[str]:
    problems = []
    buckets = module.resources.get("alicloud_oss_bucket", {})
    acls = {
        str(_unquote(body.get("bucket", ""))): str(_unquote(body.get("acl", "")))
        for body in module.resources.get("alicloud_oss_bucket_acl", {}).values()
    }
    separate_sse = {
        str(_unquote(body.get("bucket", "")))
        for body in module.resources.get("alicloud_oss_bucket_server_side_encryption", {}).values()
        if str(_unquote(body.get("sse_algorithm", ""))) == "KMS"
    }
    for name, body in buckets.items():
        where = f"{module.path}: alicloud_oss_bucket.{name}"
        ref = f"${{alicloud_oss_bucket.{name}.bucket}}"
        sse = [b for b in _blocks(body.get("server_side_encryption_rule")) if _unquote(b.get("sse_algorithm")) == "KMS"]
        if not sse and ref not in separate_sse:
            problems.append(f"{where} is not encrypted with KMS")
        acl = _unquote(body.get("acl", "")) or acls.get(ref, "")
        if acl != "private":
            problems.append(f"{where} is not private (acl {acl or 'unset'})")
        tag = re.search(r'"ecogate-data"\s*=\s*"([a-z]+)"', str(body.get("tags", "")))
        data_class = tag[1] if tag else None
        if data_class not in FLOOR_DAYS:
            problems.append(f"{where} names no known data class in its ecogate-data tag ({sorted(FLOOR_DAYS)})")
            continue
        problems += _lifecycle_problems(where, body, FLOOR_DAYS[data_class], data_class, module, modules)
    return problems


def _module_call_problems(module: Module, modules: dict[Path, Module]) -> list[str]:
    problems = []
    for name, body in module.modules.items():
        source = (module.path / _unquote(body.get("source", ""))).resolve()
        target = next((m for p, m in modules.items() if p.resolve() == source), None)
        if target is None:
            problems.append(f"{module.path}: module {name} points at a missing folder {source}")
            continue
        passed = {k for k in body if k not in {"source", "version", "providers", "depends_on", "count", "for_each"}}
        passed.discard("__is_block__")
        problems += [
            f"{module.path}: module {name} passes {k}, which {target.path} does not declare"
            for k in sorted(passed - target.variables.keys())
        ]
        required = {k for k, v in target.variables.items() if "default" not in v}
        problems += [f"{module.path}: module {name} does not pass the required {k}" for k in sorted(required - passed)]
    return problems


def _tfvars_problems(path: Path) -> list[str]:
    problems = []
    for tfvars in sorted(path.rglob("*.tfvars")):
        for key, value in hcl2.loads(tfvars.read_text(encoding="utf-8")).items():
            if key.startswith("__"):
                continue
            if _SECRET_NAME.search(key):
                problems.append(f"{tfvars}: {key} looks like a secret; secrets come from KMS, never tfvars")
            for item in value if isinstance(value, list) else [value]:
                text = str(_unquote(item))
                if _SECRET_VALUE.match(text) and "sha256:" not in text:
                    problems.append(f"{tfvars}: the value of {key} looks like a secret")
    return problems


def _backend_problems(module: Module) -> list[str]:
    backends = [b for t in module.terraform for b in _blocks(t.get("backend"))]
    if not backends:
        return [f"{module.path}: environment has no remote backend"]
    problems = []
    for backend in backends:
        for kind, body in backend.items():
            if _unquote(kind) != "oss" or body.get("encrypt") is not True:
                problems.append(f"{module.path}: state backend {_unquote(kind)} is not an encrypted OSS bucket")
    return problems


def check(root: Path) -> list[str]:
    """All problems of the terraform tree under ``root`` (empty when it passes)."""
    folders = sorted({tf.parent for tf in root.rglob("*.tf")})
    if not folders:
        return [f"{root}: no terraform files"]
    problems: list[str] = []
    modules: dict[Path, Module] = {}
    for folder in folders:
        try:
            modules[folder] = load_module(folder)
        except Exception as exc:  # noqa: BLE001 - a parse error of any kind is a finding, reported with its file
            problems.append(f"{folder}: does not parse: {exc}")
    for folder, module in modules.items():
        problems += _check_variables(module)
        problems += _module_call_problems(module, modules)
        problems += _bucket_problems(module, modules)
        if "environments" in folder.parts:
            problems += _backend_problems(module)
    problems += _tfvars_problems(root)
    return problems


def main(argv: list[str] | None = None) -> int:
    """Run the checks; print problems; exit status 1 on any."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0] if args else "terraform")
    problems = check(root)
    for problem in problems:
        print(problem)
    print(f"tfcheck: {len(problems)} problem(s) in {root}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
