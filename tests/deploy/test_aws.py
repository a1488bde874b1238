"""deploy/aws: the CloudFormation templates lint clean (cfn-lint), pass checkov (or are waived
with a reason), and each tier's parameter file sets the values of the tier table in
docs/deploy.md. Everything runs offline: no AWS account, no Docker.

cfn-lint and checkov come from `.venv-tools` (see docs/deploy.md, "Validating offline"), the
test interpreter's own bin folder, or PATH. Without them those tests skip (fail under
STUDIO_REQUIRE_SERVICES); the parameter and template checks in Python always run.
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import require_service
from tests.deploy.test_containers import load

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "deploy" / "aws"
STACK = AWS / "stack.yaml"
TEMPLATE_DIR = AWS / "templates"
TEMPLATES = sorted(TEMPLATE_DIR.glob("*.yaml"))
CFNLINTRC = AWS / ".cfnlintrc"
CHECKOV_CONFIG = AWS / ".checkov.yaml"
TIERS = ("testing", "staging", "production")

# Values that belong to an account or a release, not to a tier: deploy.py adds them.
DEPLOY_TIME = {
    "AppImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ai-film-studio-app:abc1234",
    "WorkerImageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ai-film-studio-worker:abc1234",
    "CertificateArn": "arn:aws:acm:eu-west-1:123456789012:certificate/0f1e2d3c-0000-4000-8000-0",
    "DrBucketArn": "arn:aws:s3:::aifs-production-dr-replica",
    "DrKmsKeyArn": "arn:aws:kms:eu-central-1:123456789012:key/0f1e2d3c-0000-4000-8000-000000000001",
    "DrBackupVaultArn": "arn:aws:backup:eu-central-1:123456789012:backup-vault:aifs-production-dr",
}

# cfn-lint warnings tolerated by the test itself (rule id -> reason). Empty: the only
# accepted warning (W3002) is ignored, with its reason, in deploy/aws/.cfnlintrc.
ALLOWED_CFN_LINT_WARNINGS: dict[str, str] = {}

# The tier table (docs/deploy.md). Each tier's params file must set exactly these.
TIER_TABLE: dict[str, dict[str, str]] = {
    "testing": {
        "AppMinTasks": "1",
        "AppMaxTasks": "2",
        "BlueGreen": "false",
        "DbInstanceClass": "db.t3.medium",
        "DbMultiAz": "false",
        "DbReadReplicas": "0",
        "DbBackupRetentionDays": "7",
        "RedisNodeType": "cache.t3.micro",
        "RedisNodes": "1",
        "RedisMultiAz": "false",
        "GpuInstanceType": "g4dn.xlarge",
        "GpuWorkersMin": "1",
        "GpuWorkersMax": "1",
        "WorkerAutoScaling": "false",
        "SpotPercentage": "0",
        "EnableVersioning": "false",
        "EnableIntelligentTiering": "false",
        "EnableCdn": "false",
        "EnableReplication": "false",
        "EnableDrBackupCopy": "false",
        "EnableWaf": "false",
        "EnableVpcEndpoints": "false",
        "EnableAlarms": "false",
        "EnableDashboard": "false",
        "EnableTracing": "false",
    },
    "staging": {
        "AppMinTasks": "2",
        "AppMaxTasks": "4",
        "AppAutoScaling": "true",
        "BlueGreen": "false",
        "DbInstanceClass": "db.r6g.large",
        "DbMultiAz": "true",
        "DbReadReplicas": "0",
        "DbBackupRetentionDays": "14",
        "RedisNodeType": "cache.r6g.large",
        "RedisMultiAz": "true",
        "GpuInstanceType": "g4dn.xlarge",
        "GpuWorkersMin": "1",
        "GpuWorkersMax": "3",
        "WorkerAutoScaling": "true",
        "EnableVersioning": "true",
        "EnableCdn": "false",
        "EnableReplication": "false",
        "EnableWaf": "false",
        "EnableVpcEndpoints": "true",
        "EnableAlarms": "true",
        "EnableDashboard": "false",
        "EnableTracing": "false",
    },
    "production": {
        "AppMinTasks": "4",
        "AppMaxTasks": "50",
        "AppAutoScaling": "true",
        "BlueGreen": "true",
        "TrafficShift": "Canary",
        "CanaryPercentage": "10",
        "DbInstanceClass": "db.r6g.xlarge",
        "DbReplicaInstanceClass": "db.r6g.xlarge",
        "DbMultiAz": "true",
        "DbReadReplicas": "2",
        "DbBackupRetentionDays": "30",
        "RedisNodes": "3",
        "RedisMultiAz": "true",
        "GpuInstanceType": "g4dn.xlarge",
        "GpuWorkersMin": "3",
        "GpuWorkersMax": "20",
        "WorkerAutoScaling": "true",
        "SpotPercentage": "70",
        "EnableVersioning": "true",
        "EnableIntelligentTiering": "true",
        "EnableCdn": "true",
        "EnableReplication": "true",
        "EnableDrBackupCopy": "true",
        "EnableWaf": "true",
        "EnableVpcEndpoints": "true",
        "EnableAlarms": "true",
        "EnableDashboard": "true",
        "EnableTracing": "true",
    },
}


# ---- helpers ---------------------------------------------------------------------------


def load_template(path: Path) -> dict[str, Any]:
    """A template with CloudFormation's short forms (!Ref, !Sub, ...) as long forms: deploy.py's
    own reader, the one that packages the templates."""
    result: dict[str, Any] = _deploy_module().load_template(path)
    return result


@functools.cache
def _deploy_module() -> Any:
    return load(AWS / "deploy.py")


def load_params(tier: str) -> dict[str, str]:
    data = json.loads((AWS / "params" / f"{tier}.json").read_text())
    return {item["ParameterKey"]: item["ParameterValue"] for item in data}


@functools.cache
def tool(name: str) -> str | None:
    """cfn-lint/checkov: .venv-tools, next to this interpreter, or on PATH; None if none runs."""
    candidates = [ROOT / ".venv-tools" / "bin" / name, Path(sys.executable).parent / name]
    on_path = shutil.which(name)
    for candidate in [*map(str, candidates), *([on_path] if on_path else [])]:
        if not Path(candidate).is_file():
            continue
        try:  # a pyenv shim or a broken venv is there but does not run
            probe = subprocess.run([candidate, "--version"], capture_output=True, timeout=120)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return candidate
    return None


def cfn_lint(*args: str) -> list[dict[str, Any]]:
    """Run cfn-lint with the project config; fail on errors and on unlisted warnings."""
    binary = require_service("cfn-lint", tool("cfn-lint"))
    command = [binary, "--config-file", str(CFNLINTRC), "--format", "json", *args]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=240)
    # Exit code is a bitmask: 2 = error, 4 = warning, 8 = informational (1 = crash).
    assert not result.returncode & 1, f"cfn-lint crashed:\n{result.stderr}"
    matches: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    shown = "\n".join(
        f"{m['Level']} {m['Rule']['Id']} {m['Filename']}:{m['Location']['Start']['LineNumber']}"
        f" {m['Message']}"
        for m in matches
    )
    assert not result.returncode & 2, f"cfn-lint errors:\n{shown}"
    unlisted = [
        m
        for m in matches
        if m["Level"] == "Warning" and m["Rule"]["Id"] not in ALLOWED_CFN_LINT_WARNINGS
    ]
    assert not unlisted, f"cfn-lint warnings without a waiver (.cfnlintrc or this test):\n{shown}"
    return matches


def resources(path: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {
        name: res.get("Properties", {})
        for name, res in load_template(path)["Resources"].items()
        if res["Type"] == kind
    }


# ---- linters ---------------------------------------------------------------------------


def test_cfn_lint_every_template() -> None:
    cfn_lint("--", str(STACK), *map(str, TEMPLATES))


@pytest.mark.parametrize("tier", TIERS)
def test_cfn_lint_stack_with_tier_parameters(tier: str, tmp_path: Path) -> None:
    """The root stack with this tier's values (checked against AllowedValues, patterns...)."""
    merged = {**load_params(tier), **DEPLOY_TIME}
    params_file = tmp_path / f"{tier}.json"
    params_file.write_text(
        json.dumps([{"ParameterKey": k, "ParameterValue": v} for k, v in merged.items()])
    )
    cfn_lint("--parameter-files", str(params_file), "--", str(STACK))


