"""A simulated deployment of deploy/aws: each tier deployed, updated and deleted in moto.

deploy/aws/deploy.py itself packages the templates into a (moto) S3 bucket and deploys the
root stack through a change set, as it would in an account; moto's CloudFormation creates
the nested stacks and, in its in-memory backends, the resources it models: VPC, subnets,
NAT gateways, endpoints, KMS key, RDS instances, S3 buckets, load balancer, ECS clusters,
services and task definitions, the GPU Auto Scaling group, IAM roles, log groups, SNS,
the dashboard. The tests then look at those resources the way a person would after a
deploy, with the tier's parameters, and check that every nested stack got the outputs of
the stacks it reads. What moto cannot create stands in as a placeholder
(tests/deploy/aws_simulator.py); docs/deploy.md, "Simulated deployment", lists those types,
and the first tests here fail when that list and moto disagree.

Offline, no AWS account. About 20 seconds. Without moto (requirements-dev.txt) the tests
skip, or fail under STUDIO_REQUIRE_SERVICES.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import io
import ipaddress
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import require_service

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "deploy" / "aws"
DOCS = ROOT / "docs" / "deploy.md"
TIERS = ("testing", "staging", "production")
REGION = "eu-west-1"
DR_REGION = "eu-central-1"
TEMPLATE_BUCKET = "aifs-templates"
DR_TEMPLATE_BUCKET = "aifs-dr-templates"
APP_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ai-film-studio-app:abc1234"
WORKER_IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/ai-film-studio-worker:abc1234"
NESTED = ("Security", "Network", "Data", "Storage", "Edge", "Monitoring", "App", "Workers")
INTERFACE_ENDPOINTS = 9  # docs/deploy.md's cost table: "9 endpoints"


def _simulator() -> ModuleType:
    """tests/deploy/aws_simulator.py, once moto is known to be there."""
    try:
        import moto  # noqa: F401
    except ImportError:
        require_service("moto", None)
    from tests.deploy import aws_simulator

    return aws_simulator


def _load_deploy() -> ModuleType:
    spec = importlib.util.spec_from_file_location("aifs_deploy_aws", AWS / "deploy.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


deploy = _load_deploy()


def docs_section(title: str) -> str:
    """The text of one '### title' subsection of docs/deploy.md's "Simulated deployment"."""
    text = DOCS.read_text()
    start = text.index("## Simulated deployment")
    end = text.find("\n## ", start + 1)
    section = text[start : end if end > 0 else None]
    at = section.index(f"### {title}")
    stop = section.find("\n### ", at + 1)
    return section[at : stop if stop > 0 else None]


# ---- the lists in docs/deploy.md stay true ------------------------------------------------


def test_what_moto_cannot_create_is_listed_in_the_docs() -> None:
    simulator = _simulator()
    found = simulator.unsupported_types()
    listed = set(re.findall(r"`(AWS::\w+::\w+)`", docs_section("What moto cannot create")))
    new = sorted(set(found) - listed)
    assert not new, (
        "moto cannot create these resource types of deploy/aws; list them in docs/deploy.md "
        f"(Simulated deployment, What moto cannot create): {new}"
    )
    gone = sorted(listed - set(found))
    assert not gone, f"moto creates these now (or no template uses them): drop {gone} from the list"


def test_what_moto_leaves_behind_is_listed_in_the_docs() -> None:
    simulator = _simulator()
    listed = set(re.findall(r"`(AWS::\w+::\w+)`", docs_section("What moto does not delete")))
    assert listed == set(simulator.undeletable_types()), sorted(
        listed ^ set(simulator.undeletable_types())
    )


def test_the_moto_patches_are_listed_in_the_docs() -> None:
    simulator = _simulator()
    text = docs_section("What the simulation patches in moto")
    listed = set(re.findall(r"^- `(\w+)`", text, re.M))
    assert listed == set(simulator.MOTO_GAPS), (listed, set(simulator.MOTO_GAPS))


# ---- one deployment per tier --------------------------------------------------------------


