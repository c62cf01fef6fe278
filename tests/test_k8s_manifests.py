"""The Kubernetes manifests in deploy/k8s/: a kustomize base and the `local` overlay.

Static checks only: no cluster, no kustomize binary, no network and no running service (these tests
use none of conftest's fixtures). The kustomizations are rendered here by the small subset of
kustomize they use (`resources`, `namespace`, `images`, `replicas` and JSON 6902 `patches` with a
`target`); a kustomization with any other field fails, so the subset cannot silently drift from
what `kubectl apply -k` does. Every rendered object is validated offline against the Kubernetes
OpenAPI schemas bundled in the `kubernetes-validate` package (strict: unknown fields fail), except
the CRDs listed in CRD_KINDS, which are checked structurally.
"""

import copy
import re
import shlex
import socket
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
LOCAL = K8S / "overlays" / "local"
KUSTOMIZATIONS = {"base": BASE, "local": LOCAL}
PROCFILE = ROOT / "Procfile"
DOCKERFILE = ROOT / "Dockerfile"
# The beats of the Procfile (`beat-orders: bin/beat orders`): one Deployment each.
BEATS = re.findall(r"(?m)^([\w-]+):\s*bin/beat\b", PROCFILE.read_text())

# The Kubernetes version whose schemas the objects must satisfy (kubernetes-validate bundles them).
K8S_VERSION = "1.33"
NAMESPACE = "food"
PORTS = {
    "auth": 4001,
    "catalog": 4002,
    "orders": 4003,
    "payments": 4004,
    "delivery": 4005,
    "gateway": 8000,
}
PUBLIC = "gateway"
SECRET_NAME = "food-secrets"
# Custom resources that are not in the Kubernetes schemas: checked structurally below instead.
CRD_KINDS = {"ScaledObject"}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
SENSITIVE = re.compile(r"SECRET|PASSWORD|KEY|DATABASE_URL")
NOT_SENSITIVE = {"JWT_JWKS_URL"}
SUPPORTED_FIELDS = {"apiVersion", "kind", "namespace", "resources", "images", "replicas", "patches"}


# --- the kustomize subset -----------------------------------------------------------------------


def _load_yaml_documents(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def _pod_templates(obj: dict):
    if obj["kind"] in POD_TEMPLATE_KINDS:
        yield obj["spec"]["template"]["spec"]
    elif obj["kind"] == "CronJob":
        yield obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]


def _containers(obj: dict):
    for pod in _pod_templates(obj):
        yield from pod.get("initContainers", [])
        yield from pod["containers"]


def _image_name(image: str) -> str:
    """`registry:5000/name:tag@sha256:...` -> `registry:5000/name`, as kustomize matches images."""
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        image = image[: image.rindex(":")]
    return image


def _apply_images(objs: list[dict], images: list[dict]) -> None:
    for entry in images:
        for obj in objs:
            for container in _containers(obj):
                if _image_name(container["image"]) != entry["name"]:
                    continue
                name = entry.get("newName", entry["name"])
                if "digest" in entry:
                    container["image"] = f"{name}@{entry['digest']}"
                else:
                    old = container["image"][len(entry["name"]) :]
                    tag = f":{entry['newTag']}" if "newTag" in entry else old
                    container["image"] = name + tag


def _apply_replicas(objs: list[dict], replicas: list[dict]) -> None:
    for entry in replicas:
        matched = [
            o
            for o in objs
            if o["metadata"]["name"] == entry["name"]
            and o["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"}
        ]
        assert matched, f"replicas: no workload named {entry['name']}"
        for obj in matched:
            obj["spec"]["replicas"] = entry["count"]


def _labels_match(obj: dict, selector: str) -> bool:
    labels = obj["metadata"].get("labels", {})
    for term in selector.split(","):
        key, sep, value = term.partition("=")
        assert sep and "!" not in key, f"only key=value label selectors are supported: {selector}"
        if labels.get(key.strip()) != value.strip():
            return False
    return True