def checkov_waivers() -> dict[tuple[str, str, str], str]:
    """(template, resource, check) -> reason, from the resources' Metadata (checkov: skip)."""
    found: dict[tuple[str, str, str], str] = {}
    for path in [STACK, *TEMPLATES]:
        for name, resource in load_template(path)["Resources"].items():
            skips = resource.get("Metadata", {}).get("checkov", {}).get("skip", [])
            for skip in skips:
                found[(path.name, name, skip["id"])] = skip.get("comment", "")
    return found


def test_checkov() -> None:
    """No failed check; each waiver is in the report as SKIPPED, with its reason."""
    binary = require_service("checkov", tool("checkov"))
    command = [
        binary,
        "-d",
        "deploy/aws",
        "--framework",
        "cloudformation",
        "--skip-download",
        "--compact",
        "--output",
        "json",
    ]  # checkov reads deploy/aws/.checkov.yaml (its settings) from the folder it scans
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert result.returncode == 0, f"checkov failed:\n{result.stdout}\n{result.stderr}"
    report = json.loads(result.stdout)
    (report,) = report if isinstance(report, list) else [report]  # one framework
    assert report["summary"]["failed"] == 0, report["results"]["failed_checks"]
    assert report["summary"]["parsing_errors"] == 0
    skipped = {
        (Path(c["file_path"]).name, c["resource"].split(".", 1)[1], c["check_id"]): (
            c["check_result"].get("suppress_comment", "")
        )
        for c in report["results"]["skipped_checks"]
    }
    assert skipped == checkov_waivers()
    assert len(report["results"]["skipped_checks"]) == len(skipped)  # none twice


