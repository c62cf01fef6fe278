"""The container and configuration files: compose.yml, Dockerfile, .dockerignore, .env.example.

Static checks only: no Docker and no running service (these tests use none of conftest's fixtures).
The variable names the processes read are found in their source, and the processes in the Procfile,
so a new setting that is missing from .env.example or compose.yml, or a new process without its
compose service, fails here.
"""

import ast
import importlib.util
import operator
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
PROCFILE = ROOT / "Procfile"

# The HTTP processes and their ports (docs/architecture.md, Procfile).
PORTS = {
    "auth": 4001,
    "catalog": 4002,
    "orders": 4003,
    "payments": 4004,
    "delivery": 4005,
    "gateway": 8000,
}
PUBLIC = "gateway"
ONE_SHOT = {"migrate"}
BACKING = {"postgres", "redis"}

ENV_READERS = ("env_str", "env_int", "env_bool", "env_float", "env_list", "env_secret")
_READER = rf"(?:\b(?:{'|'.join(ENV_READERS)})|\bos\.environ\.get|\bos\.getenv)"
READ_PATTERNS = (
    re.compile(rf"""{_READER}\(\s*["']([A-Z][A-Z0-9_]*)["']"""),
    re.compile(r"""\bos\.environ\[\s*["']([A-Z][A-Z0-9_]*)["']\s*\](?!\s*=[^=])"""),
)
# A name built at run time, e.g. env_float(f"{name.upper()}_READ_TIMEOUT", ...).
DYNAMIC_READ = re.compile(rf"""{_READER}\(\s*f["']([^"']+)["']""")
SHELL_READ = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)")
SHELL_ASSIGN = re.compile(r"(?m)^\s*(?:export\s+|local\s+|readonly\s+)?([A-Z][A-Z0-9_]*)=")
SHELL_OWN = {
    "PATH",
    "HOME",
    "PWD",
    "OLDPWD",
    "IFS",
    "UID",
    "EUID",
    "USER",
    "SHELL",
    "TMPDIR",
    "SECONDS",
}
ENV_EXAMPLE_NAME = re.compile(r"(?m)^#?\s*([A-Z][A-Z0-9_]*)=")
ENV_EXAMPLE_VALUE = re.compile(r"(?m)^([A-Z][A-Z0-9_]*)=(.*)$")
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_TRUE = {"1", "true", "yes", "on"}
# `${NAME:-default}` in a bin/ script, with a literal default.
SHELL_DEFAULT = re.compile(r"\$\{([A-Z][A-Z0-9_]*):-([^}$]*)\}")
# Variables a process reads that compose leaves unset on purpose: the bin/ scripts set SERVICE_NAME,
# the image's default STATIC_ROOT is where it collected the static files, only `manage.py
# ensure_local_admin` reads the local admin, which the one-shot migrate runs, and only auth's
# `manage.py ensure_demo_riders` (bin/bootstrap, a local run) the demo riders' password.
NOT_PER_PROCESS = {
    "SERVICE_NAME",
    "STATIC_ROOT",
    "LOCAL_ADMIN_EMAIL",
    "LOCAL_ADMIN_USERNAME",
    "LOCAL_ADMIN_PASSWORD",
    "DEMO_RIDER_PASSWORD",
}


# --- helpers ---------------------------------------------------------------------------------


def python_sources() -> list[Path]:
    """The projects' and food_common's code (not their tests or migrations)."""
    paths = [*ROOT.glob("*_project/**/*.py"), *(ROOT / "common" / "food_common").rglob("*.py")]
    return sorted(
        path
        for path in paths
        if not {"tests", "migrations"} & set(path.relative_to(ROOT).parts)
        and not path.name.startswith("test_")
        and path.name != "conftest.py"
    )


def bin_scripts() -> list[Path]:
    return sorted(path for path in (ROOT / "bin").iterdir() if path.is_file())