def _target_matches(obj: dict, target: dict) -> bool:
    unsupported = set(target) - {"kind", "name", "namespace", "labelSelector", "group", "version"}
    assert not unsupported, f"patch target fields not supported here: {unsupported}"
    group, _, version = obj["apiVersion"].rpartition("/")
    checks = [
        ("kind", obj["kind"]),
        ("name", obj["metadata"]["name"]),
        ("namespace", obj["metadata"].get("namespace", "")),
        ("group", group),
        ("version", version),
    ]
    for field, actual in checks:
        if field in target and not re.fullmatch(target[field], actual):
            return False
    return "labelSelector" not in target or _labels_match(obj, target["labelSelector"])


def _pointer(path: str) -> list[str]:
    assert path.startswith("/"), path
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _json_patch(doc: dict, operations: list[dict]) -> None:
    for op in operations:
        *parents, last = _pointer(op["path"])
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        kind = op["op"]
        if isinstance(node, list):
            index = len(node) if last == "-" else int(last)
            if kind == "add":
                node.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                node[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[index]
            else:
                raise AssertionError(f"JSON patch op not supported here: {kind}")
        else:
            if kind in {"replace", "remove"}:
                assert last in node, f"{kind} {op['path']}: no such field"
            if kind in {"add", "replace"}:
                node[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del node[last]
            else:
                raise AssertionError(f"JSON patch op not supported here: {kind}")


def _apply_patches(objs: list[dict], patches: list[dict], where: Path) -> None:
    for entry in patches:
        assert set(entry) <= {"target", "patch", "path"}, entry
        text = entry["patch"] if "patch" in entry else (where / entry["path"]).read_text()
        operations = yaml.safe_load(text)
        assert isinstance(operations, list), "only JSON 6902 patches (a list of ops) are supported"
        targets = [o for o in objs if _target_matches(o, entry["target"])]
        assert targets, f"patch matches no object: {entry['target']}"
        for obj in targets:
            _json_patch(obj, operations)


def render(directory: Path) -> list[dict]:
    """What `kustomize build directory` gives, for the subset of kustomize used in deploy/k8s."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    assert not unsupported, f"{directory}: kustomization fields not rendered here: {unsupported}"
    objs: list[dict] = []
    for resource in kustomization.get("resources", []):
        path = (directory / resource).resolve()
        objs += render(path) if path.is_dir() else _load_yaml_documents(path)
    _apply_patches(objs, kustomization.get("patches", []), directory)
    if "namespace" in kustomization:
        for obj in objs:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = kustomization["namespace"]
    _apply_images(objs, kustomization.get("images", []))
    _apply_replicas(objs, kustomization.get("replicas", []))
    keys = [(o["apiVersion"], o["kind"], o["metadata"]["name"]) for o in objs]
    assert len(keys) == len(set(keys)), f"{directory}: duplicate objects"
    return objs


@pytest.fixture(scope="module", params=sorted(KUSTOMIZATIONS))
def rendered(request) -> list[dict]:
    return render(KUSTOMIZATIONS[request.param])


@pytest.fixture(scope="module")
def local() -> list[dict]:
    return render(LOCAL)


def of_kind(objs: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def _pod_specs(objs):
    for obj in objs:
        for pod in _pod_templates(obj):
            yield obj, pod


# --- the renderer itself --------------------------------------------------------------------------


def test_renderer_applies_the_overlay(local):
    """The overlay's images, replicas and patches reach the rendered objects."""
    deployments = of_kind(local, "Deployment")
    assert deployments["gateway"]["spec"]["replicas"] == 1
    images = {c["image"] for o in local for c in _containers(o)}
    assert images == {"food-backend:local"}
    assert of_kind(local, "Ingress")["gateway"]["spec"]["rules"][0]["host"] == "food.localhost"
    for name, hpa in of_kind(local, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["minReplicas"] == 1, name
    resources = deployments["worker-orders"]["spec"]["template"]["spec"]["containers"][0]
    assert resources["resources"]["limits"]["memory"] == "384Mi"
    # ... and leave the base untouched.
    base = render(BASE)
    assert {c["image"] for o in base for c in _containers(o)} == {"food-backend:latest"}
    assert of_kind(base, "Deployment")["gateway"]["spec"]["replicas"] == 2


def test_json_patch_subset():
    doc = {"a": {"b": [1, 2]}, "c": 1}
    _json_patch(
        doc,
        [
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "replace", "path": "/c", "value": 2},
            {"op": "remove", "path": "/a/b/0"},
            {"op": "add", "path": "/d~1e", "value": {"x": 1}},
        ],
    )
    assert doc == {"a": {"b": [2, 3]}, "c": 2, "d/e": {"x": 1}}
    with pytest.raises(AssertionError):
        _json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])