@dataclass
class Deployed:
    tier: str
    simulation: Any
    params: dict[str, str]  # the merged parameters deploy.py sent
    certificate_arn: str
    dr_outputs: dict[str, str]
    log: str  # what deploy.py printed

    def client(self, service: str, region: str = REGION) -> Any:
        import boto3

        return boto3.client(service, region_name=region)

    @property
    def root(self) -> str:
        return f"aifs-{self.tier}"

    def stack(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.client("cloudformation").describe_stacks(StackName=name)[
            "Stacks"
        ][0]
        return found

    def nested(self) -> dict[str, dict[str, Any]]:
        """Logical id in stack.yaml -> the nested stack's description."""
        cfn = self.client("cloudformation")
        resources = cfn.describe_stack_resources(StackName=self.root)["StackResources"]
        return {
            r["LogicalResourceId"]: self.stack(r["PhysicalResourceId"])
            for r in resources
            if r["ResourceType"] == "AWS::CloudFormation::Stack"
        }

    def outputs(self, stack: dict[str, Any]) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}

    def parameters(self, stack: dict[str, Any]) -> dict[str, str]:
        return {p["ParameterKey"]: _flat(p["ParameterValue"]) for p in stack["Parameters"]}

    def resolved(self, nested: str, logical_id: str) -> dict[str, Any]:
        """A resource's properties as CloudFormation resolved them for this tier."""
        name = self.nested()[nested]["StackName"]
        properties: dict[str, Any] = self.simulation.properties(name, logical_id)
        return properties

    def true(self, key: str) -> bool:
        return self.params[key] == "true"


def _flat(value: str) -> str:
    """moto shows a List<...> parameter as Python's list repr; CloudFormation joins it."""
    if value.startswith("["):
        return ",".join(ast.literal_eval(value))
    return value


