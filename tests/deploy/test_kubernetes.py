"""deploy/kubernetes: the overlays rendered by real kustomize (`kubectl kustomize`, or `kustomize build`),
every manifest validated against the Kubernetes schemas (kubernetes-validate, offline, strict: unknown fields
fail), the ServiceMonitor (a CRD that those schemas do not know) against our schema of the fields it uses, and
the wiring checked: commands parse with the real CLI, probes hit /ready and /health on a declared port,
selectors match, the HPA and the ServiceMonitor point at what exists, secrets hold the database URL and key."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from _deploycheck import DEPLOY, REPO, parse_mainsail, settings_read_by_code

K8S = DEPLOY / "kubernetes"
OVERLAYS = ("staging", "production")
#: the fields of monitoring.coreos.com/v1 ServiceMonitor we use, as the operator's CRD types them
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                                    "namespace": {"type": "string"},
                                    "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
        "spec": {
            "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
            "properties": {
                "selector": {"type": "object", "additionalProperties": False, "properties": {
                    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
                    "matchExpressions": {"type": "array"}}},
                "namespaceSelector": {"type": "object"},
                "endpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False,
                    "properties": {"port": {"type": "string"}, "targetPort": {"type": ["string", "integer"]},
                                   "path": {"type": "string", "pattern": "^/"},
                                   "interval": {"type": "string", "pattern": "^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?)$"},
                                   "scrapeTimeout": {"type": "string"}, "scheme": {"enum": ["http", "https"]}}}},
            },
        },
    },
}


def kustomize(path: Path) -> list[dict[str, Any]]:
    """Render ``path`` with the real kustomize (kubectl's built-in one, or a standalone binary)."""
    if shutil.which("kubectl"):
        cmd = ["kubectl", "kustomize", str(path)]
    elif shutil.which("kustomize"):
        cmd = ["kustomize", "build", str(path)]
    else:
        pytest.skip("neither kubectl nor kustomize is installed: overlays cannot be rendered here")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def base_documents() -> list[dict[str, Any]]:
    """The base's manifests as written (validated even where no kustomize is installed)."""
    files = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]
    return [d for f in files for d in yaml.safe_load_all((K8S / "base" / f).read_text()) if d]


def _validate(doc: dict[str, Any]) -> None:
    import kubernetes_validate

    if doc["kind"] == "ServiceMonitor":  # a CRD: kubernetes-validate has only the built-in kinds' schemas
        jsonschema.validate(doc, SERVICE_MONITOR_SCHEMA)
        return
    for version in ("1.29.0", kubernetes_validate.latest_version()):
        kubernetes_validate.validate(doc, version, strict=True)


def test_base_manifests_match_the_kubernetes_schemas() -> None:
    docs = base_documents()
    assert {d["kind"] for d in docs} >= {"Deployment", "Service", "HorizontalPodAutoscaler", "CronJob",
                                          "ServiceMonitor", "Secret", "ConfigMap"}
    for doc in docs:
        _validate(doc)


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, kustomize(K8S / "overlays" / request.param)