def test_image_names():
    assert _image_name("food-backend:latest") == "food-backend"
    assert _image_name("registry:5000/food-backend:1.2@sha256:ab") == "registry:5000/food-backend"
    assert _image_name("registry:5000/food-backend") == "registry:5000/food-backend"


# --- schemas ------------------------------------------------------------------------------------


@pytest.fixture
def no_network(monkeypatch):
    """Validation must work offline: any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access during validation")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_every_object_validates_against_the_kubernetes_schemas(rendered, no_network):
    errors = []
    validated = set()
    for obj in rendered:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(str(p) for p in exc.caught.absolute_path)
            errors.append(
                f"{obj['kind']}/{obj['metadata']['name']} at {path}: {exc.caught.message}"
            )
        validated.add(obj["kind"])
    assert not errors, "\n".join(errors)
    expected = {
        "Namespace",
        "ConfigMap",
        "Deployment",
        "Service",
        "Job",
        "PodDisruptionBudget",
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
    }
    assert expected <= validated


def test_validation_rejects_a_broken_object(no_network):
    """The schemas are really applied (strict: an unknown field fails too)."""
    deployment = copy.deepcopy(of_kind(render(BASE), "Deployment")["auth"])
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    del deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"]
    deployment["spec"]["replicas"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_only_known_crds_are_skipped(rendered):
    kinds = {o["kind"] for o in rendered}
    assert kinds & CRD_KINDS == {"ScaledObject"}
    for obj in rendered:
        if obj["kind"] in CRD_KINDS:
            assert obj["apiVersion"] == "keda.sh/v1alpha1"


def test_keda_scaled_object(rendered):
    """worker-notifications scales on the length of the Celery "notifications" list (KEDA)."""
    (scaled,) = of_kind(rendered, "ScaledObject").values()
    assert set(scaled) == {"apiVersion", "kind", "metadata", "spec"}
    spec = scaled["spec"]
    allowed = {
        "scaleTargetRef",
        "minReplicaCount",
        "maxReplicaCount",
        "pollingInterval",
        "cooldownPeriod",
        "triggers",
        "advanced",
        "fallback",
        "idleReplicaCount",
    }
    assert set(spec) <= allowed
    assert spec["scaleTargetRef"]["name"] == "worker-notifications"
    assert spec["scaleTargetRef"]["name"] in of_kind(rendered, "Deployment")
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "redis"
    meta = trigger["metadata"]
    assert all(isinstance(v, str) for v in meta.values()), "trigger metadata values are strings"
    assert meta["listName"] == "notifications"
    assert meta["listLength"] == "20"
    # The broker: CELERY_BROKER_URL redis://redis:6379/0, by its fully qualified name.
    broker = of_kind(rendered, "ConfigMap")["food-config"]["data"]["CELERY_BROKER_URL"]
    assert broker == "redis://redis:6379/0"
    assert meta["address"] == f"redis.{NAMESPACE}.svc.cluster.local:6379"
    assert meta["databaseIndex"] == "0"
    # KEDA owns this worker's HPA: no second HPA for it.
    assert "worker-notifications" not in {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(rendered, "HorizontalPodAutoscaler").values()
    }


# --- workloads ----------------------------------------------------------------------------------


def test_every_container_has_probes_and_resources(rendered):
    for obj in rendered:
        if obj["kind"] != "Deployment":
            continue
        name = obj["metadata"]["name"]
        pod = obj["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        assert pod.get("automountServiceAccountToken") is False, name
        for container in pod["containers"]:
            where = f"{name}/{container['name']}"
            assert container.get("livenessProbe"), f"{where}: no liveness probe"
            assert container.get("readinessProbe"), f"{where}: no readiness probe"
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(part, {})), f"{where}: {part}"
            security = container["securityContext"]
            assert security["runAsNonRoot"] is True, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["readOnlyRootFilesystem"] is True, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            mounts = {m["mountPath"] for m in container["volumeMounts"]}
            assert "/tmp" in mounts, f"{where}: /tmp is not writable"


def test_the_image_runs_as_uid_10001():
    """runAsUser in the manifests is the image's own user (Dockerfile)."""
    assert re.search(r"^USER 10001:10001$", DOCKERFILE.read_text(), re.M)
    assert re.search(r"^WORKDIR /app$", DOCKERFILE.read_text(), re.M)