def run_deploy(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = deploy.main(list(argv))
    return code, out.getvalue()


def deploy_tier(tier: str, certificate_arn: str, dr: dict[str, str], *extra: str) -> str:
    argv = [tier, "--template-bucket", TEMPLATE_BUCKET, "--region", REGION, *extra]
    argv += ["--certificate-arn", certificate_arn]
    if tier == "production":
        argv += ["--dr-bucket-arn", dr["DrBucketArn"], "--dr-kms-key-arn", dr["DrKmsKeyArn"]]
        argv += ["--dr-backup-vault-arn", dr["DrBackupVaultArn"]]
    code, log = run_deploy(*argv)
    assert code == 0, log
    return log


@pytest.fixture(scope="module", params=TIERS)
def deployed(request: pytest.FixtureRequest) -> Iterator[Deployed]:
    """The tier deployed with deploy.py, as docs/deploy.md tells a person to."""
    simulator = _simulator()
    tier: str = request.param
    with simulator.simulated_aws() as simulation:
        import boto3

        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(
            Bucket=TEMPLATE_BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        acm = boto3.client("acm", region_name=REGION)
        certificate = acm.request_certificate(DomainName="studio.example.com")["CertificateArn"]
        dr: dict[str, str] = {}
        if tier == "production":  # the DR stack first, in its own region (docs: DR)
            boto3.client("s3", region_name=DR_REGION).create_bucket(
                Bucket=DR_TEMPLATE_BUCKET,
                CreateBucketConfiguration={"LocationConstraint": DR_REGION},
            )
            code, log = run_deploy(
                "dr", "--template-bucket", DR_TEMPLATE_BUCKET, "--region", DR_REGION
            )
            assert code == 0, log
            stack = boto3.client("cloudformation", region_name=DR_REGION).describe_stacks(
                StackName="aifs-production-dr"
            )["Stacks"][0]
            dr = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
        images = ["--app-image", APP_IMAGE, "--worker-image", WORKER_IMAGE, "--execute"]
        log = deploy_tier(tier, certificate, dr, *images)
        args = deploy.parse_args(
            [tier, "--template-bucket", TEMPLATE_BUCKET, *images, "--certificate-arn", certificate]
            + [f"--{k}={v}" for k, v in _dr_flags(dr).items()]
        )
        yield Deployed(tier, simulation, deploy.merge(tier, args), certificate, dr, log)


def _dr_flags(dr: dict[str, str]) -> dict[str, str]:
    names = {"DrBucketArn": "dr-bucket-arn", "DrKmsKeyArn": "dr-kms-key-arn"}
    names["DrBackupVaultArn"] = "dr-backup-vault-arn"
    return {names[key]: value for key, value in dr.items()}


# ---- what a person sees after the first deploy ----------------------------------------------


def test_every_stack_is_created(deployed: Deployed) -> None:
    root = deployed.stack(deployed.root)
    assert root["StackStatus"] == "CREATE_COMPLETE", deployed.log
    assert f"{deployed.root}: CREATE_COMPLETE" in deployed.log
    tags = {t["Key"]: t["Value"] for t in root["Tags"]}
    assert tags == {"Project": "ai-film-studio", "Tier": deployed.tier}
    nested = deployed.nested()
    assert sorted(nested) == sorted(NESTED)
    for name, stack in nested.items():
        assert stack["StackStatus"] == "CREATE_COMPLETE", name
    # Packaged as deploy.py promises: JSON templates, named by content, in the bucket.
    keys = [
        o["Key"] for o in deployed.client("s3").list_objects_v2(Bucket=TEMPLATE_BUCKET)["Contents"]
    ]
    assert len(keys) == len(NESTED) + 1
    packaged = rf"{deployed.root}/templates/\w+-[0-9a-f]{{16}}\.json"
    assert all(re.fullmatch(packaged, key) for key in keys), keys


def test_every_expression_resolved_and_only_listed_types_are_placeholders(
    deployed: Deployed,
) -> None:
    simulation = deployed.simulation
    assert simulation.unresolved == [], "moto left these unevaluated"
    listed = set(re.findall(r"`(AWS::\w+::\w+)`", docs_section("What moto cannot create")))
    assert simulation.placeholder_types() <= listed


def _expected(value: Any, root: dict[str, Any], deployed: Deployed, nested: dict) -> Any:
    """Evaluate the subset of intrinsic functions stack.yaml passes to nested stacks."""
    if isinstance(value, dict) and "Ref" in value:
        name = value["Ref"]
        return deployed.params.get(name, str(root["Parameters"][name].get("Default", "")))
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        stack, attribute = value["Fn::GetAtt"]
        assert attribute.startswith("Outputs.")
        return deployed.outputs(nested[stack])[attribute.removeprefix("Outputs.")]
    if isinstance(value, dict) and "Fn::If" in value:
        condition, yes, no = value["Fn::If"]
        left, right = root["Conditions"][condition]["Fn::Equals"]
        holds = _expected(left, root, deployed, nested) == right
        return _expected(yes if holds else no, root, deployed, nested)
    return value


def test_nested_stacks_get_the_tier_values_and_each_others_outputs(deployed: Deployed) -> None:
    """Every parameter stack.yaml passes arrives: tier values, and the outputs it names."""
    root = deploy.load_template(AWS / "stack.yaml")
    nested = deployed.nested()
    for name in NESTED:
        wanted = root["Resources"][name]["Properties"]["Parameters"]
        got = deployed.parameters(nested[name])
        declared = deploy.load_template(AWS / "templates" / f"{name.lower()}.yaml")["Parameters"]
        for key, value in wanted.items():
            expected = _expected(value, root, deployed, nested)
            if declared[key]["Type"].startswith("AWS::SSM::Parameter::Value"):
                # The stack shows what the SSM parameter held: the GPU AMI's id. moto ships
                # AWS's public parameters, so the path must be one that exists.
                ssm = deployed.client("ssm")
                expected = ssm.get_parameter(Name=expected)["Parameter"]["Value"]
            assert got[key] == expected, f"{name}.{key}: {got[key]!r}, expected {expected!r}"
    # The root's own outputs are the nested ones they name; the conditional ones per tier.
    outputs = deployed.outputs(deployed.stack(deployed.root))
    for key, spec in root["Outputs"].items():
        if "Condition" in spec:
            left, right = root["Conditions"][spec["Condition"]]["Fn::Equals"]
            if _expected(left, root, deployed, nested) != right:
                assert key not in outputs
                continue
        assert outputs[key] == _expected(spec["Value"], root, deployed, nested), key
    assert ("CdnBaseUrl" in outputs) is deployed.true("EnableCdn")
    assert ("CodeDeployApplication" in outputs) is deployed.true("BlueGreen")


def test_network(deployed: Deployed) -> None:
    network = deployed.outputs(deployed.nested()["Network"])
    ec2 = deployed.client("ec2")
    vpc = ec2.describe_vpcs(VpcIds=[network["VpcId"]])["Vpcs"][0]
    assert vpc["CidrBlock"] == deployed.params["VpcCidr"]
    zones = int(deployed.params["AzCount"])
    public = network["PublicSubnetIds"].split(",")
    private = network["PrivateSubnetIds"].split(",")
    assert len(public) == len(private) == zones
    described = ec2.describe_subnets(SubnetIds=public + private)["Subnets"]
    subnets = {s["SubnetId"]: s for s in described}
    # /20s of the /16: 0-2 public, 3-5 private (network.yaml), one of each per zone.
    blocks = list(ipaddress.ip_network(deployed.params["VpcCidr"]).subnets(new_prefix=20))
    assert [subnets[s]["CidrBlock"] for s in public] == [str(b) for b in blocks[:zones]]
    assert [subnets[s]["CidrBlock"] for s in private] == [str(b) for b in blocks[3 : 3 + zones]]
    assert {subnets[s]["AvailabilityZone"] for s in private} == {
        f"{REGION}{z}" for z in "abc"[:zones]
    }
    nat = [g for g in ec2.describe_nat_gateways()["NatGateways"] if g["VpcId"] == vpc["VpcId"]]
    assert len(nat) == (zones if deployed.true("NatGatewayPerAz") else 1)
    assert {g["SubnetId"] for g in nat} <= set(public)
    endpoints = ec2.describe_vpc_endpoints()["VpcEndpoints"]
    gateway = [e for e in endpoints if e["VpcEndpointType"] == "Gateway"]
    assert [e["ServiceName"] for e in gateway] == [f"com.amazonaws.{REGION}.s3"]
    interface = [e for e in endpoints if e["VpcEndpointType"] == "Interface"]
    assert len(interface) == (INTERFACE_ENDPOINTS if deployed.true("EnableVpcEndpoints") else 0)
    flows = ec2.describe_flow_logs()["FlowLogs"]
    assert [(f["ResourceId"], f["TrafficType"]) for f in flows] == [(vpc["VpcId"], "REJECT")]


def test_key_and_database(deployed: Deployed) -> None:
    key_arn = deployed.outputs(deployed.nested()["Security"])["KeyArn"]
    kms = deployed.client("kms")
    assert kms.get_key_rotation_status(KeyId=key_arn)["KeyRotationEnabled"] is True
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in kms.list_aliases()["Aliases"]}
    assert aliases[f"alias/aifs-{deployed.tier}"] == key_arn.rsplit("/", 1)[1]
    data = deployed.outputs(deployed.nested()["Data"])
    rds = deployed.client("rds")
    (primary,) = rds.describe_db_instances(DBInstanceIdentifier=data["DatabaseIdentifier"])[
        "DBInstances"
    ]
    params = deployed.params
    assert primary["Endpoint"]["Address"] == data["DatabaseEndpoint"]
    assert (primary["Engine"], primary["EngineVersion"]) == ("postgres", "16")
    assert primary["DBInstanceClass"] == params["DbInstanceClass"]
    assert primary["MultiAZ"] is deployed.true("DbMultiAz")
    assert primary["StorageEncrypted"] is True and primary["KmsKeyId"] == key_arn
    assert primary["BackupRetentionPeriod"] == int(params["DbBackupRetentionDays"])
    assert primary["AllocatedStorage"] == int(params["DbAllocatedStorageGiB"])
    assert primary["PubliclyAccessible"] is False
    subnets = {s["SubnetIdentifier"] for s in primary["DBSubnetGroup"]["Subnets"]}
    network = deployed.outputs(deployed.nested()["Network"])
    assert subnets == set(network["PrivateSubnetIds"].split(","))
    replicas = primary["ReadReplicaDBInstanceIdentifiers"]
    assert len(replicas) == int(params["DbReadReplicas"])
    for replica in replicas:
        (described,) = rds.describe_db_instances(DBInstanceIdentifier=replica)["DBInstances"]
        assert described["DBInstanceClass"] == params["DbReplicaInstanceClass"]
    # What moto accepts but does not keep, read from the resolved template instead.
    resolved = deployed.resolved("Data", "Database")
    assert resolved["DeletionProtection"] is deployed.true("DeletionProtection")
    assert str(resolved["MaxAllocatedStorage"]) == params["DbMaxAllocatedStorageGiB"]
    redis = deployed.resolved("Data", "Redis")
    assert redis["CacheNodeType"] == params["RedisNodeType"]
    assert str(redis["NumCacheClusters"]) == params["RedisNodes"]
    assert redis["MultiAZEnabled"] is deployed.true("RedisMultiAz")
    assert redis["TransitEncryptionEnabled"] is True and redis["KmsKeyId"] == key_arn


def test_artifact_and_log_buckets(deployed: Deployed) -> None:
    storage = deployed.outputs(deployed.nested()["Storage"])
    key_arn = deployed.outputs(deployed.nested()["Security"])["KeyArn"]
    s3 = deployed.client("s3")
    artifacts, logs = storage["ArtifactBucketName"], storage["LogBucketName"]
    rule = s3.get_bucket_encryption(Bucket=artifacts)["ServerSideEncryptionConfiguration"]["Rules"][
        0
    ]["ApplyServerSideEncryptionByDefault"]
    assert rule == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    rule = s3.get_bucket_encryption(Bucket=logs)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=artifacts)["TagSet"]}
    assert tags == {"Project": "aifs", "Tier": deployed.tier}
    # moto's CloudFormation keeps a bucket's encryption and tags only: the rest per tier
    # is read from the resolved template (docs/deploy.md, What moto ignores).
    bucket = deployed.resolved("Storage", "ArtifactBucket")
    versioning = "Enabled" if deployed.true("EnableVersioning") else "Suspended"
    assert bucket.get("VersioningConfiguration", {"Status": "Suspended"}) == {"Status": versioning}
    assert bucket["LoggingConfiguration"]["DestinationBucketName"] == logs
    assert set(bucket["PublicAccessBlockConfiguration"].values()) == {True}
    expiring = [r for r in bucket["LifecycleConfiguration"]["Rules"] if "ExpirationInDays" in r]
    days = int(deployed.params["ArtifactExpirationDays"])
    assert [r["ExpirationInDays"] for r in expiring] == ([days] if days else [])
    replication = bucket.get("ReplicationConfiguration")
    if deployed.true("EnableReplication"):
        assert replication is not None
        (rule,) = replication["Rules"]
        assert rule["Destination"]["Bucket"] == deployed.dr_outputs["DrBucketArn"]
        kms = rule["Destination"]["EncryptionConfiguration"]["ReplicaKmsKeyID"]
        assert kms == deployed.dr_outputs["DrKmsKeyArn"]
    else:
        assert replication is None


