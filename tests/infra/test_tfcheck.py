"""`make tf-check`'s structural checks: the real terraform/ passes, and each kind of mistake fails (issue 20)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from infra.tfcheck import FLOOR_DAYS, check

ROOT = Path(__file__).resolve().parents[2] / "terraform"


@pytest.fixture(name="tree")
def fx_tree(tmp_path: Path) -> Path:
    copy = tmp_path / "terraform"
    shutil.copytree(ROOT, copy)
    return copy


def _edit(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, count), encoding="utf-8")


def test_the_committed_tree_passes() -> None:
    assert check(ROOT) == []


def test_every_module_and_both_environments_exist() -> None:
    for module in ("network", "database", "storage", "cluster", "secrets"):
        assert (ROOT / "modules" / module / "main.tf").is_file()
    for env in ("staging", "prod"):
        assert (ROOT / "environments" / env / "main.tf").is_file()


def test_a_bucket_without_lifecycle_fails(tree: Path) -> None:
    main = tree / "modules" / "storage" / "main.tf"
    text = main.read_text(encoding="utf-8")
    # Drop the lifecycle rule of the video bucket only.
    start = text.index('  lifecycle_rule {\n    id      = "video-retention"')
    end = text.index("\n  }\n", text.index("noncurrent_version_expiration", start)) + len("\n  }\n")
    main.write_text(text[:start] + text[end:], encoding="utf-8")
    assert any("alicloud_oss_bucket.video has no enabled lifecycle rule" in p for p in check(tree))


def test_a_disabled_lifecycle_fails(tree: Path) -> None:
    _edit(
        tree / "modules" / "storage" / "main.tf",
        'id      = "backup-retention"\n    enabled = true',
        'id      = "backup-retention"\n    enabled = false',
    )
    assert any("alicloud_oss_bucket.backup has no enabled lifecycle rule" in p for p in check(tree))


def test_a_bucket_without_encryption_fails(tree: Path) -> None:
    main = tree / "modules" / "storage" / "main.tf"
    text = main.read_text(encoding="utf-8")
    text = re.sub(r"  server_side_encryption_rule \{\n.*?\n  \}\n", "", text, count=1, flags=re.DOTALL)
    main.write_text(text, encoding="utf-8")
    assert any("alicloud_oss_bucket.evidence is not encrypted with KMS" in p for p in check(tree))


def test_a_public_bucket_fails(tree: Path) -> None:
    _edit(tree / "modules" / "storage" / "main.tf", 'acl    = "private"', 'acl    = "public-read"')
    assert any("alicloud_oss_bucket.evidence is not private" in p for p in check(tree))


def test_an_expiration_below_the_legal_floor_fails(tree: Path) -> None:
    # An environment that passes 12 months for photos (floor: 24 months).
    _edit(
        tree / "environments" / "prod" / "main.tf",
        "  kms_key_id = module.secrets.kms_key_id\n  tags       = local.tags",
        "  kms_key_id = module.secrets.kms_key_id\n  evidence_retention_days = 365\n  tags       = local.tags",
    )
    problems = check(tree)
    assert any(f"expires evidence after 365 days, floor is {FLOOR_DAYS['evidence']}" in p for p in problems)


def test_a_literal_expiration_below_the_floor_fails(tree: Path) -> None:
    _edit(tree / "modules" / "storage" / "main.tf", "days = var.video_retention_days", "days = 180")
    assert any("expires video after 180 days, floor is 365" in p for p in check(tree))


def test_a_bucket_without_data_class_fails(tree: Path) -> None:
    _edit(tree / "modules" / "storage" / "main.tf", '"ecogate-data" = "logs"', '"owner" = "ops"')
    assert any("alicloud_oss_bucket.logs names no known data class" in p for p in check(tree))


def test_an_untyped_or_undescribed_variable_fails(tree: Path) -> None:
    variables = tree / "modules" / "network" / "variables.tf"
    _edit(variables, '  type        = string\n  description = "CIDR block of the VPC."', '  description = ""')
    problems = check(tree)
    assert any("variable vpc_cidr has no type" in p for p in problems)
    assert any("variable vpc_cidr has no description" in p for p in problems)


def test_a_secret_in_tfvars_fails(tree: Path) -> None:
    tfvars = tree / "environments" / "staging" / "terraform.tfvars"
    tfvars.write_text(
        tfvars.read_text(encoding="utf-8") + 'db_password = "hunter2"\nextra = "LTAI5tAbCdEfGhIjKlMnOp"\n',
        encoding="utf-8",
    )
    problems = check(tree)
    assert any("db_password looks like a secret" in p for p in problems)
    assert any("the value of extra looks like a secret" in p for p in problems)


def test_a_module_call_must_match_the_module(tree: Path) -> None:
    _edit(
        tree / "environments" / "staging" / "main.tf",
        "  storage_gb            = 100\n",
        "  storage_gbs           = 100\n",
    )
    problems = check(tree)
    assert any("passes storage_gbs, which" in p for p in problems)
    assert any("does not pass the required storage_gb" in p for p in problems)


def test_an_unencrypted_state_backend_fails(tree: Path) -> None:
    _edit(tree / "environments" / "prod" / "versions.tf", "encrypt             = true", "encrypt             = false")
    assert any("is not an encrypted OSS bucket" in p for p in check(tree))
