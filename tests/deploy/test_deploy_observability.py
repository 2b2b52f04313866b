"""Prometheus config and rules, Grafana provisioning and dashboards: they only use metric
names the platform declares (the kit's supplychain_kit.metrics and each service's own
`metrics` module), and promtool accepts them."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from invoicing import metrics as invoicing_metrics
from monitoring import metrics as monitoring_metrics
from order_intake import metrics as order_intake_metrics
from prometheus_client.metrics import MetricWrapperBase
from supplychain_kit import metrics
from support import panel_queries
from support.deploy import DEPLOY, load_yaml

PROMETHEUS = DEPLOY / "compose/prometheus"
GRAFANA = DEPLOY / "compose/grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_count", "_sum", "_created"),
    "summary": ("", "_count", "_sum", "_created"),
}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or"}
PROMQL_WORDS |= {"unless", "offset", "inf", "nan", "atan2"}
# Grafana's variables, replaced by what they stand for when promtool parses a panel query.
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}
# Where metrics are declared: the platform's own in the kit, the rest by the service emitting them.
METRIC_MODULES = (metrics, order_intake_metrics, invoicing_metrics, monitoring_metrics)


def exported_series() -> set[str]:
    """Every series name the platform's prometheus_client metrics expose."""
    names: set[str] = set()
    for module in METRIC_MODULES:
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                (family,) = value.describe()
                names |= {family.name + suffix for suffix in SUFFIXES[family.type]}
    return names