def test_load_balancer(deployed: Deployed) -> None:
    edge = deployed.outputs(deployed.nested()["Edge"])
    elb = deployed.client("elbv2")
    (balancer,) = elb.describe_load_balancers()["LoadBalancers"]
    assert balancer["DNSName"] == edge["LoadBalancerDnsName"]
    assert balancer["Scheme"] == "internet-facing"
    listeners = {
        item["Port"]: item
        for item in elb.describe_listeners(LoadBalancerArn=balancer["LoadBalancerArn"])["Listeners"]
    }
    blue_green = deployed.true("BlueGreen")
    assert set(listeners) == ({80, 443, 8443} if blue_green else {80, 443})
    https = listeners[443]
    assert https["ListenerArn"] == edge["HttpsListenerArn"]
    assert https["Certificates"] == [{"CertificateArn": deployed.certificate_arn}]
    assert https["SslPolicy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    assert [a["Type"] for a in listeners[80]["DefaultActions"]] == ["redirect"]
    groups = elb.describe_target_groups()["TargetGroups"]
    assert len(groups) == (2 if blue_green else 1)
    for group in groups:
        assert (group["Port"], group["HealthCheckPath"], group["TargetType"]) == (
            7860,
            "/healthz",
            "ip",
        )


def test_app_and_workers(deployed: Deployed) -> None:
    nested = deployed.nested()
    data, storage = deployed.outputs(nested["Data"]), deployed.outputs(nested["Storage"])
    ecs = deployed.client("ecs")
    params = deployed.params
    for part, image, desired in [
        ("app", APP_IMAGE, params["AppMinTasks"]),
        ("workers", WORKER_IMAGE, params["GpuWorkersMin"]),
    ]:
        outputs = deployed.outputs(nested["App" if part == "app" else "Workers"])
        assert outputs["ClusterName"] == f"aifs-{deployed.tier}-{part}"
        (service,) = ecs.describe_services(
            cluster=outputs["ClusterName"], services=[outputs["ServiceName"]]
        )["services"]
        assert service["desiredCount"] == int(desired)
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])[
            "taskDefinition"
        ]
        container = task["containerDefinitions"][0]
        assert container["image"] == image
        env = {e["name"]: e["value"] for e in container["environment"]}
        assert env["STUDIO_TIER"] == deployed.tier
        assert env["STUDIO_S3_BUCKET"] == storage["ArtifactBucketName"]
        assert env["STUDIO_S3_REGION"] == REGION
        secrets = {s["name"]: s["valueFrom"] for s in container["secrets"]}
        assert secrets["STUDIO_DATABASE_URL"] == data["DatabaseUrlSecretArn"]
        assert secrets["STUDIO_REDIS_URL"] == data["RedisUrlSecretArn"]
        assert secrets["STUDIO_SECRET_KEY"] == data["AppSecretKeyArn"]
    worker = task["containerDefinitions"][0]
    assert (worker["cpu"], worker["memoryReservation"]) == (
        int(params["WorkerCpuUnits"]),
        int(params["WorkerMemoryMiB"]),
    )
    assert worker["resourceRequirements"] == [{"type": "GPU", "value": "1"}]
    app = deployed.resolved("App", "TaskDefinition")
    assert (app["Cpu"], app["Memory"]) == (params["AppCpu"], params["AppMemory"])
    service = deployed.resolved("App", "Service")
    controller = "CODE_DEPLOY" if deployed.true("BlueGreen") else "ECS"
    assert service["DeploymentController"] == {"Type": controller}
    assert service["LaunchType"] == "FARGATE"
    (group,) = deployed.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert (
        group["AutoScalingGroupName"] == deployed.outputs(nested["Workers"])["AutoScalingGroupName"]
    )
    assert (group["MinSize"], group["MaxSize"]) == (
        int(params["GpuWorkersMin"]),
        int(params["GpuWorkersMax"]),
    )
    distribution = group["MixedInstancesPolicy"]["InstancesDistribution"]
    assert distribution["OnDemandPercentageAboveBaseCapacity"] == 100 - int(
        params["SpotPercentage"]
    )