def test_every_waiver_has_a_reason() -> None:
    waivers = checkov_waivers()
    assert set(waivers) == set(WAIVED), "a new waiver needs its guard (WAIVED, below)"
    for (template, resource, check), reason in waivers.items():
        assert re.fullmatch(r"CKV2?_AWS_\d+", check), check
        assert len(reason.strip()) > 20, f"{template} {resource}: {check} has no reason"
    # A global skip-check would drop the check from checkov's report altogether.
    config = yaml.safe_load(CHECKOV_CONFIG.read_text()) or {}
    assert not {"skip-check", "skip_check"} & set(config), ".checkov.yaml waives globally"

    lines = CFNLINTRC.read_text().splitlines()
    ignored = yaml.safe_load(CFNLINTRC.read_text()).get("ignore_checks", [])
    for rule in ignored:
        at = next(i for i, line in enumerate(lines) if line.strip() == f"- {rule}")
        assert lines[at - 1].strip().startswith("#"), f"{rule} is ignored without a reason"


# ---- parameter files against the tier table -----------------------------------------------


def test_dev_has_no_stack() -> None:
    assert not (AWS / "params" / "dev.json").exists()
    result = subprocess.run(
        [sys.executable, str(AWS / "deploy.py"), "dev", "--template-bucket", "b"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "dev has no AWS stack" in result.stderr


@pytest.mark.parametrize("tier", TIERS)
def test_params_file_sets_the_tier_table(tier: str) -> None:
    params = load_params(tier)
    assert params["Tier"] == tier
    wrong = {
        key: (params.get(key), expected)
        for key, expected in TIER_TABLE[tier].items()
        if params.get(key) != expected
    }
    assert not wrong, f"{tier}: (got, expected) {wrong}"
    assert int(params["AppMinTasks"]) <= int(params["AppMaxTasks"])
    assert int(params["GpuWorkersMin"]) <= int(params["GpuWorkersMax"])
    assert params["RedisClusterMode"] == "disabled"  # RQ needs one keyspace (docs/deploy.md)
    if params["RedisMultiAz"] == "true":
        assert int(params["RedisNodes"]) >= 2
    if params["EnableReplication"] == "true":
        assert params["EnableVersioning"] == "true"


@pytest.mark.parametrize("tier", TIERS)
def test_params_file_matches_the_stack_parameters(tier: str) -> None:
    declared = load_template(STACK)["Parameters"]
    params = load_params(tier)
    raw = json.loads((AWS / "params" / f"{tier}.json").read_text())
    assert len(raw) == len(params), f"{tier}: a parameter is set twice"
    assert set(params) <= set(declared), f"{tier}: unknown {set(params) - set(declared)}"
    needed = {name for name, spec in declared.items() if "Default" not in spec}
    missing = needed - set(params) - set(DEPLOY_TIME)
    assert not missing, f"{tier} does not set {sorted(missing)}"
    assert not set(params) & set(DEPLOY_TIME), "release/account values belong to deploy.py"
    for name, value in params.items():
        allowed = declared[name].get("AllowedValues")
        if allowed is not None:
            assert value in [str(a) for a in allowed], f"{tier}: {name}={value!r}"


def test_spot_share_is_derived_from_the_spot_percentage() -> None:
    workers = load_template(TEMPLATE_DIR / "workers.yaml")
    share = workers["Mappings"]["SpotShare"]
    assert set(share) == {str(p) for p in range(0, 101, 10)}
    for spot, row in share.items():
        assert row["OnDemandPercent"] == 100 - int(spot)
    distribution = workers["Resources"]["AutoScalingGroup"]["Properties"]["MixedInstancesPolicy"][
        "InstancesDistribution"
    ]
    assert distribution["OnDemandPercentageAboveBaseCapacity"] == {
        "Fn::FindInMap": ["SpotShare", {"Ref": "SpotPercentage"}, "OnDemandPercent"]
    }
    assert share[load_params("production")["SpotPercentage"]]["OnDemandPercent"] == 30


# ---- what the templates must keep doing ---------------------------------------------------


@pytest.mark.parametrize("template", ["app.yaml", "workers.yaml"])
def test_containers_get_the_studio_settings(template: str) -> None:
    (task,) = resources(TEMPLATE_DIR / template, "AWS::ECS::TaskDefinition").values()
    container = task["ContainerDefinitions"][0]
    env: dict[str, Any] = {}
    for item in container["Environment"]:
        if "Fn::If" in item:  # conditional variable: [condition, value, AWS::NoValue]
            item = item["Fn::If"][1]
        env[item["Name"]] = item["Value"]
    assert env["STUDIO_TIER"] == {"Ref": "Tier"}
    assert env["STUDIO_STORAGE_BACKEND"] == "s3"
    assert env["STUDIO_S3_BUCKET"] == {"Ref": "ArtifactBucketName"}
    assert env["STUDIO_S3_REGION"] == {"Ref": "AWS::Region"}
    assert env["STUDIO_CDN_BASE_URL"] == {"Ref": "CdnBaseUrl"}
    secrets = {s["Name"]: s["ValueFrom"] for s in container["Secrets"]}
    expected = {
        "STUDIO_DATABASE_URL": {"Ref": "DatabaseUrlSecretArn"},
        "STUDIO_REDIS_URL": {"Ref": "RedisUrlSecretArn"},
        "STUDIO_SECRET_KEY": {"Ref": "AppSecretKeyArn"},
    }
    if template == "app.yaml":  # /metrics answers only to its token outside dev
        expected["STUDIO_METRICS_TOKEN"] = {"Ref": "MetricsTokenArn"}
    assert secrets == expected
    assert not set(expected) & set(env)


def test_secrets_are_generated_and_urls_use_tls() -> None:
    data = load_template(TEMPLATE_DIR / "data.yaml")["Resources"]
    for name in ("DbMasterSecret", "RedisAuthSecret", "AppSecretKey", "MetricsToken"):
        generate = data[name]["Properties"]["GenerateSecretString"]
        assert generate["ExcludePunctuation"] is True  # safe inside a URL
        assert generate["PasswordLength"] >= 40
    database_url = data["DatabaseUrlSecret"]["Properties"]["SecretString"]["Fn::Sub"]
    assert database_url.startswith("postgresql+psycopg://") and "sslmode=require" in database_url
    redis_urls = data["RedisUrlSecret"]["Properties"]["SecretString"]["Fn::If"][1:]
    assert all(url["Fn::Sub"].startswith("rediss://") for url in redis_urls)
    redis = data["Redis"]["Properties"]
    assert redis["TransitEncryptionEnabled"] is True and redis["AtRestEncryptionEnabled"] is True


# Each checkov waiver (a resource's Metadata) and what test_guards_for_the_checkov_waivers
# checks in its place; a waiver not listed here fails test_every_waiver_has_a_reason.
WAIVED = {
    ("data.yaml", "Database", "CKV_AWS_157"): "staging/production set DbMultiAz=true",
    ("data.yaml", "ReadReplica1", "CKV_AWS_16"): "replicas of the encrypted primary",
    ("data.yaml", "ReadReplica2", "CKV_AWS_16"): "replicas of the encrypted primary",
    ("data.yaml", "ReadReplica1", "CKV_AWS_157"): "the primary is Multi-AZ where it matters",
    ("data.yaml", "ReadReplica2", "CKV_AWS_157"): "the primary is Multi-AZ where it matters",
    ("storage.yaml", "ArtifactBucket", "CKV_AWS_21"): "staging/production version it",
    ("storage.yaml", "LogBucket", "CKV_AWS_18"): "the artifact bucket logs into it",
    ("dr.yaml", "ReplicaBucket", "CKV_AWS_18"): "the artifact bucket logs into it",
    ("network.yaml", "AlbSecurityGroup", "CKV_AWS_260"): "port 80 only redirects",
    ("storage.yaml", "Distribution", "CKV_AWS_174"): "TLSv1.2_2021 with its own certificate",
}


def test_guards_for_the_checkov_waivers() -> None:
    """What each waived checkov rule would otherwise have caught, checked here."""
    primary = resources(TEMPLATE_DIR / "data.yaml", "AWS::RDS::DBInstance")["Database"]
    assert primary["StorageEncrypted"] is True and primary["KmsKeyId"] == {"Ref": "KmsKeyArn"}
    assert primary["MultiAZ"] == {"Fn::If": ["MultiAzDatabase", True, False]}
    for tier in ("staging", "production"):
        assert load_params(tier)["DbMultiAz"] == "true"
        assert load_params(tier)["EnableVersioning"] == "true"
    artifacts = resources(TEMPLATE_DIR / "storage.yaml", "AWS::S3::Bucket")["ArtifactBucket"]
    assert artifacts["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": "LogBucket"}
    http = resources(TEMPLATE_DIR / "edge.yaml", "AWS::ElasticLoadBalancingV2::Listener")
    assert http["HttpListener"]["DefaultActions"][0]["Type"] == "redirect"
    assert http["HttpsListener"]["Certificates"] == [{"CertificateArn": {"Ref": "CertificateArn"}}]
    assert http["HttpListener"]["Port"] == 80 and http["HttpsListener"]["Port"] == 443
    # Replicas copy the primary: its encryption, and they exist only where it is Multi-AZ.
    replicas = resources(TEMPLATE_DIR / "data.yaml", "AWS::RDS::DBInstance")
    for name in ("ReadReplica1", "ReadReplica2"):
        assert replicas[name]["SourceDBInstanceIdentifier"] == {"Ref": "Database"}
    for tier in TIERS:
        if load_params(tier)["DbReadReplicas"] != "0":
            assert load_params(tier)["DbMultiAz"] == "true", tier
    # CloudFront with the studio's own domain: TLS 1.2 at least.
    distribution = resources(TEMPLATE_DIR / "storage.yaml", "AWS::CloudFront::Distribution")
    viewer = distribution["Distribution"]["DistributionConfig"]["ViewerCertificate"]["Fn::If"]
    assert viewer[1]["MinimumProtocolVersion"] == "TLSv1.2_2021"
    assert viewer[2] == {"CloudFrontDefaultCertificate": True}


def test_load_balancer_checks_healthz_and_keeps_sessions_sticky() -> None:
    groups = resources(TEMPLATE_DIR / "edge.yaml", "AWS::ElasticLoadBalancingV2::TargetGroup")
    for group in groups.values():
        assert group["HealthCheckPath"] == "/healthz"
        assert group["Port"] == 7860
        attributes = {a["Key"]: a["Value"] for a in group["TargetGroupAttributes"]}
        assert attributes["stickiness.enabled"] == "true"


def _render_sub(value: Any, tracing: bool, names: dict[str, str]) -> Any:
    """Evaluate the Fn::Sub / Fn::If subset the collector configuration uses."""
    if isinstance(value, dict) and "Fn::If" in value:
        _, yes, no = value["Fn::If"]
        return _render_sub(yes if tracing else no, tracing, names)
    if isinstance(value, dict) and "Fn::Sub" in value:
        body = value["Fn::Sub"]
        text, extra = (body, {}) if isinstance(body, str) else body
        scope = {**names, **{k: _render_sub(v, tracing, names) for k, v in extra.items()}}
        text = re.sub(r"\$\{([\w:]+)\}", lambda m: scope[m.group(1)], text)
        return text.replace("${!", "${")  # CloudFormation's escape for a literal ${
    return value


@pytest.mark.parametrize("tracing", [False, True])
def test_collector_publishes_the_scaling_metrics(tracing: bool) -> None:
    """The sidecar turns the app's Prometheus gauges into AIFilmStudio/QueueDepth etc."""
    (task,) = resources(TEMPLATE_DIR / "app.yaml", "AWS::ECS::TaskDefinition").values()
    collector = next(c for c in task["ContainerDefinitions"] if c["Name"] == "collector")
    (variable,) = collector["Environment"]
    assert variable["Name"] == "AOT_CONFIG_CONTENT"
    names = {"Tier": "staging", "AWS::Region": "eu-west-1", "MetricsLogGroupName": "/aifs/m"}
    config = yaml.safe_load(_render_sub(variable["Value"], tracing, names))
    pipelines = config["service"]["pipelines"]
    assert pipelines["metrics"]["exporters"] == ["awsemf"]
    assert ("traces" in pipelines) is tracing
    assert ("otlp" in config["receivers"]) is tracing
    emf = config["exporters"]["awsemf"]
    assert emf["namespace"] == "AIFilmStudio"
    assert emf["metric_declarations"][0]["dimensions"] == [["Tier"]]
    renamed = {
        t["include"]: t["new_name"]
        for t in config["processors"]["metricstransform/studio"]["transforms"]
    }
    assert renamed == {
        "studio_queue_depth": "QueueDepth",
        "studio_worker_heartbeat_age_seconds": "WorkerHeartbeatAge",
        "studio_workers": "LiveWorkers",
    }
    # The names the app exposes on /metrics (studio/web/metrics.py).
    source = (ROOT / "studio" / "web" / "metrics.py").read_text()
    for prometheus_name in renamed:
        assert f'"{prometheus_name}"' in source, (
            f"studio/web/metrics.py no longer has {prometheus_name}"
        )
    target = config["receivers"]["prometheus"]["config"]["scrape_configs"][0]
    assert target["static_configs"][0]["targets"] == ["127.0.0.1:7860"]
    # It scrapes with the metrics token, from a secret of its own (the collector expands it).
    assert target["authorization"] == {"type": "Bearer", "credentials": "${env:METRICS_TOKEN}"}
    secrets = {s["Name"]: s["ValueFrom"] for s in collector["Secrets"]}
    assert secrets == {"METRICS_TOKEN": {"Ref": "MetricsTokenArn"}}


def test_workers_scale_on_queue_depth_and_alarms_watch_it() -> None:
    workers = load_template(TEMPLATE_DIR / "workers.yaml")["Resources"]
    spec = workers["BacklogScaling"]["Properties"]["TargetTrackingScalingPolicyConfiguration"]
    queued = next(
        m for m in spec["CustomizedMetricSpecification"]["Metrics"] if m["Id"] == "queued"
    )
    metric = queued["MetricStat"]["Metric"]
    assert (metric["Namespace"], metric["MetricName"]) == ("AIFilmStudio", "QueueDepth")
    alarms = resources(TEMPLATE_DIR / "monitoring.yaml", "AWS::CloudWatch::Alarm")
    assert {"Alb5xxAlarm", "DatabaseCpuAlarm", "QueueDepthAlarm", "WorkerHeartbeatAlarm"} <= set(
        alarms
    )
    assert alarms["QueueDepthAlarm"]["Namespace"] == "AIFilmStudio"
    assert alarms["WorkerHeartbeatAlarm"]["MetricName"] == "WorkerHeartbeatAge"
    assert alarms["WorkerHeartbeatAlarm"]["TreatMissingData"] == "breaching"


def test_dashboard_body_is_json() -> None:
    dashboard = resources(TEMPLATE_DIR / "monitoring.yaml", "AWS::CloudWatch::Dashboard")["Dash"]
    names = {
        "AWS::Region": "eu-west-1",
        "ProjectName": "aifs",
        "Tier": "production",
        "LoadBalancerFullName": "app/aifs/0123",
        "TargetGroupFullName": "targetgroup/aifs/0123",
        "DatabaseIdentifier": "db",
        "RedisReplicationGroupId": "redis",
    }
    body = json.loads(_render_sub(dashboard["DashboardBody"], False, names))
    titles = [w["properties"]["title"] for w in body["widgets"]]
    assert any("queue depth" in t for t in titles)


def test_blue_green_canary_only_in_production() -> None:
    app = load_template(TEMPLATE_DIR / "app.yaml")["Resources"]
    assert app["DeploymentGroup"]["Condition"] == "BlueGreenDeploy"
    routing = app["CanaryConfig"]["Properties"]["TrafficRoutingConfig"]
    assert routing["Type"] == "TimeBasedCanary"
    assert routing["TimeBasedCanary"]["CanaryPercentage"] == {"Ref": "CanaryPercentage"}
    assert [t for t in TIERS if load_params(t)["BlueGreen"] == "true"] == ["production"]


def test_nested_stacks_point_at_the_shared_templates() -> None:
    stack = load_template(STACK)["Resources"]
    urls = {res["Properties"]["TemplateURL"] for res in stack.values()}
    assert urls == {f"templates/{p.name}" for p in TEMPLATES if p.name != "dr.yaml"}


# ---- deploy.py ---------------------------------------------------------------------------


def _deploy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(AWS / "deploy.py"), *args, "--template-bucket", "tpl", "--dry-run"],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_deploy_dry_run_testing_executes_at_once() -> None:
    result = _deploy("testing", "--app-image", "app:1", "--worker-image", "w:1", "--region", "x-1")
    assert result.returncode == 0, result.stderr
    params = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    assert params["AppImageUri"] == "app:1" and params["DbInstanceClass"] == "db.t3.medium"
    package, deploy = result.stdout.strip().splitlines()[-2:]
    assert package == (
        "package stack.yaml and 8 nested templates as JSON to s3://tpl/aifs-testing/templates/"
    )
    assert deploy.startswith("change set on stack aifs-testing in x-1 ")
    assert deploy.endswith(", executed at once")


def test_deploy_production_needs_dr_resources_and_review() -> None:
    refused = _deploy("production")
    assert refused.returncode == 2 and "DrBucketArn" in refused.stderr
    dr = [
        "--dr-bucket-arn",
        DEPLOY_TIME["DrBucketArn"],
        "--dr-kms-key-arn",
        DEPLOY_TIME["DrKmsKeyArn"],
        "--dr-backup-vault-arn",
        DEPLOY_TIME["DrBackupVaultArn"],
    ]
    result = _deploy("production", *dr)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip().splitlines()[-1].endswith(", left for review (--execute applies it)")
    )


def test_deploy_dr_stack_plan() -> None:
    result = _deploy("dr", "--region", "eu-central-1")
    assert result.returncode == 0, result.stderr
    package, deploy = result.stdout.strip().splitlines()[-2:]
    assert package == "package templates/dr.yaml as JSON to s3://tpl/aifs-production-dr/templates/"
    assert "stack aifs-production-dr in eu-central-1" in deploy