def _by(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_overlay_manifests_match_the_kubernetes_schemas(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    for doc in docs:
        _validate(doc)
        assert doc["metadata"]["namespace"] == ("mainsail" if overlay == "production" else "mainsail-staging")
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == overlay


def _pod_specs(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    specs = {n: d["spec"]["template"]["spec"] for n, d in _by(docs, "Deployment").items()}
    specs |= {n: d["spec"]["jobTemplate"]["spec"]["template"]["spec"] for n, d in _by(docs, "CronJob").items()}
    return specs


def test_every_process_runs_a_real_mainsail_command(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    config = _by(docs, "ConfigMap")["mainsail-config"]["data"]
    commands = {}
    for name, spec in _pod_specs(docs).items():
        for c in spec.get("initContainers", []) + spec["containers"]:
            images = c["image"]
            assert images.startswith("ghcr.io/example/mainsail:"), images  # the overlay's image, not the base name
            args = [a.replace("$(MAINSAIL_DEPLOYMENT)", config["MAINSAIL_DEPLOYMENT"]) for a in c["args"]]
            commands[f"{name}/{c['name']}"] = parse_mainsail(args)
    assert commands == {"mainsail-server/migrate": ["db", "upgrade"], "mainsail-server/server": ["server"],
                        "mainsail-worker/worker": ["worker"], "mainsail-serve/serve": ["serve"],
                        "mainsail-retrain/retrain": ["pipelines", "run"]}
    known = settings_read_by_code() | {"MAINSAIL_DEPLOYMENT", "MAINSAIL_SECRET_KEY"}  # read by the serve args; auth
    assert not {k for k in config if k.startswith("MAINSAIL_")} - known


def test_pods_run_as_the_images_non_root_user(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    uid = next(line.split()[1].split(":")[0] for line in (REPO / "Dockerfile").read_text().splitlines()
               if line.startswith("USER "))
    for name, spec in _pod_specs(docs).items():
        assert spec["securityContext"]["runAsNonRoot"] is True and str(spec["securityContext"]["runAsUser"]) == uid
        for c in spec.get("initContainers", []) + spec["containers"]:
            assert c["securityContext"]["allowPrivilegeEscalation"] is False, f"{name}/{c['name']}"
            assert c["securityContext"]["readOnlyRootFilesystem"] is True
            mounts = {m["mountPath"] for m in c["volumeMounts"]}
            assert {"/data", "/tmp"} <= mounts  # MAINSAIL_HOME and temp files stay writable


def test_http_processes_have_probes_on_their_port(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    _, docs = rendered
    specs = _pod_specs(docs)
    for name in ("mainsail-server", "mainsail-serve"):
        c = specs[name]["containers"][0]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert str(ports["http"]) == c["args"][c["args"].index("--port") + 1]
        assert c["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert c["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    w = specs["mainsail-worker"]["containers"][0]  # the worker's own small health endpoint
    ports = {p["name"]: p["containerPort"] for p in w["ports"]}
    assert str(ports["health"]) == w["args"][w["args"].index("--health-port") + 1]
    assert w["args"][w["args"].index("--health-host") + 1] == "0.0.0.0"
    assert w["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "health"}
    assert w["livenessProbe"]["httpGet"] == {"path": "/health", "port": "health"}


def test_services_hpa_and_servicemonitor_point_at_what_exists(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    deployments, services = _by(docs, "Deployment"), _by(docs, "Service")
    for name, svc in services.items():
        pods = [d for d in deployments.values()
                if svc["spec"]["selector"].items() <= d["spec"]["template"]["metadata"]["labels"].items()]
        assert len(pods) == 1, f"service {name} selects {len(pods)} deployments"
        assert all(p["targetPort"] in {q["name"] for q in pods[0]["spec"]["template"]["spec"]["containers"][0]["ports"]}
                   for p in svc["spec"]["ports"])
    hpa = _by(docs, "HorizontalPodAutoscaler")["mainsail-serve"]["spec"]
    assert hpa["scaleTargetRef"]["name"] in deployments and hpa["minReplicas"] <= hpa["maxReplicas"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == ((3, 20) if overlay == "production" else (2, 4))
    monitor = _by(docs, "ServiceMonitor")["mainsail"]["spec"]
    scraped = [s for s in services.values()
               if monitor["selector"]["matchLabels"].items() <= s["metadata"]["labels"].items()]
    assert {s["metadata"]["name"] for s in scraped} == {"mainsail-server", "mainsail-serve"}
    for s in scraped:
        assert monitor["endpoints"][0]["port"] in {p["name"] for p in s["spec"]["ports"]}
    from croniter import croniter

    assert croniter.is_valid(_by(docs, "CronJob")["mainsail-retrain"]["spec"]["schedule"])


def test_secrets_hold_the_database_url_and_the_encryption_key(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    overlay, docs = rendered
    for spec in _pod_specs(docs).values():
        for c in spec["containers"]:
            assert {"secretRef": {"name": "mainsail-secrets"}} in c["envFrom"]
    secrets = _by(docs, "Secret")
    if overlay == "production":  # never rendered: it comes from the cluster's secret manager
        assert not secrets
        base = next(d for d in base_documents() if d["kind"] == "Secret")
        assert {"MAINSAIL_URI", "MAINSAIL_SECRET_KEY"} <= set(base["stringData"])
        return
    data = secrets["mainsail-secrets"]["stringData"]
    assert data["MAINSAIL_URI"].startswith("postgresql+psycopg://") and "mainsail-staging" in data["MAINSAIL_URI"]
    assert data["MAINSAIL_SECRET_KEY"] and data["AWS_SECRET_ACCESS_KEY"]