def test_monitoring(deployed: Deployed) -> None:
    retention = int(deployed.params["LogRetentionDays"])
    logs = deployed.client("logs").describe_log_groups(logGroupNamePrefix="/aifs/")["logGroups"]
    days = {g["logGroupName"]: g.get("retentionInDays") for g in logs}
    tier = deployed.tier
    assert days == {
        f"/aifs/{tier}/app": retention,
        f"/aifs/{tier}/worker": retention,
        f"/aifs/{tier}/vpc-flow": retention,
        f"/aifs/{tier}/metrics": 7,  # the collector's EMF records only feed the metrics
    }
    dashboards = deployed.client("cloudwatch").list_dashboards()["DashboardEntries"]
    assert [d["DashboardName"] for d in dashboards] == (
        [f"aifs-{tier}"] if deployed.true("EnableDashboard") else []
    )
    topics = deployed.client("sns").list_topics()["Topics"]
    assert len(topics) == (1 if deployed.true("EnableAlarms") else 0)
    alarms = [
        p.logical_id
        for p in deployed.simulation.placeholders
        if p.resource_type == "AWS::CloudWatch::Alarm"
    ]
    assert bool(alarms) is deployed.true("EnableAlarms")


# ---- the second deploy, and the last ---------------------------------------------------------


