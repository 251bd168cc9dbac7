"""The dashboard, the autoscaler, the exporter manifest and docs/operations.md name only metrics we export."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from channellayer import get_channel_layer
from channellayer.__main__ import build_parser
from channellayer.status import StatusCollector
from interfaceserver.metrics import Metrics
from worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "channels-classic.json"
MONITORING = ROOT / "deploy" / "kubernetes" / "monitoring"


def exported() -> set[str]:
    """Every sample name our three exporters produce (counters with _total, histograms with their parts)."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}
    names = set()
    for registry in (Metrics().registry, WorkerMetrics().registry):
        # From the families, so labelled metrics that have no series yet count too.
        names |= {family.name + suffix for family in registry.collect() for suffix in suffixes[family.type]}
    layer = get_channel_layer("memory", {})
    names |= {sample.name for family in StatusCollector(layer).collect() for sample in family.samples}
    return names


def named_in(text: str) -> set[str]:
    return set(re.findall(r"\bchannels_(?:interface|worker|channel|workers|interface_servers)_?[a-z_]*\b", text))


def test_dashboard_queries_only_exported_metrics():
    """Every channels_* series a Grafana panel queries is one of ours, and every panel has a unique id."""
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]
    used = set().union(*(named_in(expr) for expr in exprs))
    assert used and used <= exported(), used - exported()
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    # Each family shows up on the dashboard (histograms through their _bucket/_sum series).
    families = {re.sub(r"_(total|bucket|sum|count)$", "", name) for name in used}
    assert {
        "channels_interface_refusals",
        "channels_interface_response_start_seconds",
        "channels_channel_depth",
        "channels_worker_consume_seconds",
        "channels_worker_consumer_exceptions",
    } <= families


def test_autoscaler_uses_the_exported_depth_gauge():
    """The worker HPAs scale on channels_channel_depth, which the status exporter serves."""
    docs = [doc for doc in yaml.safe_load_all((ROOT / "deploy" / "kubernetes" / "autoscaling.yaml").read_text()) if doc]
    names = {metric["external"]["metric"]["name"] for doc in docs for metric in doc["spec"]["metrics"]}
    assert names == {"channels_channel_depth"} and names <= exported()


def test_exporter_manifest_is_valid_and_its_command_parses():
    """deploy/kubernetes/monitoring validates strictly, and its command is one python -m channellayer accepts."""
    import kubernetes_validate

    kustomization = yaml.safe_load((MONITORING / "kustomization.yaml").read_text())
    assert kustomization["resources"] == ["status-exporter.yaml"]
    (deployment,) = [doc for doc in yaml.safe_load_all((MONITORING / "status-exporter.yaml").read_text()) if doc]
    kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[:3] == ["python", "-m", "channellayer"]
    options = build_parser().parse_args(command[3:])
    assert options.metrics_port == int(container["ports"][0]["containerPort"]) and options.metrics_bind == "0.0.0.0"
    config = json.loads(options.layer_config.replace("$(REDIS_URL)", "redis://redis:6379/0"))
    assert config == {"hosts": ["redis://redis:6379/0"]}


def test_operations_doc_explains_every_metric():
    """docs/operations.md has a row for every metric family we export."""
    doc = (ROOT / "docs" / "operations.md").read_text()
    families = {re.sub(r"_(total|bucket|sum|count|created)$", "", name) for name in exported()}
    missing = {family for family in families if f"`{family}" not in doc}
    assert not missing, missing
