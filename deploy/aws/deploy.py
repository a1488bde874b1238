"""Deploy one tier's CloudFormation stack: package the nested templates, then deploy.

    python deploy/aws/deploy.py TIER --template-bucket BUCKET [--app-image URI]
        [--worker-image URI] [--certificate-arn ARN] [--alarm-email ADDRESS]
        [--dr-bucket-arn ARN --dr-kms-key-arn ARN --dr-backup-vault-arn ARN]
        [--param KEY=VALUE]... [--region REGION] [--stack-name NAME] [--execute] [--dry-run]

It merges deploy/aws/params/TIER.json (the tier's sizing, reviewed in git) with the values
that belong to one account or one release (image URIs, certificate, DR resources), writes
the result as a CloudFormation parameter file and runs, with AWS CLI v2:

    aws cloudformation package --template-file deploy/aws/stack.yaml --s3-bucket BUCKET ...
    aws cloudformation deploy --template-file <packaged> --stack-name aifs-TIER \
        --parameter-overrides file://<merged.json> --capabilities CAPABILITY_IAM ...

A parameter that is not given keeps its current value on an existing stack (the CLI sends
UsePreviousValue), so `--app-image` may be left out of an infrastructure-only update; in
production it should be: releases there go through CodeDeploy (docs/deploy.md).

testing deploys at once; staging and production only create a change set to review unless
`--execute` is given. `--dry-run` prints the commands and the merged parameters and runs
nothing. There is no stack for the dev tier: dev runs locally (`make run`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIERS = ("testing", "staging", "production")
AUTO_EXECUTE = {"testing"}  # deployed automatically from develop; the others are manual
DR_PARAMETERS = {
    "EnableReplication": ("DrBucketArn", "DrKmsKeyArn"),
    "EnableDrBackupCopy": ("DrBackupVaultArn", "DrKmsKeyArn"),
}


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
    for item in args.param:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise DeployError(f"--param {item!r}: expected KEY=VALUE")
        given[key] = value
    params.update({key: value for key, value in given.items() if value is not None})
    for switch, needed in DR_PARAMETERS.items():
        missing = [name for name in needed if not params.get(name)]
        if params.get(switch) == "true" and missing:
            raise DeployError(
                f"{tier} sets {switch}=true: give {', '.join(missing)} (the outputs of "
                "templates/dr.yaml, deployed in the DR region first; see docs/deploy.md)"
            )
    return params


def commands(
    tier: str, args: argparse.Namespace, params_file: str, packaged: str
) -> list[list[str]]:
    region = ["--region", args.region] if args.region else []
    stack = args.stack_name or f"aifs-{tier}"
    package = [
        "aws", "cloudformation", "package",
        "--template-file", str(HERE / "stack.yaml"),
        "--s3-bucket", args.template_bucket,
        "--s3-prefix", f"{stack}/templates",
        "--output-template-file", packaged,
        *region,
    ]  # fmt: skip
    deploy = [
        "aws", "cloudformation", "deploy",
        "--template-file", packaged,
        "--stack-name", stack,
        "--parameter-overrides", f"file://{params_file}",
        "--capabilities", "CAPABILITY_IAM",
        "--tags", "Project=ai-film-studio", f"Tier={tier}",
        "--no-fail-on-empty-changeset",
        *region,
    ]  # fmt: skip
    if not (args.execute or tier in AUTO_EXECUTE):
        deploy.append("--no-execute-changeset")
    return [package, deploy]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("tier", help="testing, staging or production (dev has no AWS stack)")
    parser.add_argument("--template-bucket", required=True, help="S3 bucket for packaged templates")
    parser.add_argument("--app-image", help="app image URI (deploy/Dockerfile.app)")
    parser.add_argument("--worker-image", help="worker image URI (deploy/Dockerfile.worker)")
    parser.add_argument("--certificate-arn", help="ACM certificate of the app's domain")
    parser.add_argument("--alarm-email", help="address for alarm notifications")
    parser.add_argument("--dr-bucket-arn", help="DrBucketArn output of templates/dr.yaml")
    parser.add_argument("--dr-kms-key-arn", help="DrKmsKeyArn output of templates/dr.yaml")
    parser.add_argument(
        "--dr-backup-vault-arn", help="DrBackupVaultArn output of templates/dr.yaml"
    )
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--region")
    parser.add_argument("--stack-name", help="default: aifs-TIER")
    parser.add_argument(
        "--execute", action="store_true", help="staging/production: apply the change set"
    )
    parser.add_argument("--dry-run", action="store_true", help="print what would run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.tier == "dev":
        print("error: dev has no AWS stack; it runs locally (make run)", file=sys.stderr)
        return 2
    if args.tier not in TIERS:
        print(
            f"error: unknown tier {args.tier!r}; expected one of {', '.join(TIERS)}",
            file=sys.stderr,
        )
        return 2
    try:
        params = merge(args.tier, args)
    except DeployError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if params.get("BlueGreen") == "true" and args.app_image:
        print(
            "warning: BlueGreen is on: a new AppImageUri only works when the stack is first "
            "created; later releases go through CodeDeploy (docs/deploy.md, Releasing)",
            file=sys.stderr,
        )
    with tempfile.TemporaryDirectory(prefix="aifs-deploy-") as tmp:
        params_file = str(Path(tmp) / "parameters.json")
        packaged = str(Path(tmp) / "packaged.yaml")
        body = [{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()]
        Path(params_file).write_text(json.dumps(body, indent=2) + "\n")
        steps = commands(args.tier, args, params_file, packaged)
        if args.dry_run:
            print(json.dumps(params, indent=2))
            for step in steps:
                print(shlex.join(step))
            return 0
        for step in steps:
            print("+", shlex.join(step), flush=True)
            result = subprocess.run(step, check=False)
            if result.returncode != 0:
                return result.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