def test_redeploy_changes_only_what_is_given(deployed: Deployed) -> None:
    """Nothing new: no change. A new app image alone: the workers keep theirs."""
    log = deploy_tier(
        deployed.tier,
        deployed.certificate_arn,
        deployed.dr_outputs,
        "--app-image",
        APP_IMAGE,
        "--worker-image",
        WORKER_IMAGE,
        "--execute",
    )
    assert f"{deployed.root}: no changes to deploy" in log
    assert deployed.stack(deployed.root)["StackStatus"] == "CREATE_COMPLETE"

    release = APP_IMAGE.replace("abc1234", "def5678")
    if deployed.tier != "testing":  # staging and production: a change set to review first
        log = deploy_tier(
            deployed.tier, deployed.certificate_arn, deployed.dr_outputs, "--app-image", release
        )
        assert "is ready for review" in log
        assert deployed.stack(deployed.root)["StackStatus"] == "CREATE_COMPLETE"
    log = deploy_tier(
        deployed.tier,
        deployed.certificate_arn,
        deployed.dr_outputs,
        "--app-image",
        release,
        "--execute",
    )
    root = deployed.stack(deployed.root)
    assert root["StackStatus"] == "UPDATE_COMPLETE", log
    given = deployed.parameters(root)
    assert (given["AppImageUri"], given["WorkerImageUri"]) == (release, WORKER_IMAGE)
    nested = deployed.nested()
    assert all(s["StackStatus"].endswith("_COMPLETE") for s in nested.values())
    ecs = deployed.client("ecs")
    for part, image in [("App", release), ("Workers", WORKER_IMAGE)]:
        outputs = deployed.outputs(nested[part])
        (service,) = ecs.describe_services(
            cluster=outputs["ClusterName"], services=[outputs["ServiceName"]]
        )["services"]
        task = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])
        assert task["taskDefinition"]["containerDefinitions"][0]["image"] == image


