"""Offline consistency checks of the docker compose deployment.

docker-compose.yml, Dockerfile, .dockerignore, deploy/.env.example, the setup scripts
and the Kibana saved objects are read and cross-checked; nothing is pulled, built or
started. `docker compose config` is run when the compose plugin is installed (it needs
no Docker engine), and skipped otherwise.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pipelines.storage.engine_mappings import IndexNames, article_mappings, run_mappings
from tests.engine.opensearch_node import OPENSEARCH_VERSION

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SCALE_FILE = ROOT / "docker-compose.scale.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / "deploy" / ".env.example"
SAVED_OBJECTS = ROOT / "deploy" / "kibana" / "saved_objects.ndjson"
ES_SETUP = ROOT / "deploy" / "elasticsearch" / "setup.sh"
ES_CERTS = ROOT / "deploy" / "elasticsearch" / "certs.sh"
KIBANA_IMPORT = ROOT / "deploy" / "kibana" / "import.sh"

OPENSEARCH_PROFILE = "opensearch"
ENGINES = ("elasticsearch", "opensearch")
UIS = ("kibana", "opensearch-dashboards")
OPENSEARCH_SERVICES = {"opensearch", "opensearch-dashboards", "portalnews-opensearch"}
DEFAULT_SERVICES = {"elasticsearch", "es-setup", "kibana", "setup", "portalnews"}
CRAWLERS = {"portalnews": "http://elasticsearch:9200", "portalnews-opensearch": "opensearch://opensearch:9200"}
# Fields the saved objects may use: the articles documents and the crawl-run records.
ARTICLE_FIELDS = {"portal_id", "published_at"}
RUN_FIELDS = {"portal_id", "started_at", "finished_at", "outcome", "pages_fetched", "articles_new",
              "errors", "http_errors"}
SECRET_KEY = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ENCRYPTIONKEY|CREDENTIAL", re.IGNORECASE)
# A compose variable reference; `$$` is compose's escape for a literal `$`.
VAR_REF = re.compile(r"(?<!\$)\$(?:\{([A-Za-z_][A-Za-z0-9_]*)[^}]*\}|([A-Za-z_][A-Za-z0-9_]*))")
ONLY_VAR_REF = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_]*(?:(?::?[-?])[^}]*)?\}$")
# `NAME=value` in deploy/.env.example, or `# NAME=value` for an optional one (no spaces).
ENV_LINE = re.compile(r"^\s*(#\s?)?([A-Za-z_][A-Za-z0-9_]*)=(\S*)\s*$")
PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+(?:[-.][A-Za-z0-9.-]+)?$")


# --- loading ---------------------------------------------------------------------------
@functools.cache
def compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text("utf-8"))
    assert isinstance(data, dict), f"{path.name} is not a mapping"
    return data


def services(path: Path = COMPOSE_FILE) -> dict[str, dict[str, Any]]:
    svcs = compose(path)["services"]
    assert isinstance(svcs, dict)
    return svcs


def service(name: str) -> dict[str, Any]:
    assert name in services(), f"docker-compose.yml has no service {name!r}"
    return services()[name]


def split_image(image: str) -> tuple[str, str]:
    """``registry:5000/org/name:1.2.3`` -> (``registry:5000/org/name``, ``1.2.3``)."""
    name = image.partition("@")[0]
    last = name.rsplit("/", 1)[-1]
    if ":" not in last:
        return name, ""
    repo, tag = name.rsplit(":", 1)
    return repo, tag


def image_version(name: str) -> str:
    return split_image(str(service(name)["image"]))[1]


def environment(svc: dict[str, Any]) -> dict[str, str | None]:
    env = svc.get("environment") or {}
    if isinstance(env, list):
        out: dict[str, str | None] = {}
        for item in env:
            key, sep, value = str(item).partition("=")
            out[key] = value if sep else None
        return out
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


def depends_on(svc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        return {str(d): {} for d in deps}
    return {str(k): dict(v or {}) for k, v in deps.items()}


def strings(node: Any) -> Iterator[str]:
    """Every string value (not key) in a parsed YAML tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def env_example() -> tuple[set[str], set[str]]:
    """(names set on active lines, names only shown in commented-out assignments)."""
    active: set[str] = set()
    commented: set[str] = set()
    for line in ENV_EXAMPLE.read_text("utf-8").splitlines():
        m = ENV_LINE.match(line)
        if m:
            (commented if m.group(1) else active).add(m.group(2))
    return active, commented - active


