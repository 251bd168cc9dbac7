"""deploy/kubernetes/: every manifest valid against the Kubernetes JSON schemas, and consistent with itself.

No cluster runs here. The manifests are validated (strict: unknown fields fail) with the schemas that
the ``kubernetes-validate`` package ships, for the oldest and newest Kubernetes we target; the
cross-references a cluster would only reveal at run time (selectors, names, grace periods) are checked;
every container command is parsed by our own CLI parsers; the probes' /healthz is served by the real worker
and interface-server commands of the manifests, with their Redis up, down and back.
"""

from __future__ import annotations

import click
import kubernetes_validate
import pytest
import yaml

from tests.deploy.support import DEPLOY, ROOT, VENV_BIN

pytestmark = [pytest.mark.deploy]

K8S = DEPLOY / "kubernetes"
VERSIONS = ["1.29", kubernetes_validate.latest_version()]


def manifests() -> list[dict]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs.extend(doc for doc in yaml.safe_load_all(path.read_text()) if doc)
    return docs


def by_kind(kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


@pytest.mark.parametrize("version", VERSIONS)
def test_every_manifest_is_valid_against_the_schemas(version):
    """Each document validates strictly against the Kubernetes schemas of ``version``."""
    docs = manifests()
    assert {doc["kind"] for doc in docs} >= {
        "Deployment",
        "Service",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "ConfigMap",
        "Ingress",
    }
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise AssertionError(f"{doc['kind']} {doc['metadata']['name']}: {exc.message} at {list(exc.path)}") from exc


def test_a_broken_manifest_is_rejected():
    """The validator is not a rubber stamp: a misspelled field and a wrong type both fail."""
    deployment = dict(by_kind("Deployment")["chatsite-daphne"])
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {**deployment, "spec": {**deployment["spec"], "replica": 2}}, VERSIONS[-1], strict=True
        )
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {**deployment, "spec": {**deployment["spec"], "replicas": "two"}}, VERSIONS[-1], strict=True
        )


