"""Create the studio's bucket on the dev tier's S3 server if it is missing (compose one-shot).

Reads the same STUDIO_S3_* variables as the studio; exits 0 when the bucket exists.
"""

from __future__ import annotations

import os
import sys
import time

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError


def main() -> int:
    bucket = os.environ["STUDIO_S3_BUCKET"]
    client = boto3.client(
        "s3",
        endpoint_url=os.environ["STUDIO_S3_ENDPOINT_URL"],
        region_name=os.environ.get("STUDIO_S3_REGION") or "us-east-1",
        aws_access_key_id=os.environ.get("STUDIO_S3_ACCESS_KEY_ID"),
        aws_secret_access_key=os.environ.get("STUDIO_S3_SECRET_ACCESS_KEY"),
        config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
            if bucket not in names:
                client.create_bucket(Bucket=bucket)
                print(f"created bucket {bucket}")
            else:
                print(f"bucket {bucket} exists")
            return 0
        except ClientError as exc:  # refused (credentials, name): retrying will not help
            print(f"error: cannot create bucket {bucket}: {exc}", file=sys.stderr)
            return 1
        except BotoCoreError as exc:  # not reachable yet
            if time.monotonic() > deadline:
                print(f"error: cannot create bucket {bucket}: {exc}", file=sys.stderr)
                return 1
            time.sleep(1)


if __name__ == "__main__":
    raise SystemExit(main())