def test_http_services_probe_health_and_ready(rendered):
    deployments = of_kind(rendered, "Deployment")
    services = of_kind(rendered, "Service")
    pdbs = of_kind(rendered, "PodDisruptionBudget")
    for project, port in PORTS.items():
        (container,) = deployments[project]["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["bin/serve", project, str(port)]
        assert container["ports"][0]["containerPort"] == port
        assert container["livenessProbe"]["httpGet"]["path"] == "/health"
        assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
        service = services[project]
        assert service["spec"]["ports"][0]["port"] == port
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": project}
        pdb = pdbs[project]["spec"]
        assert pdb["minAvailable"] == 1
        assert pdb["selector"]["matchLabels"] == {"app.kubernetes.io/name": project}
    assert of_kind(rendered, "Service")["flower"]["spec"]["ports"][0]["port"] == 5555


def test_selectors_match_their_pods(rendered):
    for name, deployment in of_kind(rendered, "Deployment").items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        for key, value in deployment["spec"]["selector"]["matchLabels"].items():
            assert labels.get(key) == value, name
    pods = [
        d["spec"]["template"]["metadata"]["labels"]
        for d in of_kind(rendered, "Deployment").values()
    ]
    for name, service in of_kind(rendered, "Service").items():
        selector = service["spec"]["selector"].items()
        assert sum(selector <= labels.items() for labels in pods) == 1, name


def test_every_procfile_process_has_a_deployment_with_its_command(rendered):
    commands = {}
    for line in PROCFILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            commands[name.strip()] = shlex.split(command)
    deployments = of_kind(rendered, "Deployment")
    assert set(commands) == set(deployments)
    for name, command in commands.items():
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert container["command"] + container.get("args", []) == command, name


def test_worker_probes_ping_their_own_node(rendered):
    deployments = of_kind(rendered, "Deployment")
    for name in ("worker-orders", "worker-notifications", "worker-payments", "worker-delivery"):
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        _, project, queue = container["command"]
        for probe in ("livenessProbe", "readinessProbe"):
            spec = container[probe]
            script = spec["exec"]["command"][-1]
            assert f"-A {project}_config inspect ping -d {queue}@$HOSTNAME" in script, name
            assert f"--workdir /app/{project}_project" in script, name
            assert spec["timeoutSeconds"] >= 20, name


def test_each_beat_is_a_single_recreated_replica(rendered):
    assert BEATS, "no beat in the Procfile"
    scaled = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in of_kind(rendered, "HorizontalPodAutoscaler").values()
    }
    for name in BEATS:
        beat = of_kind(rendered, "Deployment")[name]
        assert beat["spec"]["replicas"] == 1, name
        assert beat["spec"].get("strategy") == {"type": "Recreate"}, name
        assert name not in scaled


