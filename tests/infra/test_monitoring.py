"""Alert rules and the Grafana dashboard name only metrics that exist (issue 21)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from agent.ops import metrics as gate_metrics
from cloud import metrics as cloud_metrics

MONITORING = Path(__file__).resolve().parents[2] / "infra" / "monitoring"
_NAME = re.compile(r"\becogate_[a-z_]+")
_SUFFIXES = ("_total", "_bucket", "_sum", "_count", "_created")


def _known() -> set[str]:
    names = set()
    for registry in (cloud_metrics.REGISTRY, gate_metrics.REGISTRY):
        for family in registry.collect():
            names.add(family.name)
    return names


def _base(name: str) -> str:
    for suffix in _SUFFIXES:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _rules() -> list[dict[str, object]]:
    document = yaml.safe_load((MONITORING / "alerts.yml").read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_is_complete_and_speaks_chinese() -> None:
    rules = _rules()
    assert len(rules) >= 10
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        summary = rule["annotations"]["summary"]
        assert re.search(r"[\u4e00-\u9fff]", summary), rule["alert"]
        assert str(rule["expr"]).count("(") == str(rule["expr"]).count(")"), rule["alert"]


def test_every_metric_the_rules_and_the_dashboard_name_exists() -> None:
    known = _known()
    exprs = [str(rule["expr"]) for rule in _rules()]
    dashboard = json.loads((MONITORING / "grafana-ecogate.json").read_text(encoding="utf-8"))
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = {_base(name) for expr in exprs for name in _NAME.findall(expr)}
    assert used, "no ecogate metric named"
    assert used <= known, f"unknown metrics: {sorted(used - known)}"
    # Every metric of ours is watched by a rule or shown on the dashboard.
    ours = {n for n in known if n.startswith("ecogate_")}
    assert ours - used == set(), f"neither alerted on nor shown: {sorted(ours - used)}"


def test_the_scrape_config_loads_the_rules() -> None:
    config = yaml.safe_load((MONITORING / "prometheus.yml").read_text(encoding="utf-8"))
    assert "alerts.yml" in config["rule_files"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {"ecogate-cloud", "ecogate-gate"}


_SELECTOR = re.compile(r"\b(ecogate_[a-z_]+)\{([^}]*)\}")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without)\s*\(([^)]*)\)")
#: Labels Prometheus adds to every scraped series, and the bucket label of histograms.
_TARGET_LABELS = {"instance", "job", "le"}


def _label_names() -> dict[str, set[str]]:
    """Each metric's own label names (from the metric objects of both registries' modules)."""
    from prometheus_client.metrics import MetricWrapperBase  # noqa: PLC0415

    names: dict[str, set[str]] = {}
    for module in (cloud_metrics, gate_metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                names[value._name] = set(value._labelnames)
    return names


def test_every_label_the_rules_and_the_dashboard_use_exists() -> None:
    labels = _label_names()
    exprs = [str(rule["expr"]) for rule in _rules()]
    dashboard = json.loads((MONITORING / "grafana-ecogate.json").read_text(encoding="utf-8"))
    exprs += [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    for expr in exprs:
        for name, matchers in _SELECTOR.findall(expr):
            used = set(_MATCHER.findall(matchers))
            assert used <= labels[_base(name)] | _TARGET_LABELS, (expr, used - labels[_base(name)])
        available = set().union(*(labels.get(_base(n), set()) for n in _NAME.findall(expr))) | _TARGET_LABELS
        for group in _GROUPING.findall(expr):
            used = {g.strip() for g in group.split(",") if g.strip()}
            assert used <= available, (expr, used - available)
    # the annotations name labels the alert's expression keeps
    for rule in _rules():
        text = json.dumps(rule["annotations"], ensure_ascii=False)
        for label in re.findall(r"\$labels\.(\w+)", text):
            expr = str(rule["expr"])
            names = set().union(*(labels.get(_base(n), set()) for n in _NAME.findall(expr))) | _TARGET_LABELS
            assert label in names, (rule["alert"], label)