def procfile() -> dict[str, list[str]]:
    """Each process of the Procfile (what `make up` runs), with its command."""
    lines = re.findall(r"(?m)^([\w-]+):\s*(\S.*)$", PROCFILE.read_text())
    return {name: shlex.split(line) for name, line in lines}


PROCESSES = procfile()
WORKERS = [name for name, argv in PROCESSES.items() if argv[0] == "bin/worker"]
BEATS = [name for name, argv in PROCESSES.items() if argv[0] == "bin/beat"]


def process_project(argv: list[str]) -> str:
    """The project whose settings a bin/ command loads: its argument, or the folder it changes to."""
    if argv[0] in ("bin/serve", "bin/worker", "bin/beat"):
        return argv[1]
    match = re.search(r'cd "\$root/(\w+)_project"', (ROOT / argv[0]).read_text())
    assert match, f'{argv[0]}: no `cd "$root/<project>_project"`'
    return match.group(1)


def names_read_by_python(project: str | None = None) -> dict[str, set[str]]:
    """Each variable name the Python code reads (of `project` and food_common only, if given)."""
    found: dict[str, set[str]] = {}
    for path in python_sources():
        top = path.relative_to(ROOT).parts[0]
        if project is not None and top not in (f"{project}_project", "common"):
            continue
        text = path.read_text()
        for pattern in READ_PATTERNS:
            for name in pattern.findall(text):
                found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def dynamic_names_read_by_python() -> dict[str, set[str]]:
    """Each f-string name template (e.g. "{name.upper()}_READ_TIMEOUT"), with its files."""
    found: dict[str, set[str]] = {}
    for path in python_sources():
        for template in DYNAMIC_READ.findall(path.read_text()):
            found.setdefault(template, set()).add(str(path.relative_to(ROOT)))
    return found


def names_read_by_bin_scripts() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in bin_scripts():
        text = path.read_text()
        names = set(SHELL_READ.findall(text)) - set(SHELL_ASSIGN.findall(text)) - SHELL_OWN
        for pattern in READ_PATTERNS:  # Python run from a script (heredocs)
            names |= set(pattern.findall(text))
        for name in names:
            found.setdefault(name, set()).add(str(path.relative_to(ROOT)))
    return found


def env_example_names() -> set[str]:
    return set(ENV_EXAMPLE_NAME.findall(ENV_EXAMPLE.read_text()))


def env_example_values() -> dict[str, str]:
    """The lines that set a value (not the `# NAME=...` ones)."""
    return dict(ENV_EXAMPLE_VALUE.findall(ENV_EXAMPLE.read_text()))


_OPERATORS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul}


def _constant(node: ast.expr):
    """The value of a literal (or literal arithmetic such as 1024 * 1024); ValueError otherwise."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_constant(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
        return _OPERATORS[type(node.op)](_constant(node.left), _constant(node.right))
    raise ValueError("not a literal")


def _reader_name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    return ast.unparse(func)


def literal_defaults() -> list[tuple[str, str, object, str]]:
    """(name, reader, default, file) for every read whose name and default are both literals."""
    readers = {*ENV_READERS, "os.environ.get", "os.getenv"}
    found = []
    for path in python_sources():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or len(node.args) < 2:
                continue
            reader = _reader_name(node.func)
            name = node.args[0]
            if reader not in readers or not isinstance(name, ast.Constant):
                continue
            try:
                default = _constant(node.args[1])
            except ValueError:
                continue
            found.append((name.value, reader, default, str(path.relative_to(ROOT))))
    return found


def same_as_default(reader: str, default, value: str) -> bool:
    """Whether `value`, read by `reader`, gives the process `default`."""
    if reader == "env_bool":
        return (value.strip().lower() in _TRUE) == bool(default)
    if reader in ("env_int", "env_float"):
        return value == "" or float(value) == float(default)
    if reader == "env_list":
        return [item.strip() for item in value.split(",") if item.strip()] == [
            item.strip() for item in str(default).split(",") if item.strip()
        ]
    return value == str(default)


def seconds(duration: str) -> float:
    """A compose duration such as "30s", "1m30s" or "500ms", in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", str(duration))
    assert parts and "".join(f"{n}{u}" for n, u in parts) == str(duration), duration
    return sum(float(number) * units[unit] for number, unit in parts)