def test_hpas_scale_on_cpu_and_the_websocket_holders_on_memory_too(rendered):
    hpas = of_kind(rendered, "HorizontalPodAutoscaler")
    deployments = of_kind(rendered, "Deployment")
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    assert targets == {"gateway", "orders", "delivery", "live"}
    for name, hpa in hpas.items():
        spec = hpa["spec"]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert spec["scaleTargetRef"]["kind"] == "Deployment"
        assert spec["scaleTargetRef"]["name"] in deployments
        metrics = {m["resource"]["name"]: m["resource"]["target"] for m in spec["metrics"]}
        assert metrics["cpu"] == {"type": "Utilization", "averageUtilization": 70}
        # Idle WebSockets cost memory, not CPU: the pods that hold them scale on it too.
        holds_sockets = spec["scaleTargetRef"]["name"] in ("gateway", "live")
        assert set(metrics) == ({"cpu", "memory"} if holds_sockets else {"cpu"}), name
        assert 1 <= spec["minReplicas"] <= spec["maxReplicas"], name


def test_live_updates_run_behind_the_gateway_and_drain_on_rollout(rendered):
    deployments = of_kind(rendered, "Deployment")
    (container,) = deployments["live"]["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["bin/live", "4006"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert of_kind(rendered, "Service")["live"]["spec"]["ports"][0]["port"] == 4006
    assert of_kind(rendered, "PodDisruptionBudget")["live"]["spec"]["minAvailable"] == 1
    data = of_kind(rendered, "ConfigMap")["food-config"]["data"]
    assert data["LIVE_UPDATES_URLS"] == "http://live:4006"
    # Draining: out of the endpoints before SIGTERM, new copies up before old ones go
    for name in ("gateway", "live"):
        spec = deployments[name]["spec"]
        (held,) = spec["template"]["spec"]["containers"]
        assert held["lifecycle"]["preStop"]["exec"]["command"] == ["sleep", "10"], name
        assert spec["template"]["spec"]["terminationGracePeriodSeconds"] > 10, name
        assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0, name
    # The ingress keeps quiet WebSockets open past ingress-nginx's 60 s default
    annotations = of_kind(rendered, "Ingress")["gateway"]["metadata"]["annotations"]
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 3600


def test_delivery_is_sized_for_the_location_updates():
    """delivery takes most requests (riders' positions): more CPU asked, more room to scale."""
    base = render(BASE)
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]
        for h in of_kind(base, "HorizontalPodAutoscaler").values()
    }
    deployments = of_kind(base, "Deployment")

    def cpu_millicores(name: str) -> int:
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        request = container["resources"]["requests"]["cpu"]
        return int(request[:-1]) if request.endswith("m") else int(float(request) * 1000)

    assert cpu_millicores("delivery") > cpu_millicores("orders")
    assert hpas["delivery"]["minReplicas"] >= 2
    assert hpas["delivery"]["maxReplicas"] > hpas["orders"]["maxReplicas"]


def test_migrations_are_one_job_per_project(rendered):
    jobs = of_kind(rendered, "Job")
    assert set(jobs) == {f"migrate-{p}" for p in PORTS}
    for project in PORTS:
        pod = jobs[f"migrate-{project}"]["spec"]["template"]["spec"]
        assert pod["restartPolicy"] in {"OnFailure", "Never"}
        assert pod["securityContext"]["runAsNonRoot"] is True
        (container,) = pod["containers"]
        assert container["workingDir"] == f"/app/{project}_project"
        script = " ".join(container["command"])
        assert "python manage.py migrate --noinput" in script
        assert {"requests", "limits"} <= set(container["resources"])


# --- configuration and secrets ------------------------------------------------------------------


def _env_vars(objs):
    for obj in objs:
        for container in _containers(obj):
            for var in container.get("env", []):
                yield obj, container, var


