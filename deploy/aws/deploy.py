"""Deploy one tier's CloudFormation stack: package the nested templates, then deploy.

    python deploy/aws/deploy.py TIER --template-bucket BUCKET [--app-image URI]
        [--worker-image URI] [--certificate-arn ARN] [--alarm-email ADDRESS]
        [--dr-bucket-arn ARN --dr-kms-key-arn ARN --dr-backup-vault-arn ARN]
        [--param KEY=VALUE]... [--region REGION] [--stack-name NAME] [--endpoint-url URL]
        [--execute] [--dry-run]
    python deploy/aws/deploy.py dr --template-bucket BUCKET --region DR_REGION

It merges deploy/aws/params/TIER.json (the tier's sizing, reviewed in git) with the values
that belong to one account or one release (image URIs, certificate, DR resources), then,
with boto3 (the studio's own dependency, so the AWS CLI is not needed):

1. packages: every template is read (CloudFormation's short forms, !Ref, !GetAtt...,
   become long forms), written as JSON and uploaded to s3://BUCKET/STACK/templates/ under
   a name that carries a hash of its content; the root template's local TemplateURLs are
   replaced by those objects' URLs. This is what `aws cloudformation package` does.
2. deploys through a change set, as `aws cloudformation deploy` does: CREATE for a new
   stack, UPDATE otherwise. A parameter that is not given keeps its current value on an
   existing stack (UsePreviousValue), so `--app-image` may be left out of an
   infrastructure-only update; in production it should be: releases there go through
   CodeDeploy (docs/deploy.md). A change set without changes is not an error.

testing executes its change set at once; staging and production only create it, to review,
unless `--execute` is given. `--dry-run` prints the merged parameters and the plan and
touches nothing. `--endpoint-url` points boto3 at another CloudFormation and S3 (the
simulated deployment in tests/deploy/test_aws_simulated.py drives this module in moto).
There is no stack for the dev tier: dev runs locally (`make run`). `dr` deploys
templates/dr.yaml alone (stack aifs-production-dr), in the DR region, and prints the three
ARNs that `deploy.py production` needs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
STACK = HERE / "stack.yaml"
DR_TEMPLATE = HERE / "templates" / "dr.yaml"
TIERS = ("testing", "staging", "production")
AUTO_EXECUTE = {"testing", "dr"}  # testing deploys from develop; dr has nothing to review yet
DR_PARAMETERS = {
    "EnableReplication": ("DrBucketArn", "DrKmsKeyArn"),
    "EnableDrBackupCopy": ("DrBackupVaultArn", "DrKmsKeyArn"),
}
CAPABILITIES = ["CAPABILITY_IAM"]
# How long to wait for CloudFormation: a first deploy takes 30-60 minutes (RDS Multi-AZ
# and ElastiCache are the slow parts); the waiters poll every STACK_POLL_SECONDS.
STACK_POLL_SECONDS = 30
STACK_WAIT_MINUTES = 120
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")

Say = Callable[[str], None]


class DeployError(Exception):
    """A problem the person deploying can fix; printed without a traceback."""


def load_params(path: Path) -> dict[str, str]:
    """Read a CloudFormation parameter file ([{"ParameterKey": ..., "ParameterValue": ...}])."""
    data = json.loads(path.read_text())
    if not isinstance(data, list):
        raise DeployError(f"{path}: expected a list of ParameterKey/ParameterValue objects")
    params: dict[str, str] = {}
    for item in data:
        key, value = item.get("ParameterKey"), item.get("ParameterValue")
        if not isinstance(key, str) or not isinstance(value, str):
            raise DeployError(f"{path}: every entry needs string ParameterKey and ParameterValue")
        if key in params:
            raise DeployError(f"{path}: {key} is set twice")
        params[key] = value
    return params


def merge(tier: str, args: argparse.Namespace) -> dict[str, str]:
    """The tier file plus the release/account values given on the command line."""
    params = load_params(HERE / "params" / f"{tier}.json")
    if params.get("Tier") != tier:
        raise DeployError(f"params/{tier}.json sets Tier={params.get('Tier')!r}")
    given = {
        "AppImageUri": args.app_image,
        "WorkerImageUri": args.worker_image,
        "CertificateArn": args.certificate_arn,
        "AlarmEmail": args.alarm_email,
        "DrBucketArn": args.dr_bucket_arn,
        "DrKmsKeyArn": args.dr_kms_key_arn,
        "DrBackupVaultArn": args.dr_backup_vault_arn,
    }
    params.update({key: value for key, value in given.items() if value is not None})
    params.update(parse_overrides(args.param))
    for switch, needed in DR_PARAMETERS.items():
        missing = [name for name in needed if not params.get(name)]
        if params.get(switch) == "true" and missing:
            raise DeployError(
                f"{tier} sets {switch}=true: give {', '.join(missing)} (the outputs of "
                "`deploy.py dr`, deployed in the DR region first; see docs/deploy.md)"
            )
    return params


def parse_overrides(items: list[str]) -> dict[str, str]:
    given: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(f"--param {item!r}: expected KEY=VALUE")
        given[key] = value
    return given


# ---- templates ---------------------------------------------------------------------------


class _CfnLoader(yaml.SafeLoader):
    """YAML loader for CloudFormation: short forms (!Ref, !Sub, ...) become long forms."""


def _cfn_tag(loader: _CfnLoader, suffix: str, node: yaml.Node) -> Any:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "GetAtt" and isinstance(value, str):
        # "Stack.Outputs.Name" is [Stack, "Outputs.Name"]: split at the first dot only.
        return {"Fn::GetAtt": value.split(".", 1)}
    if suffix == "Condition":
        return {"Condition": value}
    return {f"Fn::{suffix}": value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path) -> dict[str, Any]:
    """A template as CloudFormation reads it (long forms only), ready to dump as JSON."""
    template = yaml.load(path.read_text(), Loader=_CfnLoader)  # a SafeLoader subclass
    if not isinstance(template, dict) or "Resources" not in template:
        raise DeployError(f"{path}: not a CloudFormation template")
    return template


def nested_stacks(template: dict[str, Any]) -> dict[str, str]:
    """Logical id -> local TemplateURL of each nested stack still to be packaged."""
    found: dict[str, str] = {}
    for name, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::CloudFormation::Stack":
            continue
        url = resource.get("Properties", {}).get("TemplateURL")
        if isinstance(url, str) and not url.startswith(("https://", "http://", "s3://")):
            found[name] = url
    return found


def s3_url(region: str, bucket: str, key: str) -> str:
    """The path-style URL CloudFormation reads a template from (as the AWS CLI writes it)."""
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    host = f"s3.{suffix}" if region == "us-east-1" else f"s3.{region}.{suffix}"
    return f"https://{host}/{bucket}/{key}"


def upload(s3: Any, bucket: str, prefix: str, stem: str, template: dict[str, Any]) -> str:
    """Put one template in the bucket under a content-addressed name; return its URL."""
    body = (json.dumps(template, indent=1) + "\n").encode()
    key = f"{prefix}/{stem}-{hashlib.sha256(body).hexdigest()[:16]}.json"
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return s3_url(s3.meta.region_name, bucket, key)


def package(s3: Any, bucket: str, prefix: str, path: Path = STACK) -> str:
    """Upload the nested templates and the rewritten root template; the root's URL."""
    root = load_template(path)
    for name, local in nested_stacks(root).items():
        nested_path = (path.parent / local).resolve()
        nested = load_template(nested_path)
        if nested_stacks(nested):  # one level is all stack.yaml uses; say so if that changes
            raise DeployError(f"{local}: nested stacks inside nested stacks are not packaged")
        url = upload(s3, bucket, prefix, nested_path.stem, nested)
        root["Resources"][name]["Properties"]["TemplateURL"] = url
    return upload(s3, bucket, prefix, path.stem, root)