def test_delete_removes_the_stacks_and_keeps_what_is_retained(deployed: Deployed) -> None:
    cfn = deployed.client("cloudformation")
    nested = deployed.nested()
    key_arn = deployed.outputs(nested["Security"])["KeyArn"]
    buckets = deployed.outputs(nested["Storage"])
    root_id = deployed.stack(deployed.root)["StackId"]
    cfn.delete_stack(StackName=deployed.root)
    cfn.get_waiter("stack_delete_complete").wait(
        StackName=root_id, WaiterConfig={"Delay": 1, "MaxAttempts": 5}
    )
    assert deployed.stack(root_id)["StackStatus"] == "DELETE_COMPLETE"
    live = [s["StackName"] for s in cfn.describe_stacks()["Stacks"]]
    assert live == [], f"left behind: {live}"
    # What moto deletes is gone...
    network = deployed.outputs(nested["Network"])
    subnets = network["PublicSubnetIds"].split(",") + network["PrivateSubnetIds"].split(",")
    ec2 = deployed.client("ec2")
    remaining = ec2.describe_subnets(Filters=[{"Name": "subnet-id", "Values": subnets}])
    assert remaining["Subnets"] == []
    assert deployed.client("rds").describe_db_instances()["DBInstances"] == []
    assert deployed.client("elbv2").describe_load_balancers()["LoadBalancers"] == []
    groups = deployed.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]
    assert groups == []
    logs = deployed.client("logs").describe_log_groups(logGroupNamePrefix="/aifs/")
    assert logs["logGroups"] == []
    roles = [r["RoleName"] for r in deployed.client("iam").list_roles()["Roles"]]
    assert not [r for r in roles if r.startswith(deployed.root)]
    # ...what moto leaves behind is of the listed types (docs/deploy.md), e.g. the clusters...
    simulator = _simulator()
    assert "AWS::ECS::Cluster" in simulator.undeletable_types()
    # ...and DeletionPolicy Retain (docs/deploy.md, Secrets) keeps the key and both buckets.
    key = deployed.client("kms").describe_key(KeyId=key_arn)["KeyMetadata"]
    assert key["KeyState"] == "Enabled"
    names = {b["Name"] for b in deployed.client("s3").list_buckets()["Buckets"]}
    assert {buckets["ArtifactBucketName"], buckets["LogBucketName"]} <= names


PATCHES_USED: dict[str, set[str]] = {}


def test_every_moto_patch_is_needed(deployed: Deployed) -> None:
    """Each patch in aws_simulator.MOTO_GAPS is used by some tier: drop one moto fixed."""
    simulator = _simulator()
    used = deployed.simulation.patches_used
    assert used <= set(simulator.MOTO_GAPS)
    PATCHES_USED[deployed.tier] = set(used)
    if set(PATCHES_USED) == set(TIERS):  # the last tier of a whole run
        unused = set(simulator.MOTO_GAPS) - set[str]().union(*PATCHES_USED.values())
        assert not unused, f"moto no longer needs {sorted(unused)}: drop them"