def test_no_secret_values_are_rendered(rendered):
    for obj in rendered:
        if obj["kind"] == "Secret":
            assert not obj.get("data") and not obj.get("stringData"), obj["metadata"]["name"]
    for obj, container, var in _env_vars(rendered):
        name = var["name"]
        if SENSITIVE.search(name) and name not in NOT_SENSITIVE:
            where = f"{obj['kind']}/{obj['metadata']['name']}/{container['name']}: {name}"
            assert "value" not in var, f"{where} has an inline value"
            assert var["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME, where
    for name, config in of_kind(rendered, "ConfigMap").items():
        leaked = [k for k in config["data"] if SENSITIVE.search(k) and k not in NOT_SENSITIVE]
        assert not leaked, f"ConfigMap {name} holds {leaked}"


def test_the_example_secret_is_not_applied():
    example = BASE / "secret.example.yaml"
    (secret,) = _load_yaml_documents(example)
    assert secret["kind"] == "Secret" and secret["metadata"]["name"] == SECRET_NAME
    for kustomization in K8S.rglob("kustomization.yaml"):
        fields = yaml.safe_load(kustomization.read_text())
        files = fields.get("resources", []) + [
            p["path"] for p in fields.get("patches", []) if "path" in p
        ]
        assert not [f for f in files if "secret.example" in f], kustomization
    # Its keys are the ones the manifests read.
    used = {
        var["valueFrom"]["secretKeyRef"]["key"]
        for _, _, var in _env_vars(render(BASE))
        if "valueFrom" in var and "secretKeyRef" in var["valueFrom"]
    }
    assert used <= set(secret["stringData"])
    required = {
        "SECRET_KEY",
        "JWT_PRIVATE_KEY",
        "FLOWER_PASSWORD",
        "LOCAL_ADMIN_PASSWORD",
        *(f"DATABASE_URL_{p.upper()}" for p in PORTS),
    }
    assert required <= used


def test_each_project_reads_its_own_database(rendered):
    workloads = {**of_kind(rendered, "Deployment"), **of_kind(rendered, "Job")}
    for name, obj in workloads.items():
        (container,) = obj["spec"]["template"]["spec"]["containers"]
        command = container["command"]
        if name.startswith("migrate-"):
            project = name.removeprefix("migrate-")
        elif command[0] in {"bin/serve", "bin/worker", "bin/beat"}:
            project = command[1]
        else:  # bin/flower runs in orders_project
            project = "orders"
        env = {v["name"]: v for v in container["env"]}
        key = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]["key"]
        assert key == f"DATABASE_URL_{project.upper()}", name
        assert ("JWT_PRIVATE_KEY" in env) == (project == "auth"), name


def test_configmap_addresses(rendered):
    data = of_kind(rendered, "ConfigMap")["food-config"]["data"]
    assert all(isinstance(v, str) for v in data.values())
    assert data["DEBUG"] == "0"
    assert data["BIND_HOST"] == "0.0.0.0"
    assert data["NUM_PROXIES"] == "2"  # trusted proxies: the Ingress controller and the gateway
    assert data["JWT_JWKS_URL"] == "http://auth:4001/auth/.well-known/jwks.json"
    assert data["REDIS_URL"].startswith("redis://redis:6379/")
    for project, port in PORTS.items():
        if project != PUBLIC:
            assert data[f"{project.upper()}_SERVICE_URLS"] == f"http://{project}:{port}"
    (container,) = of_kind(rendered, "Deployment")["gateway"]["spec"]["template"]["spec"][
        "containers"
    ]
    env = {v["name"]: v.get("value") for v in container["env"]}
    assert env["FLOWER_URLS"] == "http://flower:5555"


def test_every_object_is_in_the_namespace(rendered):
    (namespace,) = of_kind(rendered, "Namespace")
    assert namespace == NAMESPACE
    for obj in rendered:
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]


def test_configmap_and_secret_references_exist(rendered):
    configmaps = set(of_kind(rendered, "ConfigMap"))
    for obj in rendered:
        for container in _containers(obj):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in configmaps