def compose_variables(path: Path = COMPOSE_FILE) -> dict[str, bool]:
    """Variables compose interpolates -> whether one of their uses is required (``:?``)."""
    found: dict[str, bool] = {}
    for text in strings(compose(path)):
        for m in VAR_REF.finditer(text):
            name = m.group(1) or m.group(2)
            required = m.group(0).startswith("${") and (":?" in m.group(0) or "?" in m.group(0)[2:])
            found[name] = found.get(name, False) or required
    return found


def passthrough_variables(path: Path = COMPOSE_FILE) -> set[str]:
    """Environment keys without a value: compose passes them from .env/the shell when set."""
    return {key for svc in services(path).values() for key, value in environment(svc).items() if value is None}


def volume_mounts(svc: dict[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(source, target, options) for each short-syntax or long-syntax volume entry."""
    for entry in svc.get("volumes") or []:
        if isinstance(entry, dict):
            yield str(entry.get("source", "")), str(entry["target"]), "ro" if entry.get("read_only") else ""
            continue
        parts = str(entry).split(":")
        # a leading ${VAR:-./path} holds a colon of its own
        if parts[0].startswith("${") and "}" not in parts[0]:
            parts = [parts[0] + ":" + parts[1], *parts[2:]]
        source, target = parts[0], parts[1]
        yield source, target, ":".join(parts[2:])


def is_bind(source: str) -> bool:
    return source.startswith((".", "/", "~", "$"))


def bind_source_path(source: str) -> Path:
    m = re.match(r"^\$\{[A-Za-z_][A-Za-z0-9_]*:-(.+)\}$", source)
    return ROOT / (m.group(1) if m else source)


# --- compose: images and versions --------------------------------------------------------------
def test_compose_spec_file_without_version_and_with_the_expected_services() -> None:
    assert "version" not in compose(), "the Compose spec has no top-level version: key"
    assert set(services()) == DEFAULT_SERVICES | OPENSEARCH_SERVICES


def test_every_service_has_a_pinned_image_or_a_build() -> None:
    for name, svc in services().items():
        if "build" in svc:
            assert svc["build"] == "." or svc["build"].get("context") == ".", name
            continue
        assert "image" in svc, f"{name}: neither image nor build"
        tag = split_image(str(svc["image"]))[1]
        assert tag, f"{name}: image {svc['image']} has no tag"
        assert tag != "latest" and PINNED_TAG.match(tag), f"{name}: tag {tag!r} is not an exact version"


def test_elasticsearch_and_kibana_versions_match() -> None:
    es = image_version("elasticsearch")
    assert es.startswith("8."), es
    assert image_version("kibana") == es
    assert split_image(service("elasticsearch")["image"])[0] == "docker.elastic.co/elasticsearch/elasticsearch"
    assert split_image(service("kibana")["image"])[0] == "docker.elastic.co/kibana/kibana"
    # the one-shot setup reuses the Elasticsearch image (bash and curl, nothing new to pull)
    assert service("es-setup")["image"] == service("elasticsearch")["image"]


def test_opensearch_and_dashboards_versions_match() -> None:
    version = image_version("opensearch")
    assert version.startswith("2."), version
    assert image_version("opensearch-dashboards") == version


def test_opensearch_image_matches_the_engine_test_node() -> None:
    assert image_version("opensearch") == OPENSEARCH_VERSION, "deploy the OpenSearch version the engine tests run"


# --- compose: health, dependencies, profiles -------------------------------------------------------
@pytest.mark.parametrize("name", [*ENGINES, *UIS])
def test_engine_and_ui_services_have_healthchecks(name: str) -> None:
    check = service(name).get("healthcheck") or {}
    assert not check.get("disable"), name
    test = check.get("test")
    assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"} and len(test) > 1, name
    command = " ".join(test[1:])
    if name in ENGINES:
        assert "_cluster/health?wait_for_status=yellow" in command
    else:
        assert "/api/status" in command
    for key in ("interval", "timeout", "retries"):
        assert key in check, f"{name}: healthcheck without {key}"


def assert_depends_on_satisfiable(svcs: dict[str, dict[str, Any]]) -> None:
    for name, svc in svcs.items():
        for target, spec in depends_on(svc).items():
            assert target in svcs, f"{name} depends on unknown service {target}"
            condition = spec.get("condition")
            assert condition, f"{name} -> {target}: say which condition to wait for"
            if condition == "service_healthy":
                assert svcs[target].get("healthcheck"), f"{name} waits for {target} healthy, which has no healthcheck"
            elif condition == "service_completed_successfully":
                assert str(svcs[target].get("restart")) == "no", f"{target} is not a one-shot service"
            else:
                assert condition == "service_started", condition


def test_depends_on_conditions_are_satisfiable() -> None:
    assert_depends_on_satisfiable(services())


def test_the_stacks_come_up_in_order() -> None:
    assert depends_on(service("kibana"))["elasticsearch"]["condition"] == "service_healthy"
    assert depends_on(service("kibana"))["es-setup"]["condition"] == "service_completed_successfully"
    assert depends_on(service("setup")) == {"kibana": {"condition": "service_healthy"}}
    assert depends_on(service("portalnews"))["elasticsearch"]["condition"] == "service_healthy"
    assert depends_on(service("opensearch-dashboards")) == {"opensearch": {"condition": "service_healthy"}}
    assert depends_on(service("portalnews-opensearch")) == {"opensearch": {"condition": "service_healthy"}}
    for one_shot in ("es-setup", "setup"):
        assert str(service(one_shot)["restart"]) == "no"


def test_opensearch_services_are_all_in_the_profile_and_independent() -> None:
    for name, svc in services().items():
        if name in OPENSEARCH_SERVICES:
            assert svc.get("profiles") == [OPENSEARCH_PROFILE], name
        else:
            assert not svc.get("profiles"), f"{name} must start without a profile"
        for target in depends_on(svc):
            assert (target in OPENSEARCH_SERVICES) == (name in OPENSEARCH_SERVICES), (
                f"{name} -> {target} crosses between the default stack and the opensearch profile")


def test_named_volumes_are_declared_and_bind_sources_exist() -> None:
    declared = set((compose().get("volumes") or {}).keys())
    used: set[str] = set()
    for name, svc in services().items():
        for source, target, options in volume_mounts(svc):
            assert target.startswith("/"), f"{name}: {target}"
            if is_bind(source):
                path = bind_source_path(source)
                assert path.exists(), f"{name}: bind source {path} is missing"
                assert "ro" in options.split(","), f"{name}: bind mount {source} should be read-only"
            else:
                assert source in declared, f"{name}: volume {source} is not declared under volumes:"
                used.add(source)
    assert {"esdata", "osdata"} <= used
    assert declared == used, f"declared but unused volumes: {declared - used}"


def test_one_shot_services_run_the_mounted_scripts() -> None:
    for name, script, image_shell in (("es-setup", ES_SETUP, "/bin/bash"), ("setup", KIBANA_IMPORT, "/bin/sh")):
        svc = service(name)
        entrypoint = svc["entrypoint"]
        assert entrypoint[0] == image_shell, name
        mounted = {target: bind_source_path(source) for source, target, _ in volume_mounts(svc)}
        in_container = entrypoint[1]
        host = next((src / Path(in_container).relative_to(tgt) if src.is_dir() else src)
                    for tgt, src in mounted.items() if in_container == tgt or in_container.startswith(tgt + "/"))
        assert host.resolve() == script.resolve(), f"{name} runs {in_container}, not {script}"
    assert split_image(service("setup")["image"])[0] == "curlimages/curl"


@pytest.mark.parametrize(("script", "shell"), [(ES_SETUP, "bash"), (KIBANA_IMPORT, "sh")])
def test_setup_scripts_parse(script: Path, shell: str) -> None:
    if not shutil.which(shell):
        pytest.skip(f"{shell} not installed")
    result = subprocess.run([shell, "-n", str(script)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_import_script_posts_the_saved_objects_to_the_import_api() -> None:
    text = KIBANA_IMPORT.read_text("utf-8")
    assert "/api/saved_objects/_import?overwrite=true" in text
    assert "kbn-xsrf: true" in text
    assert "saved_objects.ndjson" in text


# --- compose: secrets and exposure ---------------------------------------------------------------
def test_every_variable_is_listed_in_env_example() -> None:
    active, commented = env_example()
    variables = compose_variables()
    missing = set(variables) - active - commented
    assert not missing, f"not in deploy/.env.example: {sorted(missing)}"
    required = {name for name, req in variables.items() if req}
    assert required <= active, f"required variables must be set in .env.example: {sorted(required - active)}"
    passthrough = passthrough_variables()
    assert passthrough <= active | commented, f"undocumented: {sorted(passthrough - active - commented)}"
    stale = (active | commented) - set(variables) - passthrough
    assert not stale, f"deploy/.env.example lists variables compose never reads: {sorted(stale)}"


def test_no_secret_literals_in_compose() -> None:
    for name, svc in services().items():
        for key, value in environment(svc).items():
            if SECRET_KEY.search(key) and value is not None:
                assert ONLY_VAR_REF.match(value), f"{name}: {key} must come from the environment"
    # credentials in commands (healthchecks) only as container variables
    for text in strings(compose()):
        for hit in re.finditer(r"-u\s+\\?\"?([^\s\"\\]+)", text):
            user_pass = hit.group(1)
            assert ":" not in user_pass or "$${" in user_pass or "${" in user_pass, text
    raw = COMPOSE_FILE.read_text("utf-8")
    for line in ENV_EXAMPLE.read_text("utf-8").splitlines():
        m = ENV_LINE.match(line)
        if m and SECRET_KEY.search(m.group(2)) and not m.group(2).endswith("_CA_CERTS"):
            value = m.group(3)
            assert value.startswith("change-me"), f"{m.group(2)}: placeholders must start with change-me"
            assert value not in raw, f"the placeholder of {m.group(2)} is written in docker-compose.yml"


def test_published_ports_are_bound_to_loopback() -> None:
    for name, svc in services().items():
        for port in svc.get("ports") or []:
            if isinstance(port, dict):
                assert port.get("host_ip") == "127.0.0.1", f"{name}: {port}"
            else:
                assert str(port).startswith("127.0.0.1:"), f"{name}: {port} is reachable from the network"
    published = {name: svc.get("ports") for name, svc in services().items() if svc.get("ports")}
    assert published == {
        "elasticsearch": ["127.0.0.1:9200:9200"],
        "kibana": ["127.0.0.1:5601:5601"],
        "opensearch": ["127.0.0.1:9201:9200"],
        "opensearch-dashboards": ["127.0.0.1:5602:5601"],
    }


def test_elasticsearch_is_a_secured_single_node_with_bounded_memory() -> None:
    env = environment(service("elasticsearch"))
    assert env["discovery.type"] == "single-node"
    assert env["xpack.security.enabled"] == "true"
    assert env["ELASTIC_PASSWORD"] == "${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD in .env}"
    assert re.search(r"-Xms\S+ -Xmx\S+", env["ES_JAVA_OPTS"] or "")
    os_env = environment(service("opensearch"))
    assert os_env["discovery.type"] == "single-node"
    assert re.search(r"-Xms\S+ -Xmx\S+", os_env["OPENSEARCH_JAVA_OPTS"] or "")
    assert "OPENSEARCH_INITIAL_ADMIN_PASSWORD" in os_env
    for name in (*ENGINES, *UIS, *CRAWLERS):
        svc = service(name)
        assert svc.get("mem_limit") or svc.get("deploy", {}).get("resources", {}).get("limits"), name


# --- compose: the crawler ------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "store"), sorted(CRAWLERS.items()))
def test_crawler_services(name: str, store: str) -> None:
    svc = service(name)
    assert svc["build"] == "."
    assert environment(svc)["PORTALNEWS_STORE"] == store
    mounts = {target: (source, options) for source, target, options in volume_mounts(svc)}
    assert mounts["/config/portals.yaml"][1] == "ro"
    assert bind_source_path(mounts["/config/portals.yaml"][0]) == ROOT / "portals.yaml"
    assert not is_bind(mounts["/data"][0]), "/data (the spool) is a named volume"
    # scalable with --scale: no fixed container name, no published port
    assert "container_name" not in svc and "ports" not in svc


def test_crawler_credentials_follow_the_backend_contract() -> None:
    env = environment(service("portalnews"))
    assert {"PORTALNEWS_ES_USERNAME", "PORTALNEWS_ES_PASSWORD", "PORTALNEWS_ES_API_KEY",
            "PORTALNEWS_ES_CA_CERTS"} <= set(env)
    assert env["PORTALNEWS_ES_USERNAME"] == "${PORTALNEWS_ES_USERNAME:-portalnews}"
    assert environment(service("es-setup"))["PORTALNEWS_ES_USERNAME"] == env["PORTALNEWS_ES_USERNAME"]
    raw = COMPOSE_FILE.read_text("utf-8")
    assert "--scale portalnews=3" in raw


# --- Dockerfile and build context ----------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text("utf-8").replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_base_image_is_pinned_and_satisfies_requires_python() -> None:
    bases = [rest.split()[0] for kw, rest in dockerfile_instructions() if kw == "FROM"]
    assert bases
    for base in bases:
        repo, tag = split_image(base)
        assert repo == "python", base
        m = re.match(r"^(3)\.(\d+)\.(\d+)-slim-[a-z]+$", tag)
        assert m, f"{base}: pin an exact python X.Y.Z-slim-<debian> tag"
        assert (int(m.group(1)), int(m.group(2))) >= (3, 11), "pyproject.toml requires Python >= 3.11"
    assert len(set(bases)) == 1, "build and runtime stages must use the same base"


def test_dockerfile_entrypoint_command_and_user() -> None:
    instructions = dockerfile_instructions()
    last = {kw: rest for kw, rest in instructions}
    assert json.loads(last["ENTRYPOINT"]) == ["portalnews"]
    cmd = json.loads(last["CMD"])
    assert cmd[0] == "crawl" and cmd[cmd.index("--portals") + 1] == "/config/portals.yaml"
    user = last["USER"].split(":")[0]
    assert user not in {"root", "0", ""}, "the image must run as a non-root user"
    runs = " ".join(rest for kw, rest in instructions if kw == "RUN")
    assert re.search(r"pip install --no-cache-dir '\.\[engines\]'", runs)


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = [line.strip() for line in DOCKERIGNORE.read_text("utf-8").splitlines()
                if line.strip() and not line.strip().startswith("#")]
    assert patterns[0] == "*", "start from an allow-list"
    allowed = {p[1:].strip("/") for p in patterns if p.startswith("!")}
    for needed in ("pyproject.toml", "README.md", "crawler", "pipelines", "portals.yaml"):
        assert needed in allowed, f"the build needs {needed}"
    for secret_or_bulky in (".git", "data", "tests", ".env", "deploy"):
        assert not any(a == secret_or_bulky or a.startswith(secret_or_bulky + "/") for a in allowed)
    copied = " ".join(rest for kw, rest in dockerfile_instructions() if kw == "COPY" and "--from" not in rest)
    for word in re.findall(r"[\w.-]+(?=\s|$)", copied):
        if (ROOT / word).exists() and word not in {".", "./"}:
            assert word in allowed, f"Dockerfile copies {word}, which .dockerignore leaves out"


# --- Kibana saved objects ------------------------------------------------------------------------
@functools.cache
def saved_objects() -> list[dict[str, Any]]:
    objects = []
    for number, line in enumerate(SAVED_OBJECTS.read_text("utf-8").splitlines(), 1):
        assert line.strip(), f"line {number} is empty: NDJSON has one object per line"
        obj = json.loads(line)
        assert isinstance(obj, dict), f"line {number} is not an object"
        objects.append(obj)
    return objects


def objects_of(kind: str) -> list[dict[str, Any]]:
    return [o for o in saved_objects() if o["type"] == kind]


def test_saved_objects_are_importable_ndjson() -> None:
    raw = SAVED_OBJECTS.read_text("utf-8")
    assert raw.endswith("\n") and "\r" not in raw
    seen = set()
    for obj in saved_objects():
        assert {"type", "id", "attributes", "references"} <= set(obj), obj.get("id")
        assert obj["type"] in {"index-pattern", "visualization", "dashboard"}
        assert re.fullmatch(r"[a-z0-9-]+", obj["id"]), obj["id"]
        assert (obj["type"], obj["id"]) not in seen, f"duplicate {obj['type']} {obj['id']}"
        seen.add((obj["type"], obj["id"]))
        assert isinstance(obj["references"], list)
        for ref in obj["references"]:
            assert {"name", "type", "id"} == set(ref)
        # versions Kibana 8 accepts, not newer than any 8.x release it could meet
        assert obj.get("coreMigrationVersion", "8.8.0") == "8.8.0"


def test_data_views_for_articles_and_runs() -> None:
    views = {o["attributes"]["title"]: o for o in objects_of("index-pattern")}
    assert views["portalnews-articles"]["attributes"]["timeFieldName"] == "published_at"
    assert views["portalnews-runs"]["attributes"]["timeFieldName"] == "started_at"


def test_visualizations_parse_and_use_known_fields() -> None:
    views = {o["id"]: o["attributes"]["title"] for o in objects_of("index-pattern")}
    fields_for = {"portalnews-articles": ARTICLE_FIELDS, "portalnews-runs": RUN_FIELDS}
    visualizations = objects_of("visualization")
    assert len(visualizations) >= 3
    for vis in visualizations:
        attrs = vis["attributes"]
        state = json.loads(attrs["visState"])
        assert state["title"] == attrs["title"]
        source = json.loads(attrs["kibanaSavedObjectMeta"]["searchSourceJSON"])
        refs = {r["name"]: r for r in vis["references"]}
        index_ref = refs[source["indexRefName"]]
        assert index_ref["type"] == "index-pattern" and index_ref["id"] in views
        allowed = fields_for[views[index_ref["id"]]]
        agg_ids = {agg["id"] for agg in state["aggs"]}
        for agg in state["aggs"]:
            field = agg["params"].get("field")
            assert field is None or field in allowed, f"{vis['id']}: unknown field {field}"
            order_by = agg["params"].get("orderBy")
            assert order_by is None or order_by in agg_ids or order_by in {"_key", "custom"}
        json.loads(attrs["uiStateJSON"])


def test_visualizations_cover_articles_freshness_and_errors() -> None:
    described = []
    for vis in objects_of("visualization"):
        state = json.loads(vis["attributes"]["visState"])
        aggs = {(a["type"], a["params"].get("field")) for a in state["aggs"]}
        described.append((vis["references"][0]["id"], state["type"], aggs))
    assert any(view == "portalnews-articles" and {("date_histogram", "published_at"), ("terms", "portal_id")} <= aggs
               for view, _, aggs in described), "articles per portal over time"
    assert any(view == "portalnews-articles" and kind == "table" and {("max", "published_at"), ("terms", "portal_id")} <= aggs
               for view, kind, aggs in described), "freshness table"
    assert any(view == "portalnews-runs" and {("sum", "errors"), ("terms", "portal_id")} <= aggs
               for view, _, aggs in described), "errors per portal"


def test_saved_objects_match_the_engine_mappings() -> None:
    """Data view titles are the backend's alias and index; aggregated fields exist with a
    type the aggregation accepts."""
    names = IndexNames()
    properties = {names.articles: article_mappings()["properties"], names.runs: run_mappings()["properties"]}
    views = {o["id"]: o["attributes"]["title"] for o in objects_of("index-pattern")}
    assert set(views.values()) == set(properties)
    accepted = {"terms": {"keyword"}, "date_histogram": {"date"}, "max": {"date", "integer", "long"},
                "sum": {"integer", "long", "float", "double"}}
    for view in objects_of("index-pattern"):
        time_field = view["attributes"]["timeFieldName"]
        assert properties[view["attributes"]["title"]][time_field]["type"] == "date"
    for vis in objects_of("visualization"):
        props = properties[views[vis["references"][0]["id"]]]
        for agg in json.loads(vis["attributes"]["visState"])["aggs"]:
            field = agg["params"].get("field")
            if field is None:
                continue
            assert field in props, f"{vis['id']}: {field} is not mapped"
            assert props[field]["type"] in accepted[agg["type"]], f"{vis['id']}: {agg['type']} on {field}"


def test_dashboard_panels_resolve_to_objects_in_the_file() -> None:
    dashboards = {o["attributes"]["title"]: o for o in objects_of("dashboard")}
    board = dashboards["portalnews coverage"]
    ids = {(o["type"], o["id"]) for o in saved_objects()}
    refs = {r["name"]: r for r in board["references"]}
    panels = json.loads(board["attributes"]["panelsJSON"])
    assert len(panels) >= 3
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        name = f"{panel['panelIndex']}:{panel['panelRefName']}"
        assert name in refs, f"panel {panel['panelIndex']} has no reference {name}"
        ref = refs[name]
        assert ref["type"] == panel["type"] and (ref["type"], ref["id"]) in ids, ref
        grid = panel["gridData"]
        assert grid["i"] == panel["panelIndex"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 48, grid
        area = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not area & cells, f"panel {panel['panelIndex']} overlaps another"
        cells |= area
    panel_refs = {f"{p['panelIndex']}:{p['panelRefName']}" for p in panels}
    assert set(refs) == panel_refs, "every reference belongs to a panel"
    assert {r["id"] for r in refs.values()} == {o["id"] for o in objects_of("visualization")}
    json.loads(board["attributes"]["optionsJSON"])
    json.loads(board["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])


# --- the scale example: docker-compose.scale.yml ----------------------------------------------------
ES_NODES = ("es01", "es02", "es03")
SCALE_SERVICES = {"certs", *ES_NODES, "es-setup", "kibana", "setup", "portalnews"}


def scale_services() -> dict[str, dict[str, Any]]:
    return services(SCALE_FILE)


def test_scale_file_services_images_and_versions() -> None:
    assert "version" not in compose(SCALE_FILE)
    assert compose(SCALE_FILE)["name"] == "portalnews-scale", "its own project: its own volumes"
    assert set(scale_services()) == SCALE_SERVICES
    main_es = service("elasticsearch")["image"]
    for name, svc in scale_services().items():
        if name == "portalnews":
            assert svc["build"] == "." and svc["image"] == service("portalnews")["image"]
            continue
        tag = split_image(str(svc["image"]))[1]
        assert PINNED_TAG.match(tag) and tag != "latest", f"{name}: {svc['image']}"
    # the scale example deploys the versions docker-compose.yml deploys
    for name in (*ES_NODES, "certs", "es-setup"):
        assert scale_services()[name]["image"] == main_es, name
    assert scale_services()["kibana"]["image"] == service("kibana")["image"]
    assert scale_services()["setup"]["image"] == service("setup")["image"]


def test_scale_three_nodes_form_one_secured_cluster() -> None:
    svcs = scale_services()
    envs = {name: environment(svcs[name]) for name in ES_NODES}
    assert {env["cluster.name"] for env in envs.values()} == {"portalnews"}
    for name, env in envs.items():
        assert env["node.name"] == name
        assert "discovery.type" not in env, f"{name}: a cluster member is not single-node"
        assert set(str(env["discovery.seed_hosts"]).split(",")) == set(ES_NODES) - {name}
        assert str(env["cluster.initial_master_nodes"]).split(",") == list(ES_NODES)
        assert env["xpack.security.enabled"] == "true"
        # a secured multi-node cluster refuses to form without transport TLS
        assert env["xpack.security.transport.ssl.enabled"] == "true"
        assert env["xpack.security.transport.ssl.key"] == f"certs/{name}/{name}.key"
        assert env["xpack.security.transport.ssl.certificate"] == f"certs/{name}/{name}.crt"
        assert env["xpack.security.transport.ssl.certificate_authorities"] == "certs/ca/ca.crt"
        assert env["ELASTIC_PASSWORD"] == "${ELASTIC_PASSWORD:?set ELASTIC_PASSWORD in .env}"
        heap = re.fullmatch(r"-Xms(\S+) -Xmx(\S+)", str(env["ES_JAVA_OPTS"]))
        assert heap and heap.group(1) == heap.group(2), f"{name}: fixed heap, Xms == Xmx"
        assert svcs[name].get("mem_limit"), name
        mounts = {target: (source, options) for source, target, options in volume_mounts(svcs[name])}
        assert mounts["/usr/share/elasticsearch/config/certs"] == ("certs", "ro")
        assert mounts["/usr/share/elasticsearch/data"][0] == f"esdata{name[-2:]}", "one data volume per node"
        assert svcs[name]["networks"]["default"]["aliases"] == ["elasticsearch"]
        assert depends_on(svcs[name]) == {"certs": {"condition": "service_completed_successfully"}}
    published = {name: svc.get("ports") for name, svc in svcs.items() if svc.get("ports")}
    assert published == {"es01": ["127.0.0.1:9200:9200"], "kibana": ["127.0.0.1:5601:5601"]}


def test_scale_health_checks_and_start_order() -> None:
    svcs = scale_services()
    for name in (*ES_NODES, "kibana"):
        check = svcs[name].get("healthcheck") or {}
        test = check.get("test")
        assert isinstance(test, list) and test[0] == "CMD-SHELL", name
        assert ("_cluster/health?wait_for_status=yellow" if name != "kibana" else "/api/status") in test[1], name
        assert {"interval", "timeout", "retries", "start_period"} <= set(check), name
    assert_depends_on_satisfiable(svcs)
    assert depends_on(svcs["es-setup"]) == {name: {"condition": "service_healthy"} for name in ES_NODES}
    assert depends_on(svcs["kibana"]) == {"es-setup": {"condition": "service_completed_successfully"}}
    assert depends_on(svcs["setup"]) == {"kibana": {"condition": "service_healthy"}}
    assert depends_on(svcs["portalnews"]) == {"es-setup": {"condition": "service_completed_successfully"}}
    hosts = json.loads(environment(svcs["kibana"])["ELASTICSEARCH_HOSTS"] or "[]")
    assert hosts == [f"http://{name}:9200" for name in ES_NODES]


def test_scale_two_workers_with_replicated_indices() -> None:
    svc = scale_services()["portalnews"]
    assert svc["deploy"]["replicas"] == 2
    assert svc["command"] == service("portalnews")["command"]
    env = environment(svc)
    assert env["PORTALNEWS_STORE"] == "http://elasticsearch:9200", "the alias every node carries"
    replicas = int(env["PORTALNEWS_INDEX_REPLICAS"] or 0)
    assert 1 <= replicas < len(ES_NODES), "a copy survives one node down, and every copy has a node"
    assert {"PORTALNEWS_ES_USERNAME", "PORTALNEWS_ES_PASSWORD", "PORTALNEWS_ES_API_KEY"} <= set(env)
    assert "container_name" not in svc and "ports" not in svc
    mounts = {target: source for source, target, _ in volume_mounts(svc)}
    assert not is_bind(mounts["/data"])


def test_scale_one_shot_services_scripts_and_volumes() -> None:
    svcs = scale_services()
    for name, script in (("certs", ES_CERTS), ("es-setup", ES_SETUP)):
        svc = svcs[name]
        assert svc["entrypoint"][0] == "/bin/bash" and str(svc["restart"]) == "no", name
        mounted = {target: bind_source_path(source) for source, target, _ in volume_mounts(svc) if is_bind(source)}
        assert mounted[svc["entrypoint"][1]].resolve() == script.resolve(), name
    assert str(svcs["certs"]["user"]) == "0"
    assert environment(svcs["certs"])["ES_NODES"] == " ".join(ES_NODES)
    declared = set((compose(SCALE_FILE).get("volumes") or {}).keys())
    used = {source for svc in svcs.values() for source, _, _ in volume_mounts(svc) if not is_bind(source)}
    assert declared == used
    for svc in svcs.values():
        for source, _, options in volume_mounts(svc):
            if is_bind(source):
                assert bind_source_path(source).exists() and "ro" in options.split(","), source


def test_scale_certs_script_parses() -> None:
    if not shutil.which("bash"):
        pytest.skip("bash not installed")
    result = subprocess.run(["bash", "-n", str(ES_CERTS)], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_scale_variables_secrets_and_env_example() -> None:
    active, commented = env_example()
    variables = compose_variables(SCALE_FILE)
    assert set(variables) <= active | commented, f"not in deploy/.env.example: {set(variables) - active - commented}"
    assert {name for name, req in variables.items() if req} <= active
    assert passthrough_variables(SCALE_FILE) <= active | commented
    for name, svc in scale_services().items():
        for key, value in environment(svc).items():
            if SECRET_KEY.search(key) and value is not None:
                assert ONLY_VAR_REF.match(value), f"{name}: {key} must come from the environment"


# --- docker compose itself (skipped without the compose plugin) ----------------------------------
@functools.cache
def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if not docker:
        return None
    try:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30,
                               check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return [docker, "compose"] if probe.returncode == 0 else None


def run_compose(*args: str, env_file: Path, compose_file: Path = COMPOSE_FILE) -> subprocess.CompletedProcess[str]:
    command = compose_command()
    if command is None:
        pytest.skip("the docker compose plugin is not installed")
    active, commented = env_example()
    env = {k: v for k, v in os.environ.items()
           if k not in active | commented and not k.startswith("COMPOSE_")}
    return subprocess.run([*command, "--project-directory", str(ROOT), "-f", str(compose_file),
                           "--env-file", str(env_file), *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=ROOT, check=False)


@pytest.mark.parametrize("profile", [[], ["--profile", OPENSEARCH_PROFILE]], ids=["default", "opensearch"])
def test_docker_compose_config_accepts_the_file(profile: list[str]) -> None:
    result = run_compose(*profile, "config", "-q", env_file=ENV_EXAMPLE)
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_start_without_the_elastic_password(tmp_path: Path) -> None:
    empty = tmp_path / "empty.env"
    empty.write_text("", "utf-8")
    result = run_compose("config", "-q", env_file=empty)
    assert result.returncode != 0
    assert "in .env" in result.stderr


def test_docker_compose_config_accepts_the_scale_file() -> None:
    result = run_compose("config", "-q", env_file=ENV_EXAMPLE, compose_file=SCALE_FILE)
    assert result.returncode == 0, result.stderr