def interpolate(value) -> str:
    """What compose makes of `value` when no variable is set: `${NAME:-default}` is the default."""
    text = "" if value is None else str(value)
    return INTERPOLATION.sub(lambda m: m.group(2) or "", text).replace("$$", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def environment(service: dict) -> dict[str, str]:
    """A service's environment (anchors and merge keys already resolved by the YAML loader)."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {name: value for name, value in env.items()}


def command(service: dict) -> list[str]:
    value = service.get("command") or []
    return shlex.split(value) if isinstance(value, str) else [str(item) for item in value]


def healthcheck_text(service: dict) -> str:
    test = (service.get("healthcheck") or {}).get("test") or ""
    return " ".join(test) if isinstance(test, list) else test


def project_databases() -> dict[str, str | None]:
    """Each project's default database name, from `service_settings(..., database=...)`."""
    databases = {}
    for project in PORTS:
        text = (ROOT / f"{project}_project" / f"{project}_config" / "settings.py").read_text()
        match = re.search(r"service_settings\(\s*\"(\w+)\",\s*database=(?:\"(\w+)\"|None)", text)
        assert match, f"{project}: no service_settings(...) call in its settings"
        databases[project] = match.group(2)
    return databases


# --- (a) compose.yml: shape, health checks, ports ------------------------------------------------


def test_compose_file_is_a_compose_spec_file(compose, services):
    assert "version" not in compose, "the Compose spec has no `version:` key"
    allowed = {"name", "services", "volumes", "networks", "configs", "secrets", "include"}
    assert {key for key in compose if not key.startswith("x-")} <= allowed
    assert {*PORTS, *ONE_SHOT, *BACKING} <= set(services)


def test_every_long_running_service_has_a_healthcheck(services):
    for name, service in services.items():
        if name in ONE_SHOT:
            continue
        check = service.get("healthcheck") or {}
        assert check.get("test") and not check.get("disable"), f"{name}: no healthcheck"


def test_only_the_gateway_publishes_a_host_port(services):
    for name, service in services.items():
        if name == PUBLIC:
            assert [str(port) for port in service.get("ports", [])] == ["8000:8000"]
        else:
            assert not service.get("ports"), f"{name} publishes a host port: it cannot scale"
        assert service.get("network_mode") != "host", name


def test_no_service_has_a_container_name(services):
    assert [name for name, service in services.items() if "container_name" in service] == []


@pytest.mark.parametrize("project", PORTS)
def test_http_service_runs_bin_serve_and_checks_health_on_its_port(services, project):
    service = services[project]
    port = PORTS[project]
    assert service.get("build") == "."
    assert command(service) == ["bin/serve", project, str(port)]
    test = service["healthcheck"]["test"]
    test = " ".join(test) if isinstance(test, list) else test
    assert "curl" not in test and "wget" not in test, "the slim image has neither"
    assert f"http://127.0.0.1:{port}/health" in test
    depends = service.get("depends_on") or {}
    assert depends.get("postgres", {}).get("condition") == "service_healthy"
    assert depends.get("redis", {}).get("condition") == "service_healthy"
    assert depends.get("migrate", {}).get("condition") == "service_completed_successfully"


def test_compose_ports_match_the_procfile(services):
    procfile = (ROOT / "Procfile").read_text()
    served = dict(re.findall(r"(?m)^\w[\w-]*:\s*bin/serve\s+(\w+)\s+(\d+)", procfile))
    assert served == {project: str(port) for project, port in PORTS.items()}


def test_every_procfile_process_has_a_compose_service_running_it(services):
    """compose runs what `make up` runs: one service per Procfile process, same name and command."""
    for name, argv in PROCESSES.items():
        assert name in services, f"Procfile process {name} has no compose service"
        assert command(services[name]) == argv, name
        assert services[name].get("build") == ".", f"{name}: not built from the one image"
        depends = {
            dependency: condition.get("condition")
            for dependency, condition in (services[name].get("depends_on") or {}).items()
        }
        assert depends.get("postgres") == depends.get("redis") == "service_healthy", name
        assert depends.get("migrate") == "service_completed_successfully", name
    image_services = {name for name, service in services.items() if service.get("build")}
    assert image_services - ONE_SHOT == set(PROCESSES), "an image service not in the Procfile"
    # One beat per project with workers (it sends the periodic tasks of its project's settings).
    beat_projects = [PROCESSES[name][1] for name in BEATS]
    assert sorted(beat_projects) == sorted({PROCESSES[name][1] for name in WORKERS}), (
        "one beat each"
    )


def test_worker_node_names_are_queue_at_host():
    """The workers' health checks address `<queue>@<host name>`: the node name bin/worker sets."""
    script = (ROOT / "bin" / "worker").read_text()
    assert re.search(r'-Q "\$queue" -n "\$\{queue\}@%h"', script), "bin/worker's -n changed"


@pytest.mark.parametrize("name", WORKERS)
def test_worker_checks_its_own_node_through_the_broker(services, name):
    project, queue = PROCESSES[name][1:3]
    service = services[name]
    check = service["healthcheck"]
    test = check["test"]
    # A shell form, so that $HOSTNAME (each scaled copy's own host name) is expanded in the container.
    assert isinstance(test, str) or test[0] == "CMD-SHELL", f"{name}: $HOSTNAME needs CMD-SHELL"
    text = healthcheck_text(service)
    argv = shlex.split(text.split("CMD-SHELL", 1)[-1])
    assert argv[0] == "celery" and argv[argv.index("inspect") + 1] == "ping", text
    # -A <project>_config imports from the project's folder, not the image's WORKDIR.
    assert argv[argv.index("-A") + 1] == f"{project}_config", text
    assert argv[argv.index("--workdir") + 1] == f"{project}_project", text
    # $$ in compose.yml is a literal $: the shell, not compose, expands HOSTNAME.
    assert argv[argv.index("-d") + 1] == f"{queue}@$$HOSTNAME", text
    ping_timeout = float(argv[argv.index("--timeout") + 1])
    # Loading the app takes a few seconds on top of the ping's own timeout.
    assert seconds(check["timeout"]) >= ping_timeout + 5, (check["timeout"], ping_timeout)


def test_flower_is_reached_through_the_gateway_only(services):
    flower = services["flower"]
    env = {name: interpolate(value) for name, value in environment(flower).items()}
    port = int(env["FLOWER_PORT"])
    assert env.get("BIND_HOST") == "0.0.0.0", "Flower must listen on the container's interfaces"
    # Basic auth from `.env`, with a working default for a first `docker compose up`.
    for name, default in (("FLOWER_USER", "admin"), ("FLOWER_PASSWORD", "admin")):
        match = INTERPOLATION.fullmatch(str(environment(flower).get(name)))
        assert match and match.group(1) == name and match.group(2) == default, name
    assert not flower.get("ports"), "Flower is served by the gateway at /flower/"
    gateway = {name: interpolate(value) for name, value in environment(services[PUBLIC]).items()}
    assert [_host_port(url) for url in gateway["FLOWER_URLS"].split(",")] == [("flower", port)]
    # Off unless `.env` turns it on (with a real FLOWER_PASSWORD: DEBUG is 0 in compose).
    assert interpolate(environment(services[PUBLIC]).get("GATEWAY_PROXY_FLOWER", "0")) not in _TRUE
    # Flower serves its pages, /healthcheck included, under --url_prefix (the gateway's /flower/).
    script = (ROOT / "bin" / "flower").read_text()
    prefix = re.search(r"--url_prefix=(\w+)", script)
    assert prefix and prefix.group(1) == "flower"
    test = healthcheck_text(flower)
    assert "curl" not in test and "wget" not in test, "the slim image has neither"
    assert f"http://127.0.0.1:{port}/flower/healthcheck" in test


def test_flower_serves_an_unauthenticated_healthcheck():
    """The installed Flower routes /healthcheck (under url_prefix) to a handler that needs no login."""
    spec = importlib.util.find_spec("flower")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("flower is not installed")
    package = Path(next(iter(spec.submodule_search_locations)))
    assert re.search(
        r"""\(r?["']/healthcheck["'],\s*monitor\.Healthcheck\)""", (package / "urls.py").read_text()
    )
    assert "rewrite_handler(h, options.url_prefix)" in (package / "app.py").read_text()
    monitor = (package / "views" / "monitor.py").read_text()
    handler = monitor[monitor.index("class Healthcheck") :]
    assert "authenticated" not in handler.split("\nclass ", 1)[0]


@pytest.mark.parametrize("name", BEATS)
def test_beat_keeps_its_schedule_where_it_may_write(compose, services, name):
    beat = services[name]
    state_dir = interpolate(environment(beat).get("BEAT_STATE_DIR", ""))
    assert state_dir.startswith("/"), "BEAT_STATE_DIR: a path in the container"
    if state_dir == "/tmp" or state_dir.startswith("/tmp/"):
        return
    mounts = {
        str(volume).split(":")[1]: str(volume).split(":")[0] for volume in beat.get("volumes", [])
    }
    assert mounts.get(state_dir) in set(compose.get("volumes") or {}), (state_dir, mounts)
    # A new named volume takes the ownership of the image's folder: the image must create it (as
    # the app's) or the volume is root's and beat, an unprivileged user, cannot write its schedule.
    dockerfile = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())
    assert re.search(rf"mkdir -p [^\n]*{re.escape(state_dir)}\b", dockerfile), state_dir
    assert state_dir.startswith("/app/var/"), "the image gives /app/var to the app user"