# --- exposure -----------------------------------------------------------------------------------


def test_only_the_gateway_is_exposed(rendered):
    for name, service in of_kind(rendered, "Service").items():
        assert service["spec"].get("type", "ClusterIP") == "ClusterIP", name
    ingresses = of_kind(rendered, "Ingress")
    assert set(ingresses) == {PUBLIC}
    backends = {
        path["backend"]["service"]["name"]
        for ingress in ingresses.values()
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    }
    assert backends == {PUBLIC}
    for _, pod in _pod_specs(rendered):
        assert not pod.get("hostNetwork")
        for container in pod["containers"]:
            assert all("hostPort" not in p for p in container.get("ports", []))


def test_readme_documents_the_deployment():
    readme = (K8S / "README.md").read_text()
    for needle in (
        "kubectl apply -k deploy/k8s/overlays/local",
        "kubectl create secret generic food-secrets",
        "--from-file=JWT_PRIVATE_KEY=",
        "CloudNativePG",
        "KEDA",
        "appendonly",
        "kubectl -n food scale",
    ):
        assert needle in readme, needle


@pytest.mark.parametrize("name", BEATS)
def test_beats_probes_run_the_compose_check(rendered, name):
    # The same command as compose's healthcheck, which tests/test_config_files.py runs.
    compose = yaml.safe_load((ROOT / "compose.yml").read_text())
    code = compose["services"][name]["healthcheck"]["test"][3]
    (container,) = _containers(of_kind(rendered, "Deployment")[name])
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["exec"]["command"] == ["python", "-c", code], probe


# --- network policies: only the gateway reaches the services ----------------------------------

# Who may connect to each HTTP port inside the namespace (by the pods' app.kubernetes.io/name).
ALLOWED_CALLERS = {
    "gateway": set(),  # from outside only: the ingress controller
    "auth": {"gateway", "auth", "catalog", "orders", "payments", "delivery", "live"},  # JWKS
    "catalog": {"gateway", "orders"},
    "orders": {"gateway", "payments"},
    "payments": {"gateway", "orders"},  # orders: the payments part of an order's trail
    "delivery": {"gateway", "orders"},  # orders: the rider's position in an order's detail
    "flower": {"gateway"},
    "live": {"gateway"},  # WebSockets, relayed by the gateway once it checked the token
}
# Peers outside the namespace (namespace name, pod name label) and the ports they may reach.
OUTSIDE_PEERS = {
    ("ingress-nginx", "ingress-nginx"): {("gateway", 8000)},
    ("monitoring", "prometheus"): {
        ("gateway", 9108),
        ("live", 4006),
        *((p, n) for p, n in PORTS.items()),
    },
}


def _selects(selector: dict, labels: dict) -> bool:
    """Whether a Kubernetes label selector (matchLabels, matchExpressions) selects `labels`."""
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator = expression["key"], expression["operator"]
        present, value = key in labels, labels.get(key)
        if operator == "In":
            ok = present and value in expression["values"]
        elif operator == "NotIn":
            ok = not present or value not in expression["values"]
        else:
            assert operator in {"Exists", "DoesNotExist"}, operator
            ok = present == (operator == "Exists")
        if not ok:
            return False
    return True


def _pod_labels(rendered) -> dict[str, dict]:
    return {
        name: d["spec"]["template"]["metadata"]["labels"]
        for name, d in of_kind(rendered, "Deployment").items()
    }


def _container_port(deployment: dict, target) -> int:
    if isinstance(target, int):
        return target
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for port in container.get("ports", []):
            if port.get("name") == target:
                return port["containerPort"]
    raise AssertionError(f"no container port named {target}")