def test_kustomization_lists_every_manifest():
    """kubectl apply -k applies every file in the folder."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert sorted(kustomization["resources"]) == sorted(
        p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"
    )


def test_selectors_and_references_match():
    """Services, PDBs and HPAs select or target pods that exist; every configMapRef names the ConfigMap."""
    deployments = by_kind("Deployment")
    labels = {name: d["spec"]["template"]["metadata"]["labels"] for name, d in deployments.items()}
    for name, deployment in deployments.items():
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels[name].items(), name
        for ref in container(deployment).get("envFrom", []):
            assert ref["configMapRef"]["name"] in by_kind("ConfigMap"), name

    def selected(selector: dict) -> list[str]:
        return [name for name, pod in labels.items() if selector.items() <= pod.items()]

    for name, service in by_kind("Service").items():
        assert selected(service["spec"]["selector"]) == ["chatsite-daphne"], name
        port_names = {p["name"] for p in container(deployments["chatsite-daphne"])["ports"]}
        assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names
    for name, pdb in by_kind("PodDisruptionBudget").items():
        assert selected(pdb["spec"]["selector"]["matchLabels"]) == [name], name
    assert set(by_kind("PodDisruptionBudget")) == set(deployments)
    for name, hpa in by_kind("HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] in deployments and name.startswith("chatsite-worker-")
        for metric in hpa["spec"]["metrics"]:
            assert metric["type"] == "External" and metric["external"]["metric"]["name"] == "channels_channel_depth"
    for ingress in by_kind("Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for path in rule["http"]["paths"]:
                assert path["backend"]["service"]["name"] in by_kind("Service")


def _flag(command: list[str], name: str) -> float:
    return float(command[command.index(name) + 1])


def test_worker_grace_period_is_the_drain_timeout_plus_the_margin():
    """terminationGracePeriodSeconds = runworker --drain-timeout + margin, and the margin covers a blocking receive."""
    workers = {n: d for n, d in by_kind("Deployment").items() if n.startswith("chatsite-worker-")}
    assert set(workers) == {"chatsite-worker-default", "chatsite-worker-background"}
    for name, deployment in workers.items():
        grace = deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
        margin = float(deployment["metadata"]["annotations"]["channels-classic/drain-margin-seconds"])
        assert _flag(container(deployment)["command"], "--drain-timeout") == grace - margin, name
        assert margin >= 6, "an idle worker needs the layer's blocking timeout (5 s) to leave its receive"


def test_interface_server_grace_period_covers_prestop_and_drain():
    """The interface server's grace period outlasts its preStop sleep plus --drain-timeout."""
    deployment = by_kind("Deployment")["chatsite-daphne"]
    spec = deployment["spec"]["template"]["spec"]
    command = container(deployment)["command"]
    pre_stop = container(deployment)["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert spec["terminationGracePeriodSeconds"] > float(pre_stop[1]) + _flag(command, "--drain-timeout")


def test_pools_have_their_channel_filters():
    """The default pool excludes reports.*, the background pool serves only it; both are probed."""
    deployments = by_kind("Deployment")
    default = container(deployments["chatsite-worker-default"])
    background = container(deployments["chatsite-worker-background"])
    assert default["command"][3:5] == ["--exclude-channels", "reports.*"]
    assert background["command"][3:5] == ["--only-channels", "reports.*"]
    for deployment in deployments.values():
        assert {"readinessProbe", "livenessProbe"} <= set(container(deployment)), deployment["metadata"]["name"]


def test_container_commands_parse_with_our_clis():
    """Every container command is one our CLIs accept: daphne's click parser, runworker's argparse parser."""
    from interfaceserver.cli import main as daphne_main
    from worker.management.commands.runworker import Command

    for name, deployment in by_kind("Deployment").items():
        command = container(deployment)["command"]
        if command[0] == "daphne":
            ctx = daphne_main.make_context("daphne", command[1:])
            assert ctx.params["channel_layer"] == "chatsite.asgi:channel_layer", name
        else:
            assert command[:3] == ["python", "manage.py", "runworker"], name
            options = Command().create_parser("manage.py", "runworker").parse_args(command[3:])
            assert options.drain_timeout == 30.0, name
    with pytest.raises(click.NoSuchOption):
        daphne_main.make_context("daphne", ["--no-such-option", "x:y"])


def _healthz(port: int) -> int:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_probes_follow_the_channel_layer(own_redis, tmp_path):
    """The probes' /healthz (worker and interface server, as the manifests run them) is 200 with Redis up,
    503 while it is down, and 200 again when it is back, with nothing restarted."""
    import os
    import time

    from tests.support.processes import start_server

    deployments = by_kind("Deployment")
    worker = container(deployments["chatsite-worker-default"])
    server = container(deployments["chatsite-daphne"])
    for spec in (worker, server):
        probe = spec["readinessProbe"]["httpGet"]
        assert probe == {"path": "/healthz", "port": "metrics"}
        assert {
            "name": "metrics",
            "containerPort": int(spec["command"][spec["command"].index("--metrics-port") + 1]),
        } in spec["ports"]
    assert worker["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    redis = own_redis
    config = by_kind("ConfigMap")["chatsite-config"]["data"]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PYTEST")},
        **config,
        "REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "CHAT_RUN_DIR": str(tmp_path),
        "CHAT_SECRET_KEY": "probe-test",
        "PYTHONPATH": str(ROOT),
    }
    processes = []
    try:
        ports = []
        for name, spec in (("k8s-worker", worker), ("k8s-daphne", server)):

            def command_on(
                metrics_port: int, http_port: int | None = None, *, command: list[str] = spec["command"]
            ) -> list[str]:
                """The manifest's command on this try's ports (the metrics port, and daphne's -p)."""
                argv = list(command)
                argv[argv.index("--metrics-port") + 1] = str(metrics_port)
                argv[argv.index("--metrics-bind") + 1] = "127.0.0.1"
                if http_port is not None:
                    argv[argv.index("-p") + 1] = str(http_port)
                if "-b" in argv:
                    argv[argv.index("-b") + 1] = "127.0.0.1"
                argv[0] = str(VENV_BIN / argv[0])
                return argv

            process = start_server(
                name,
                command_on,
                ports=2 if "-p" in spec["command"] else 1,
                env=env,
                cwd=str(ROOT / "examples" / "chat"),
                timeout=60,
            )
            processes.append(process)
            ports.append(process.port)

        def statuses(want: int) -> list[int]:
            deadline = time.monotonic() + 20
            while True:
                got = [_healthz(port) for port in ports]
                if all(code == want for code in got) or time.monotonic() > deadline:
                    return got
                time.sleep(0.2)

        assert statuses(200) == [200, 200]
        redis.stop()
        assert statuses(503) == [503, 503]
        redis.start()
        assert statuses(200) == [200, 200]
        assert all(process.alive() for process in processes)
    finally:
        for process in processes:
            process.stop()