def test_each_beat_keeps_its_schedule_to_itself(services):
    """A beat's check reads the schedule state in its folder: another beat's must not be there."""
    folders = {
        name: {str(volume).split(":")[0] for volume in services[name].get("volumes", [])}
        for name in BEATS
    }
    for name, sources in folders.items():
        others = set().union(*(folders[other] for other in BEATS if other != name))
        assert sources and not sources & others, (name, sources, others)


def test_backing_services_have_persistent_data_and_readiness_checks(compose, services):
    assert "pg_isready" in str(services["postgres"]["healthcheck"]["test"])
    assert "ping" in str(services["redis"]["healthcheck"]["test"])
    assert "--appendonly" in command(services["redis"])
    named_volumes = set(compose.get("volumes") or {})
    for name in BACKING:
        sources = {str(volume).split(":")[0] for volume in services[name].get("volumes", [])}
        assert sources & named_volumes, f"{name}: its data is not on a named volume"


def test_migrate_prepares_every_project_database(services):
    migrate = services["migrate"]
    assert "deploy/compose/migrate.sh" in command(migrate)
    assert str(migrate.get("restart", "no")) == "no"
    script = (ROOT / "deploy" / "compose" / "migrate.sh").read_text()
    loop = re.search(r"for project in ([\w ]+); do", script)
    assert loop and set(loop.group(1).split()) == set(PORTS)
    for command_name in ("migrate --noinput", "ensure_local_admin"):
        assert f"manage.py {command_name}" in script
    env = environment(migrate)
    initdb = (ROOT / "deploy" / "compose" / "initdb.sql").read_text()
    for project, database in project_databases().items():
        if database is None:
            continue
        url = env.get(f"{project.upper()}_DATABASE_URL")
        assert url == environment(services[project])["DATABASE_URL"], project
        assert f"CREATE DATABASE {database};" in initdb
    # migrate runs auth's system checks, which load the signing key, and creates the local admins.
    assert env.get("JWT_PRIVATE_KEY_FILE") == environment(services["auth"])["JWT_PRIVATE_KEY_FILE"]
    assert interpolate(env.get("LOCAL_ADMIN_PASSWORD", "")), "DEBUG=0 needs a local admin password"