def _allowed(rendered, workload: str, port: int) -> tuple[set[str], set[tuple[str, str]]]:
    """Return who may connect to `workload`'s pods on `port`: the namespace's workloads, and the
    (namespace, pod name) peers from outside it. A rule with no `ports` allows every port."""
    pods = _pod_labels(rendered)
    inside, outside = set(), set()
    for policy in of_kind(rendered, "NetworkPolicy").values():
        spec = policy["spec"]
        if "Ingress" not in spec["policyTypes"] or not _selects(
            spec["podSelector"], pods[workload]
        ):
            continue
        for rule in spec.get("ingress", []):
            ports = [(p.get("protocol", "TCP"), p.get("port")) for p in rule.get("ports", [])]
            if ports and ("TCP", port) not in ports:
                continue
            assert rule.get("from"), f"{policy['metadata']['name']}: a rule open to everyone"
            for peer in rule["from"]:
                assert "ipBlock" not in peer, f"{policy['metadata']['name']}: an ipBlock peer"
                if "namespaceSelector" in peer:
                    namespace = peer["namespaceSelector"]["matchLabels"]
                    name = peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                    outside.add((namespace["kubernetes.io/metadata.name"], name))
                else:
                    inside |= {
                        n for n, labels in pods.items() if _selects(peer["podSelector"], labels)
                    }
    return inside, outside


def test_label_selectors():
    labels = {"app.kubernetes.io/name": "orders", "app.kubernetes.io/component": "web"}
    assert _selects({}, labels)
    assert _selects({"matchLabels": {"app.kubernetes.io/name": "orders"}}, labels)
    assert not _selects({"matchLabels": {"app.kubernetes.io/name": "catalog"}}, labels)
    expression = {"key": "app.kubernetes.io/name", "operator": "In", "values": ["gateway"]}
    assert not _selects({"matchExpressions": [expression]}, labels)
    expression["values"].append("orders")
    assert _selects({"matchExpressions": [expression]}, labels)


def test_the_namespace_denies_every_connection_no_policy_allows(rendered):
    denies = [
        p
        for p in of_kind(rendered, "NetworkPolicy").values()
        if p["spec"]["podSelector"] == {}
        and p["spec"]["policyTypes"] == ["Ingress"]
        and not p["spec"].get("ingress")
    ]
    assert len(denies) == 1


def test_every_service_port_is_covered_by_a_network_policy(rendered):
    """Each Service's port is reachable by the callers that need it, and by nobody else."""
    deployments = of_kind(rendered, "Deployment")
    pods = _pod_labels(rendered)
    covered = set()
    for name, service in of_kind(rendered, "Service").items():
        (workload,) = [
            n
            for n, labels in pods.items()
            if _selects({"matchLabels": service["spec"]["selector"]}, labels)
        ]
        for service_port in service["spec"]["ports"]:
            port = _container_port(deployments[workload], service_port["targetPort"])
            inside, outside = _allowed(rendered, workload, port)
            assert inside or outside, f"Service {name}: nothing may reach port {port}"
            assert inside == ALLOWED_CALLERS[workload], f"{workload}:{port} from {inside}"
            for peer in outside:
                assert (workload, port) in OUTSIDE_PEERS[peer], f"{peer} reaches {workload}:{port}"
            covered.add(workload)
    assert covered == set(ALLOWED_CALLERS)
    # Only the ingress controller reaches the public port from outside; the gateway's metrics
    # port is for Prometheus only.
    assert _allowed(rendered, "gateway", PORTS["gateway"]) == (
        set(),
        {("ingress-nginx", "ingress-nginx")},
    )
    assert _allowed(rendered, "gateway", 9108) == (set(), {("monitoring", "prometheus")})


def test_no_policy_opens_the_workers_or_beat(rendered):
    """They serve nothing: only the namespace's default deny selects them."""
    pods = _pod_labels(rendered)
    workers = ("worker-orders", "worker-notifications", "worker-payments", "worker-delivery")
    for workload in (*workers, *BEATS):
        opening = [
            name
            for name, policy in of_kind(rendered, "NetworkPolicy").items()
            if policy["spec"].get("ingress")
            and _selects(policy["spec"]["podSelector"], pods[workload])
        ]
        assert opening == [], workload
