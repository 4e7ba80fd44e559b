"""The Dockerfile and deploy/compose.yml, checked without a Docker engine: the compose file against the
compose-spec schema (check-jsonschema's vendored copy) and against the package (every command parses with
the real CLI, every MAINSAIL_* setting is one the code reads), the Dockerfile by its instructions and by
building the wheel it installs."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from _deploycheck import DEPLOY, REPO, check_jsonschema, interpolate, parse_mainsail, settings_read_by_code

COMPOSE = DEPLOY / "compose.yml"
MAINSAIL_SERVICES = ("migrate", "server", "worker", "serve", "cli")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(interpolate(COMPOSE.read_text()))


def test_compose_matches_the_compose_spec_schema() -> None:
    proc = check_jsonschema("vendor.compose-spec", COMPOSE)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_runs_the_seeds_stack_with_mainsail(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {"postgres", "redis", "minio", "prometheus", "grafana", "server", "worker", "serve"} <= set(services)
    assert not {"mlflow", "airflow", "airflow-webserver", "model-server"} & set(services)
    assert services["serve"]["deploy"]["replicas"] >= 2 and services["worker"]["deploy"]["replicas"] >= 2
    for name in MAINSAIL_SERVICES:
        svc = services[name]
        assert svc["build"]["args"]["EXTRAS"] == "postgres,redis,s3"
        env = svc["environment"]
        assert env["MAINSAIL_URI"].startswith("postgresql+psycopg://") and "@postgres:5432/" in env["MAINSAIL_URI"]
        assert env["MAINSAIL_ARTIFACT_ROOT"].startswith("s3://") and env["MAINSAIL_S3_ENDPOINT_URL"] == "http://minio:9000"
        assert env["MAINSAIL_ONLINE_STORE"].startswith("redis://redis:6379/")
        assert env["MAINSAIL_SECRET_KEY"] == "<MAINSAIL_SECRET_KEY>"  # required: compose refuses to start without
    # no process keeps state on its own disk: the only named volumes belong to the backing services
    for name in MAINSAIL_SERVICES:
        assert not services[name].get("volumes"), name
    assert services["server"]["environment"]["MAINSAIL_PIPELINE_EXECUTOR"] == "0"  # tasks go to the workers


def test_compose_commands_parse_with_the_real_cli(compose: dict[str, Any]) -> None:
    paths = {name: parse_mainsail(compose["services"][name]["command"]) for name in MAINSAIL_SERVICES}
    assert paths == {"migrate": ["db", "upgrade"], "server": ["server"], "worker": ["worker"], "serve": ["serve"],
                     "cli": ["version"]}
    server = compose["services"]["server"]["command"]
    port = server[server.index("--port") + 1]
    assert compose["services"]["server"]["ports"] == [f"{port}:{port}"]
    serve = compose["services"]["serve"]["command"]
    assert serve[1] == "churn-api" and serve[serve.index("--port") + 1] == "8080"


def test_compose_settings_are_ones_the_code_reads(compose: dict[str, Any]) -> None:
    known = settings_read_by_code() | {"MAINSAIL_SECRET_KEY"}  # the encryption key is read by auth (issue 18)
    known |= set(re.findall(r"MAINSAIL_[A-Z0-9_]+", (REPO / "Dockerfile").read_text()))  # the healthcheck's port
    for name in MAINSAIL_SERVICES:
        unknown = {k for k in compose["services"][name]["environment"] if k.startswith("MAINSAIL_")} - known
        assert not unknown, f"{name}: settings no code reads: {unknown}"


def test_compose_references_resolve(compose: dict[str, Any]) -> None:
    services, volumes, configs = compose["services"], set(compose["volumes"]), set(compose["configs"])
    for name, svc in services.items():
        for dep in svc.get("depends_on") or {}:
            assert dep in services, f"{name} depends on unknown {dep}"
        for vol in svc.get("volumes") or []:
            source = vol.split(":", 1)[0]
            if source.startswith("."):
                assert source in ("./prometheus", "./grafana/mainsail.json"), source  # shipped with deploy/
            else:
                assert source in volumes, f"{name}: undefined volume {source}"
        for cfg in svc.get("configs") or []:
            assert cfg["source"] in configs
    assert services["grafana"]["volumes"][0].startswith("./grafana/mainsail.json:")
    dashboard = DEPLOY / "grafana" / "mainsail.json"
    if (DEPLOY / "grafana").exists():  # shipped by the monitoring work; provisioned from this path
        assert dashboard.is_file()


def test_compose_prometheus_scrapes_every_mainsail_http_process(compose: dict[str, Any]) -> None:
    prom = yaml.safe_load(compose["configs"]["prometheus"]["content"])
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["mainsail-server"]["static_configs"][0]["targets"] == ["server:8080"]
    assert jobs["mainsail-serve"]["dns_sd_configs"][0] == {"names": ["serve"], "type": "A", "port": 8080}
    grafana = yaml.safe_load(compose["configs"]["grafana-datasource"]["content"])
    assert grafana["datasources"][0]["url"] == "http://prometheus:9090"
    provider = yaml.safe_load(compose["configs"]["grafana-dashboards"]["content"])["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


# -- Dockerfile ---------------------------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as ``(INSTRUCTION, arguments)``, continuation lines joined."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for ins in dockerfile():
        if ins[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(ins)
    return stages


def test_dockerfile_final_stage_is_slim_non_root_with_a_healthcheck() -> None:
    final = _stages()[-1]
    assert re.fullmatch(r"python:\$\{PYTHON_VERSION\}-slim", final[0][1])
    assert ("ARG", "PYTHON_VERSION=3.11") in dockerfile()
    users = [a for i, a in final if i == "USER"]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    uid = users[-1].split(":")[0]
    assert any(i == "RUN" and f"--uid {uid}" in a for i, a in final), "the USER's uid is created"
    health = [a for i, a in final if i == "HEALTHCHECK"]
    assert len(health) == 1 and "/health" in health[0] and "CMD" in health[0]
    assert ("EXPOSE", "8080") in final


def test_dockerfile_extras_come_from_a_build_arg() -> None:
    build = _stages()[0]
    arg = next(a for i, a in build if i == "ARG" and a.startswith("EXTRAS="))
    extras = arg.split("=", 1)[1].split(",")
    declared = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert set(extras) <= set(declared)
    install = next(a for i, a in build if i == "RUN" and "pip install" in a)
    assert '"/src[${EXTRAS}]"' in install and "-e " not in install  # a real (non-editable) install


def test_dockerfile_runs_commands_that_exist() -> None:
    ins = dockerfile()
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    entry = yaml.safe_load(next(a for i, a in ins if i == "ENTRYPOINT"))
    assert entry == ["mainsail"] and "mainsail" in scripts
    cmd = yaml.safe_load(next(a for i, a in ins if i == "CMD"))
    assert parse_mainsail(cmd) == ["server"] and cmd[cmd.index("--host") + 1] == "0.0.0.0"
    health = next(a for i, a in ins if i == "HEALTHCHECK")
    probe = yaml.safe_load(health.split("CMD", 1)[1])
    assert probe[:2] == ["python", "-c"]
    compile(probe[2], "<healthcheck>", "exec")
    for i, a in ins:
        if i == "COPY" and not a.startswith("--from"):
            for src in shlex.split(a)[:-1]:
                assert (REPO / src).exists(), f"COPY {src}: not in the repository"
        if i == "RUN" and "/opt/mainsail/bin/mainsail" in a:
            assert parse_mainsail(a.split("/opt/mainsail/bin/mainsail", 1)[1].split("&&")[0].split()) == ["version"]


def test_the_wheel_the_image_installs_carries_migrations(tmp_path: Path) -> None:
    """The image installs the package non-editable: migrations and templates must be inside the wheel."""
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q",
                           "-w", str(tmp_path), str(REPO)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    wheel = next(tmp_path.glob("mainsail-*.whl"))
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.relative_to(REPO / "src").as_posix()
               for p in (REPO / "src" / "mainsail" / "migrations" / "versions").glob("*.py")}
    assert shipped and shipped <= names
    assert "mainsail/migrations/env.py" in names and "mainsail/migrations/script.py.mako" in names


def test_dockerignore_keeps_what_the_build_copies() -> None:
    ignored = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip()]
    for needed in ("src", "pyproject.toml", "README.md"):
        assert needed not in ignored


def test_docs_deploy_names_every_setting_the_deployment_files_set(compose: dict[str, Any]) -> None:
    page = (REPO / "docs" / "deploy.md").read_text()
    names = {k for svc in MAINSAIL_SERVICES for k in compose["services"][svc]["environment"] if k.startswith("MAINSAIL_")}
    config = yaml.safe_load((DEPLOY / "kubernetes" / "base" / "configmap.yaml").read_text())["data"]
    secret = yaml.safe_load((DEPLOY / "kubernetes" / "base" / "secret.yaml").read_text())["stringData"]
    names |= {k for k in [*config, *secret] if k.startswith("MAINSAIL_")}
    assert not {n for n in names if f"`{n}`" not in page}