def _strings(node):
    """Every string (keys and values) of the loaded compose file."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def test_compose_interpolations_all_have_defaults(compose):
    """A first `docker compose up` needs no `.env`: no bare $NAME, ${NAME} or ${NAME:?error}."""
    for text in _strings(compose):
        assert not re.search(r"\$(?!\{)", text.replace("$$", "")), f"bare $ in {text!r}"
        for expression in re.findall(r"\$\{([^}]*)\}", text):
            assert re.fullmatch(r"[A-Za-z_]\w*:?-[^}]*", expression), f"${{{expression}}}"


# --- (b) .env.example lists every variable ------------------------------------------------------


def test_every_variable_the_code_reads_is_in_env_example():
    listed = env_example_names()
    missing = {name: sorted(files) for name, files in names_read_by_python().items()}
    missing = {name: files for name, files in missing.items() if name not in listed}
    assert missing == {}, "add these to .env.example (NAME=default, or `# NAME=...`)"


def test_every_dynamically_named_variable_has_an_example():
    listed = env_example_names()
    for template, files in dynamic_names_read_by_python().items():
        parts = re.split(r"\{[^}]*\}", template)
        pattern = re.compile("[A-Z][A-Z0-9_]*".join(re.escape(part) for part in parts))
        assert any(pattern.fullmatch(name) for name in listed), (template, sorted(files))


def test_every_variable_the_bin_scripts_read_is_in_env_example():
    listed = env_example_names()
    missing = {name: sorted(files) for name, files in names_read_by_bin_scripts().items()}
    assert {name: files for name, files in missing.items() if name not in listed} == {}


def test_env_example_and_compose_defaults_are_the_bin_scripts_defaults(services):
    """`${NAME:-default}` in bin/: .env.example and compose give the same (or leave it empty)."""
    values = env_example_values()
    wrong = []
    for path in bin_scripts():
        for name, default in SHELL_DEFAULT.findall(path.read_text()):
            if values.get(name, "") not in ("", default):
                wrong.append(f".env.example {name}={values[name]!r}, {path.name}: {default!r}")
            for service_name, service in services.items():
                match = INTERPOLATION.fullmatch(str(environment(service).get(name, "")))
                if match and match.group(1) == name and match.group(2) not in (None, "", default):
                    wrong.append(
                        f"{service_name}: {name} {match.group(0)}, {path.name}: {default!r}"
                    )
    assert wrong == []


def test_env_example_defaults_are_the_code_defaults():
    values = env_example_values()
    wrong = []
    for name, reader, default, path in literal_defaults():
        if reader == "env_secret" or name not in values:
            continue  # secrets are shown empty; `# NAME=...` lines differ per process
        if not same_as_default(reader, default, values[name]):
            wrong.append(f"{name}={values[name]!r} but {path} defaults to {default!r}")
    assert wrong == []


def test_secrets_are_empty_in_env_example():
    values = env_example_values()
    secrets = ("SECRET_KEY", "JWT_PRIVATE_KEY", "LOCAL_ADMIN_PASSWORD", "FLOWER_PASSWORD")
    for name in (*secrets, "EVENT_SIGNING_KEY", "DEMO_RIDER_PASSWORD"):
        assert values.get(name) == "", f"{name} must be listed empty"


# --- (c) every HTTP service gets its addresses and secrets -------------------------------------


def test_compose_defaults_are_the_code_defaults(services):
    wrong = []
    defaults = [item for item in literal_defaults() if item[1] != "env_secret"]
    for service_name, service in services.items():
        for name, value in environment(service).items():
            match = INTERPOLATION.fullmatch(str(value))
            if not match or match.group(1) != name or not match.group(2):
                continue
            for read_name, reader, default, path in defaults:
                if read_name == name and not same_as_default(reader, default, match.group(2)):
                    wrong.append(f"{service_name}: {name} {value} but {path}: {default!r}")
    assert wrong == []


def _host_port(url: str) -> tuple[str | None, int | None]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


@pytest.mark.parametrize("name", PROCESSES)
def test_every_process_gets_every_variable_it_reads(services, name):
    """The variables its project's code and its bin/ script read, so `.env` can reach them all."""
    argv = PROCESSES[name]
    project = process_project(argv)
    read = set(names_read_by_python(project))
    read |= {var for var, files in names_read_by_bin_scripts().items() if argv[0] in files}
    missing = read - set(environment(services[name])) - NOT_PER_PROCESS
    assert missing == set(), f"{name} ({project}): set these in compose.yml"