# ---- change sets ---------------------------------------------------------------------------


def existing_stack(cfn: Any, stack: str) -> dict[str, Any] | None:
    from botocore.exceptions import ClientError

    try:
        stacks: list[dict[str, Any]] = cfn.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return stacks[0] if stacks else None


def change_set_parameters(
    declared: list[str], params: dict[str, str], current: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Given values, plus UsePreviousValue for what an existing stack already has."""
    previous = {p["ParameterKey"] for p in (current or {}).get("Parameters", [])}
    result: list[dict[str, Any]] = []
    for key in declared:
        if key in params:
            result.append({"ParameterKey": key, "ParameterValue": params[key]})
        elif key in previous:
            result.append({"ParameterKey": key, "UsePreviousValue": True})
    unknown = sorted(set(params) - set(declared))
    if unknown:
        raise DeployError(f"the template has no parameter {', '.join(unknown)}")
    return result


def deploy_stack(
    cfn: Any,
    stack: str,
    template_url: str,
    declared: list[str],
    params: dict[str, str],
    tags: dict[str, str],
    execute: bool,
    say: Say = print,
) -> dict[str, Any] | None:
    """Create and (if `execute`) run a change set; the stack afterwards, or None if unchanged.

    Raises DeployError when the change set cannot be made or the stack ends failed.
    """
    from botocore.exceptions import WaiterError

    current = existing_stack(cfn, stack)
    status = current["StackStatus"] if current else None
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"{stack} failed its first create (ROLLBACK_COMPLETE) and cannot be updated: "
            f"delete it (aws cloudformation delete-stack --stack-name {stack}) and deploy again"
        )
    if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise DeployError(f"{stack} is busy ({status}); wait for it to finish")
    kind = "CREATE" if status in (None, "REVIEW_IN_PROGRESS") else "UPDATE"
    name = f"{stack}-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}"
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateURL=template_url,
        Parameters=change_set_parameters(declared, params, current if kind == "UPDATE" else None),
        Capabilities=CAPABILITIES,
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
    )
    say(f"change set {name} ({kind}) on {stack}: waiting for it to be computed")
    try:
        cfn.get_waiter("change_set_create_complete").wait(
            StackName=stack, ChangeSetName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
        )
    except WaiterError as exc:
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        reason = described.get("StatusReason", "")
        if described.get("Status") == "FAILED" and any(text in reason for text in NO_CHANGES):
            cfn.delete_change_set(StackName=stack, ChangeSetName=name)
            say(f"{stack}: no changes to deploy")
            return None
        raise DeployError(f"change set {name} failed: {reason or exc}") from exc
    changes = cfn.describe_change_set(StackName=stack, ChangeSetName=name).get("Changes", [])
    for change in changes:
        item = change.get("ResourceChange", {})
        action, logical = item.get("Action", "?"), item.get("LogicalResourceId")
        say(f"  {action:8} {logical} ({item.get('ResourceType')})")
    if not execute:
        say(
            f"change set {name} is ready for review (console, or aws cloudformation "
            f"describe-change-set --stack-name {stack} --change-set-name {name}); execute it "
            "there or run this command again with --execute"
        )
        pending: dict[str, Any] = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        return pending
    cfn.execute_change_set(StackName=stack, ChangeSetName=name)
    say(f"{stack}: executing {name}; a first deploy takes 30-60 minutes")
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(
            StackName=stack,
            WaiterConfig={
                "Delay": STACK_POLL_SECONDS,
                "MaxAttempts": STACK_WAIT_MINUTES * 60 // STACK_POLL_SECONDS,
            },
        )
    except WaiterError as exc:
        raise DeployError(f"{stack} did not deploy:\n{failure_events(cfn, stack)}") from exc
    result: dict[str, Any] = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    say(f"{stack}: {result['StackStatus']}")
    for output in result.get("Outputs", []):
        say(f"  {output['OutputKey']} = {output['OutputValue']}")
    return result


def failure_events(cfn: Any, stack: str, limit: int = 20) -> str:
    """The failed resources' reasons, newest first: what a person looks for first."""
    events = cfn.describe_stack_events(StackName=stack).get("StackEvents", [])
    failed = [e for e in events if str(e.get("ResourceStatus", "")).endswith("_FAILED")]
    lines = [
        f"  {e.get('LogicalResourceId')} {e.get('ResourceStatus')}: {e.get('ResourceStatusReason')}"
        for e in failed[:limit]
    ]
    return "\n".join(lines) or "  (no failed resource events)"


# ---- command line --------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "tier", help="testing, staging or production (dev has no AWS stack); dr: the DR stack"
    )
    parser.add_argument("--template-bucket", required=True, help="S3 bucket for packaged templates")
    parser.add_argument("--app-image", help="app image URI (deploy/Dockerfile.app)")
    parser.add_argument("--worker-image", help="worker image URI (deploy/Dockerfile.worker)")
    parser.add_argument("--certificate-arn", help="ACM certificate of the app's domain")
    parser.add_argument("--alarm-email", help="address for alarm notifications")
    parser.add_argument("--dr-bucket-arn", help="DrBucketArn output of `deploy.py dr`")
    parser.add_argument("--dr-kms-key-arn", help="DrKmsKeyArn output of `deploy.py dr`")
    parser.add_argument("--dr-backup-vault-arn", help="DrBackupVaultArn output of `deploy.py dr`")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--region")
    parser.add_argument("--stack-name", help="default: aifs-TIER (dr: aifs-production-dr)")
    parser.add_argument(
        "--endpoint-url", help="CloudFormation and S3 endpoint (a simulator); default: AWS"
    )
    parser.add_argument(
        "--execute", action="store_true", help="staging/production: apply the change set"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would run")
    return parser.parse_args(argv)


def stack_name(args: argparse.Namespace) -> str:
    if args.stack_name:
        return str(args.stack_name)
    return "aifs-production-dr" if args.tier == "dr" else f"aifs-{args.tier}"


def plan(args: argparse.Namespace) -> list[str]:
    """What a run does, in words (--dry-run prints it)."""
    stack = stack_name(args)
    template = DR_TEMPLATE if args.tier == "dr" else STACK
    nested = len(nested_stacks(load_template(template)))
    execute = args.execute or args.tier in AUTO_EXECUTE
    where = f" in {args.region}" if args.region else ""
    return [
        f"package {template.relative_to(HERE)}"
        + (f" and {nested} nested templates" if nested else "")
        + f" as JSON to s3://{args.template_bucket}/{stack}/templates/",
        f"change set on stack {stack}{where} (capabilities {', '.join(CAPABILITIES)}; "
        f"tags Project=ai-film-studio Tier={'production' if args.tier == 'dr' else args.tier})"
        + (", executed at once" if execute else ", left for review (--execute applies it)"),
    ]


def run(
    args: argparse.Namespace, params: dict[str, str], say: Say = print
) -> dict[str, Any] | None:
    """Package and deploy with boto3; the stack's description afterwards (None: unchanged)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return _run(args, params, say)
    except (BotoCoreError, ClientError) as exc:  # credentials, a missing bucket, a refusal
        raise DeployError(str(exc)) from exc


def _run(args: argparse.Namespace, params: dict[str, str], say: Say) -> dict[str, Any] | None:
    import boto3

    session = boto3.session.Session(region_name=args.region)
    clients = {"endpoint_url": args.endpoint_url} if args.endpoint_url else {}
    s3 = session.client("s3", **clients)
    cfn = session.client("cloudformation", **clients)
    stack = stack_name(args)
    template = DR_TEMPLATE if args.tier == "dr" else STACK
    say(f"packaging {template.name} to s3://{args.template_bucket}/{stack}/templates/")
    url = package(s3, args.template_bucket, f"{stack}/templates", template)
    declared = list(load_template(template).get("Parameters", {}))
    tier = "production" if args.tier == "dr" else args.tier
    return deploy_stack(
        cfn,
        stack,
        url,
        declared,
        params,
        {"Project": "ai-film-studio", "Tier": tier},
        execute=args.execute or args.tier in AUTO_EXECUTE,
        say=say,
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tier == "dev":
        print("error: dev has no AWS stack; it runs locally (make run)", file=sys.stderr)
        return 2
    if args.tier not in (*TIERS, "dr"):
        print(
            f"error: unknown tier {args.tier!r}; expected one of {', '.join(TIERS)} or dr",
            file=sys.stderr,
        )
        return 2
    try:
        params = parse_overrides(args.param) if args.tier == "dr" else merge(args.tier, args)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if params.get("BlueGreen") == "true" and args.app_image:
        print(
            "warning: BlueGreen is on: a new AppImageUri only works when the stack is first "
            "created; later releases go through CodeDeploy (docs/deploy.md, Releasing)",
            file=sys.stderr,
        )
    if args.dry_run:
        print(json.dumps(params, indent=2))
        for step in plan(args):
            print(step)
        return 0
    try:
        run(args, params)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