def metric_names(expr: str) -> set[str]:
    """Metric names referenced by a PromQL expression (selectors, not functions or labels)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    text = re.sub(r"\$\w+", " ", text)
    found = re.findall(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()", text)
    return {name for name in found if name.lower() not in PROMQL_WORDS}


def test_metric_name_parser() -> None:
    expr = (
        'histogram_quantile(0.95, sum by (stage, le) (rate(a_bucket{x=~"$v", le="1"}[$__rate_interval])))'
        " / on(stage) group_left b:rec:ratio offset 5m > bool 1e3 and c"
    )
    assert metric_names(expr) == {"a_bucket", "b:rec:ratio", "c"}


def rules() -> list[dict[str, Any]]:
    return [
        rule for group in load_yaml(PROMETHEUS / "alerts.yml")["groups"] for rule in group["rules"]
    ]


def recorded() -> set[str]:
    return {rule["record"] for rule in rules() if "record" in rule}


def test_each_metric_is_declared_by_its_owner() -> None:
    series = exported_series()
    for name in (
        "supplychain_handoff_duration_seconds_bucket",
        "supplychain_sla_breaches_total",
        "supplychain_sla_warnings_total",
        "supplychain_orders_placed_total",
        "supplychain_invoiced_amount_total",
        "supplychain_outbox_pending",
    ):
        assert name in series
    owners = {
        order_intake_metrics: "supplychain_orders_placed",
        invoicing_metrics: "supplychain_invoiced_amount",
        monitoring_metrics: "supplychain_sla_breaches",
        metrics: "supplychain_consumer_messages",
    }
    for module, name in owners.items():
        declared = [v for v in vars(module).values() if isinstance(v, MetricWrapperBase)]
        assert name in {family.name for v in declared for family in v.describe()}
    # a service's metric is not the kit's any more
    kit = {
        family.name
        for v in vars(metrics).values()
        if isinstance(v, MetricWrapperBase)
        for family in v.describe()
    }
    assert not kit & {
        "supplychain_orders_placed",
        "supplychain_sla_breaches",
        "supplychain_invoiced_amount",
    }


def test_alert_rules_use_only_declared_metrics() -> None:
    allowed = exported_series() | recorded() | {"up"}  # `up` is Prometheus' own
    assert len(recorded()) >= 7
    for rule in rules():
        unknown = metric_names(rule["expr"]) - allowed
        assert not unknown, f"{rule.get('alert') or rule.get('record')}: {unknown}"
    alerts = {rule["alert"]: rule for rule in rules() if "alert" in rule}
    assert {"SupplierOnTimeBudgetBurnFast", "SupplierOnTimeBudgetBurnSlow"} <= set(alerts)
    # multiwindow: each burn-rate alert pairs a long and a short window
    for name in ("SupplierOnTimeBudgetBurnFast", "SupplierOnTimeBudgetBurnSlow"):
        windows = re.findall(r"ratio_rate(\w+)", alerts[name]["expr"])
        assert len(windows) == 4, windows
        assert len(set(windows)) == 4, windows


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.stem)
def test_dashboard_queries_use_only_declared_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    allowed = exported_series() | recorded()
    queries = panel_queries(dashboard)
    assert len(queries) >= 8
    for where, expr in queries:
        names = metric_names(expr)
        assert names, f"{path.name} {where}: no metric in {expr}"
        assert names <= allowed, f"{path.name} {where}: unknown {names - allowed}"


def test_three_dashboards_cover_handoffs_sla_and_service_health() -> None:
    used: dict[str, set[str]] = {}
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        assert dashboard["uid"] == path.stem
        used[path.stem] = set().union(*(metric_names(e) for _, e in panel_queries(dashboard)))
    assert set(used) == {"supplychain-handoffs", "supplychain-sla", "supplychain-service-health"}
    assert "supplychain_handoff_duration_seconds_bucket" in used["supplychain-handoffs"]
    assert {"supplychain_sla_breaches_total", "supplychain_sla_warnings_total"} <= used[
        "supplychain-sla"
    ]
    assert {"supplychain_consumer_lag_records", "supplychain_outbox_pending"} <= used[
        "supplychain-service-health"
    ]


def test_grafana_provisioning_points_at_the_dashboards_and_prometheus() -> None:
    datasources = load_yaml(GRAFANA / "provisioning/datasources/datasources.yml")["datasources"]
    uids = {d["uid"]: d for d in datasources}
    assert uids["prometheus"]["url"] == "http://prometheus:9090"
    provider = load_yaml(GRAFANA / "provisioning/dashboards/dashboards.yml")["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    for path in DASHBOARDS:
        text = path.read_text(encoding="utf-8")
        for uid in re.findall(r'"uid": "([^"]+)"', text):
            assert uid in uids or uid == path.stem, f"{path.name}: unknown datasource {uid}"


def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool not installed (Debian package `prometheus`: make promtool)")
    return found


def run_promtool(*args: str, cwd: Path) -> None:
    result = subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_checks_the_rules() -> None:
    run_promtool("check", "rules", "alerts.yml", cwd=PROMETHEUS)


def test_promtool_unit_tests_of_the_alerts() -> None:
    run_promtool("test", "rules", "alerts.test.yml", cwd=PROMETHEUS)


def test_promtool_checks_the_config(tmp_path: Path) -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]  # where compose mounts it
    config["rule_files"] = [str(PROMETHEUS / "alerts.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    run_promtool("check", "config", "prometheus.yml", cwd=tmp_path)


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    records = []
    for path in DASHBOARDS:
        for index, (_, expr) in enumerate(
            panel_queries(json.loads(path.read_text(encoding="utf-8")))
        ):
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            expr = re.sub(r"\$\w+", ".*", expr)
            records.append(
                {"record": f"dashboard:{path.stem.replace('-', '_')}:{index}", "expr": expr}
            )
    assert records
    rules_file = tmp_path / "dashboards.rules.yml"
    rules_file.write_text(
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": records}]}), encoding="utf-8"
    )
    run_promtool("check", "rules", rules_file.name, cwd=tmp_path)


# Histograms whose observations carry the trace id as an exemplar (monitoring's handoffs).
EXEMPLAR_SERIES = {"supplychain_handoff_duration_seconds_bucket"}
ALERTMANAGER = DEPLOY / "compose/alertmanager"


def test_latency_panels_show_the_exemplars() -> None:
    shown = 0
    for path in DASHBOARDS:
        panels = list(json.loads(path.read_text(encoding="utf-8"))["panels"])
        while panels:
            panel = panels.pop()
            panels.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                if metric_names(target["expr"]) & EXEMPLAR_SERIES:
                    assert target.get("exemplar") is True, f"{path.name}: {panel['title']}"
                    shown += 1
    assert shown >= 3


def test_grafana_links_an_exemplar_to_its_trace_in_jaeger() -> None:
    datasources = load_yaml(GRAFANA / "provisioning/datasources/datasources.yml")["datasources"]
    by_uid = {d["uid"]: d for d in datasources}
    (link,) = by_uid["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    # the label monitoring gives its exemplars (checked on a real Prometheus in
    # tests/observability), opened in the Jaeger data source
    assert link == {"name": "trace_id", "datasourceUid": "jaeger"}
    assert by_uid["jaeger"]["type"] == "jaeger"
    assert by_uid["alertmanager"]["url"] == "http://alertmanager:9093"


def test_prometheus_sends_its_alerts_to_the_alertmanager() -> None:
    config = load_yaml(PROMETHEUS / "prometheus.yml")
    (alertmanagers,) = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"] == [{"targets": ["alertmanager:9093"]}]


def amtool() -> str:
    found = shutil.which("amtool")
    if not found:
        pytest.skip(
            "amtool not installed (Debian package `prometheus-alertmanager`: make promtool)"
        )
    return found


def run_amtool(*args: str) -> str:
    result = subprocess.run(
        [amtool(), *args], cwd=ALERTMANAGER, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_amtool_checks_the_alertmanager_config() -> None:
    assert "SUCCESS" in run_amtool("check-config", "alertmanager.yml")


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    """An Alertmanager matcher (`name="value"`, `name=~"regex"`) against labels."""
    found = re.fullmatch(r'(\w+)(=~|!=|=)"(.*)"', matcher)
    assert found, matcher
    name, op, value = found.groups()
    actual = labels.get(name, "")
    if op == "=~":
        return re.fullmatch(value, actual) is not None
    return (actual == value) == (op == "=")


def test_every_alert_has_a_route_to_the_webhook_receiver() -> None:
    """Each alert of the rules meets a route made for its severity (not only the fallback),
    and Alertmanager itself (amtool) sends it to the webhook receiver."""
    config = load_yaml(ALERTMANAGER / "alertmanager.yml")
    receivers = {r["name"]: r for r in config["receivers"]}
    alerts = [rule for rule in rules() if "alert" in rule]
    assert {rule["labels"]["severity"] for rule in alerts} == {"page", "ticket", "warning"}
    for rule in alerts:
        labels = {"alertname": rule["alert"], **rule["labels"]}
        route = next(
            (
                r
                for r in config["route"]["routes"]
                if all(_matches(m, labels) for m in r["matchers"])
            ),
            None,
        )
        assert route is not None, f"{rule['alert']}: no route for its severity"
        assert receivers[route["receiver"]]["webhook_configs"], route
        routed = run_amtool(
            "config",
            "routes",
            "test",
            "--config.file=alertmanager.yml",
            *(f"{k}={v}" for k, v in labels.items()),
        )
        assert routed.split() == [route["receiver"]], (rule["alert"], routed)
    pages = next(
        r for r in config["route"]["routes"] if _matches(r["matchers"][0], {"severity": "page"})
    )
    assert pages["group_wait"] == "0s"  # a page goes out at once