@pytest.mark.parametrize("name", [name for name in PROCESSES if name not in PORTS])
def test_celery_processes_share_their_projects_configuration(services, name):
    """A worker, beat or Flower sees what its project's HTTP service sees (database, broker ...)."""
    project = process_project(PROCESSES[name])
    own = environment(services[name])
    differs = {
        var: (value, own.get(var))
        for var, value in environment(services[project]).items()
        if own.get(var) != value
    }
    assert differs == {}, f"{name} differs from {project}"


def test_migrate_sets_the_local_admin(services):
    """Only migrate runs `manage.py ensure_local_admin`, the one reader of LOCAL_ADMIN_*."""
    env = environment(services["migrate"])
    assert {"LOCAL_ADMIN_EMAIL", "LOCAL_ADMIN_USERNAME", "LOCAL_ADMIN_PASSWORD"} <= set(env)


@pytest.mark.parametrize("name", PROCESSES)
def test_service_environment_sets_addresses_and_secrets(services, name):
    project = process_project(PROCESSES[name])
    env = {var: interpolate(value) for var, value in environment(services[name]).items()}

    assert env.get("DEBUG", "").lower() in {"0", "false", "no", "off"}
    assert env.get("SECRET_KEY"), "SECRET_KEY must be set when DEBUG is off"
    assert _host_port(env.get("REDIS_URL", "")) == ("redis", 6379)
    assert _host_port(env.get("CELERY_BROKER_URL", "")) == ("redis", 6379)
    assert env["REDIS_URL"] != env["CELERY_BROKER_URL"], "cache and broker share a Redis DB"
    # The image collects static files to the default STATIC_ROOT, <repository>/var/static/<project>.
    assert env.get("STATIC_ROOT", f"/app/var/static/{project}") == f"/app/var/static/{project}"

    database = project_databases()[project]
    if database:
        url = urlsplit(env.get("DATABASE_URL", ""))
        assert (url.scheme, url.hostname, url.port) == ("postgres", "postgres", 5432)
        assert url.path == f"/{database}"

    if project != "auth":  # auth verifies its own tokens from its keys
        jwks = urlsplit(env.get("JWT_JWKS_URL", ""))
        assert (jwks.hostname, jwks.port) == ("auth", PORTS["auth"])
        assert jwks.path == "/auth/.well-known/jwks.json"


def test_every_service_url_is_a_compose_name_and_port(services):
    """Whoever calls another service (orders -> catalog, payments -> orders) reaches it by name."""
    for service_name, service in services.items():
        for name, value in environment(service).items():
            if not name.endswith("_SERVICE_URLS"):
                continue
            target = name.removesuffix("_SERVICE_URLS").lower()
            urls = [url.strip() for url in interpolate(value).split(",") if url.strip()]
            assert urls, f"{service_name}: {name} is empty"
            for url in urls:
                assert _host_port(url) == (target, PORTS[target]), f"{service_name}: {name}={url}"
    orders = environment(services["orders"])
    payments = environment(services["payments"])
    assert _host_port(interpolate(orders["CATALOG_SERVICE_URLS"])) == ("catalog", PORTS["catalog"])
    assert _host_port(interpolate(payments["ORDERS_SERVICE_URLS"])) == ("orders", PORTS["orders"])


def test_gateway_reaches_every_upstream_by_its_compose_name(services):
    env = {name: interpolate(value) for name, value in environment(services[PUBLIC]).items()}
    upstream_names = {name for name in names_read_by_python() if name.endswith("_SERVICE_URLS")}
    assert {f"{project.upper()}_SERVICE_URLS" for project in PORTS if project != PUBLIC} <= (
        upstream_names
    )
    for name in sorted(upstream_names):
        target = name.removesuffix("_SERVICE_URLS").lower()
        urls = [url.strip() for url in env.get(name, "").split(",") if url.strip()]
        assert urls, f"{name} is not set on the gateway"
        for url in urls:
            assert _host_port(url) == (target, PORTS[target]), f"{name}={url}"
    assert "FLOWER_URLS" in env


def test_auth_gets_its_signing_key_from_the_mounted_key_file(services):
    auth = services["auth"]
    env = environment(auth)
    key_file = env.get("JWT_PRIVATE_KEY_FILE", "")
    mounts = [str(volume) for volume in auth.get("volumes", [])]
    assert any(
        mount.split(":")[0] == "./var/keys"
        and key_file.startswith(mount.split(":")[1] + "/")
        and mount.endswith(":ro")
        for mount in mounts
    ), (key_file, mounts)
    assert (ROOT / "deploy" / "compose" / "make-key.sh").exists()


# --- the image ----------------------------------------------------------------------------------


def test_dockerfile_builds_one_unprivileged_image_without_a_default_command():
    source = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text())  # join continued lines
    lines = [
        line.strip()
        for line in source.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    text = "\n".join(lines)
    assert re.search(r"(?m)^FROM python:3\.11-slim\b", text)
    users = re.findall(r"(?m)^USER\s+(\S+)", text)
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert not re.search(r"(?m)^(CMD|ENTRYPOINT)\b", text), "compose sets the command"
    assert "BIND_HOST=0.0.0.0" in text
    assert "requirements/base.txt" in text and "./common" in text
    assert re.search(r"(?m)^WORKDIR /app$", text), "settings collect static files under /app/var"
    assert "collectstatic" in text
    assert not re.search(r"(?m)^ENV\b.*\b(SECRET_KEY|DEBUG)=", text), "build-time values only"


def test_dockerignore_keeps_local_state_out_of_the_image():
    entries = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", "var", ".git", "bench/results", ".env"} <= entries
    assert entries & {"__pycache__", "**/__pycache__"}


@pytest.mark.parametrize("name", BEATS)
def test_beats_check_fails_once_it_stops_saving_its_schedule(services, tmp_path, name):
    # Beat answers no ping; its check reads the age of the schedule state it saves as it runs.
    test = services[name]["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    schedule = tmp_path / "celerybeat-schedule.db"

    def check() -> int:
        env = {**os.environ, "BEAT_STATE_DIR": str(tmp_path)}
        return subprocess.run([sys.executable, "-c", test[3]], env=env).returncode

    assert check() != 0  # nothing saved yet
    schedule.write_bytes(b"")
    assert check() == 0  # saved just now
    twenty_minutes_ago = time.time() - 20 * 60
    os.utime(schedule, (twenty_minutes_ago, twenty_minutes_ago))
    assert check() != 0  # the loop stopped long ago
