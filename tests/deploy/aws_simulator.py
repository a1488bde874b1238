"""An offline CloudFormation for deploy/aws: moto, plus the few patches it needs to run it.

moto (https://docs.getmoto.org) answers the CloudFormation, S3, EC2, RDS, ... APIs in
process and creates the resources of a template in its in-memory backends. It does not
model every resource type, and a handful of CloudFormation features it gets wrong. This
module makes both explicit:

- `unsupported_types()` lists the resource types of deploy/aws that moto cannot create,
  found by comparing the templates with moto's own registry of CloudFormation models.
  During a simulation each of them is a *placeholder*: it gets a physical id and
  attribute values shaped like AWS's (`Ref` a name, or an ARN where AWS gives one;
  `...Arn` attributes ARNs), so the stacks that read it still deploy, but nothing behind
  it exists. docs/deploy.md ("Simulated deployment")
  lists them and tests/deploy/test_aws_simulated.py keeps that list true.
- `undeletable_types()` lists the types moto creates but leaves behind when their stack is
  deleted (its models have no delete).
- `MOTO_GAPS` are CloudFormation features that moto lacks or gets wrong for these
  templates, each patched here with the reason (they are moto's limits, not the
  templates'; a patch that stops being needed fails `test_every_moto_patch_is_needed`).

It also records what the templates resolved to (`Simulation.resolved`), for the properties
moto accepts without applying, and any intrinsic function moto left unevaluated.

`simulated_aws()` is the context: moto's `mock_aws` with those patches. Inside it, boto3
clients (deploy/aws/deploy.py's among them) talk to moto. Run this file to print the
report: `.venv/bin/python -m tests.deploy.aws_simulator`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

ROOT = Path(__file__).resolve().parents[2]
AWS = ROOT / "deploy" / "aws"
TEMPLATES = [AWS / "stack.yaml", *sorted((AWS / "templates").glob("*.yaml"))]

# What moto needs to start without touching a real account or the network.
FAKE_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "eu-west-1",
    "MOTO_ALLOW_NONEXISTENT_REGION": "false",
}

# CloudFormation features moto (5.2) lacks or gets wrong on these templates; the harness
# patches each (name -> why). Each name is a function below.
MOTO_GAPS: dict[str, str] = {
    "nested_stack_outputs": (
        "Fn::GetAtt on a nested stack's Outputs.NAME is not implemented (moto's Stack has "
        "no get_cfn_attribute): every nested stack's parameters come from another's outputs"
    ),
    "fn_cidr": "Fn::Cidr is not implemented (network.yaml derives the subnets' CIDRs with it)",
    "no_value_in_lists": (
        "!Ref AWS::NoValue inside a list stays as a null item instead of removing the item "
        "(the third zone's subnet and route table in two-zone tiers)"
    ),
    "sub_dotted_attributes": (
        "Fn::Sub splits ${Resource.Attribute.Name} at every dot, so ${Database.Endpoint.Address} "
        "asks for attribute Endpoint (data.yaml's database URL secret)"
    ),
    "get_azs_region": (
        "Fn::GetAZs with an empty region answers us-east-1's zones instead of the stack's "
        "region's (network.yaml and data.yaml place subnets and replicas with it)"
    ),
    "kms_key_properties": (
        "AWS::KMS::Key Tags are read as TagKey/TagValue (the KMS API's shape) instead of "
        "CloudFormation's Key/Value, so creating a tagged key fails; its KeyPolicy is kept as "
        "an object, so DescribeKey on it fails"
    ),
    "rds_parameter_group_ref": (
        "!Ref of an AWS::RDS::DBParameterGroup returns moto's object instead of the group's "
        "name, and the DB instance that names it fails"
    ),
    "target_group_attributes": (
        "AWS::ElasticLoadBalancingV2::TargetGroup has no Fn::GetAtt (TargetGroupName, "
        "TargetGroupFullName, LoadBalancerArns)"
    ),
    "load_balancer_full_name": (
        "AWS::ElasticLoadBalancingV2::LoadBalancer's LoadBalancerFullName attribute is not "
        "implemented (the alarms and the dashboard name the load balancer by it)"
    ),
    "rds_instance_arn": (
        "AWS::RDS::DBInstance's DBInstanceArn attribute is not implemented (the AWS Backup "
        "selection of production's database names it)"
    ),
    "unchanged_parameters": (
        "change sets and updates compare the parameters as sent with those the stack was "
        "created with, so a defaulted parameter sent as UsePreviousValue (deploy.py does, as "
        "the AWS CLI does) reads as changed: an unchanged redeploy is not recognised, and an "
        "update replaces every nested stack instead of the changed ones"
    ),
    "change_set_outputs": (
        "a stack created by executing a CREATE change set keeps the empty template it was "
        "reviewed with: no Outputs and no Description (deploy.py creates stacks that way)"
    ),
}


# Intrinsic functions that produce values. The condition functions (Fn::Equals, Fn::Not...)
# are not here: moto evaluates them elsewhere and clean_json passes them through as they are.
VALUE_FUNCTIONS = {
    "Fn::GetAtt", "Fn::Sub", "Fn::Join", "Fn::If", "Fn::Select", "Fn::Split", "Fn::FindInMap",
    "Fn::ImportValue", "Fn::GetAZs", "Fn::Cidr", "Fn::Base64", "Fn::Length", "Fn::ToJsonString",
}  # fmt: skip

# Placeholder types whose `Ref` is an ARN in CloudFormation; the others' `Ref` is a name or id.
REF_IS_ARN = {
    "AWS::SecretsManager::Secret",
    "AWS::ApplicationAutoScaling::ScalingPolicy",
    "AWS::XRay::SamplingRule",
}


def template_types() -> dict[str, list[str]]:
    """Every resource type in deploy/aws -> where it is used (template:LogicalId)."""
    found: dict[str, list[str]] = {}
    for path in TEMPLATES:
        template = yaml.load(path.read_text(), Loader=_AnyTagLoader)
        for name, resource in template["Resources"].items():
            found.setdefault(resource["Type"], []).append(f"{path.name}:{name}")
    return dict(sorted(found.items()))


def unsupported_types() -> dict[str, list[str]]:
    """Resource types of deploy/aws that moto's CloudFormation cannot create (placeholders)."""
    from moto.cloudformation import parsing

    modelled = set(parsing.get_model_map()) - set(parsing.NULL_MODELS)
    return {kind: where for kind, where in template_types().items() if kind not in modelled}


def undeletable_types() -> dict[str, list[str]]:
    """Types moto creates but leaves in its backends when their stack is deleted.

    moto deletes a resource through the model's `delete` method or its
    `delete_from_cloudformation_json`; a model with neither is dropped from the stack and
    stays where it was (a VPC then stays too, its route tables and gateways still in it).
    """
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    models = parsing.get_model_map()
    found = {}
    for kind, where in template_types().items():
        model = models.get(kind)
        if model is None or kind == "AWS::CloudFormation::Stack":
            continue
        own = [vars(k) for k in model.__mro__ if k is not CloudFormationModel]
        deletes = any("delete" in v or "delete_from_cloudformation_json" in v for v in own)
        if not deletes:
            found[kind] = where
    return found


class _AnyTagLoader(yaml.SafeLoader):
    """Reads a template for its Resources' types; the intrinsic functions do not matter."""


_AnyTagLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


# ---- placeholders for what moto does not model ---------------------------------------------


@dataclass
class Placeholder:
    """A resource moto cannot create: it has ids shaped like AWS's and nothing behind them."""

    resource_type: str
    logical_id: str
    name: str
    properties: dict[str, Any]
    account_id: str
    region: str
    stack_id: str

    @property
    def arn(self) -> str:
        service, kind = (part.lower() for part in self.resource_type.split("::")[1:3])
        return f"arn:aws:{service}:{self.region}:{self.account_id}:{kind}/{self.name}"

    @property
    def physical_resource_id(self) -> str:
        """What `Ref` gives: the ARN where CloudFormation gives one, else the name."""
        return self.arn if self.resource_type in REF_IS_ARN else self.name

    def get_cfn_attribute(self, attribute: str) -> str:
        if attribute.endswith("Arn"):
            return self.arn
        if attribute == "Id":
            return self.name
        return f"{self.name}.{attribute}".lower()

    def is_created(self) -> bool:
        return True

    def delete(self, account_id: str, region_name: str) -> None:
        """Nothing to delete: nothing was created."""


@dataclass
class Simulation:
    """What one `simulated_aws()` saw: the placeholders it stood in with."""

    placeholders: list[Placeholder] = field(default_factory=list)
    patches_used: set[str] = field(default_factory=set)
    # Each created resource's properties as CloudFormation resolved them (conditions,
    # parameters, references evaluated): stack name -> logical id -> (type, properties).
    # Where moto ignores a property (S3 versioning, say) the tier's value is still here.
    resolved: dict[str, dict[str, tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    # Intrinsic functions moto left unevaluated (it logs a warning and keeps the expression
    # as the value): a template bug or a moto gap, either way the simulation is wrong there.
    unresolved: list[str] = field(default_factory=list)

    def placeholder_types(self) -> set[str]:
        return {p.resource_type for p in self.placeholders}

    def properties(self, stack: str, logical_id: str) -> dict[str, Any]:
        """The resolved properties of one resource of `stack` (a nested stack's name)."""
        return self.resolved[stack][logical_id][1]


def _placeholder_model(simulation: Simulation) -> type:
    """A moto CloudFormation model that creates `Placeholder`s, recording each."""
    from moto.core.common_models import CloudFormationModel

    class PlaceholderModel(CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "Custom::AifsSimulatorPlaceholder"  # never a real type

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return True

        @classmethod
        def create_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
            **kwargs: Any,
        ) -> Placeholder:
            properties = cloudformation_json.get("Properties", {})
            name = properties.get("Name") if isinstance(properties.get("Name"), str) else None
            placeholder = Placeholder(
                resource_type=kwargs["ResourceType"],
                logical_id=kwargs["LogicalId"],
                name=name or resource_name,
                properties=properties,
                account_id=account_id,
                region=region_name,
                stack_id=kwargs["StackId"],
            )
            simulation.placeholders.append(placeholder)
            return placeholder

        @classmethod
        def update_from_cloudformation_json(
            cls,
            original_resource: Placeholder,
            new_resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> Placeholder:
            # Keep the physical id, as an update in place does.
            original_resource.properties = cloudformation_json.get("Properties", {})
            return original_resource

        @classmethod
        def delete_from_cloudformation_json(
            cls,
            resource_name: str,
            cloudformation_json: dict[str, Any],
            account_id: str,
            region_name: str,
        ) -> None:
            return None

    return PlaceholderModel


# ---- the patches for MOTO_GAPS ---------------------------------------------------------------


def _patches(simulation: Simulation) -> list[Any]:
    from moto.cloudformation import models as cfn_models
    from moto.cloudformation import parsing
    from moto.elbv2 import models as elbv2_models
    from moto.kms import models as kms_models
    from moto.rds import models as rds_models

    placeholder_model = _placeholder_model(simulation)
    original_class_from_type = parsing.resource_class_from_type
    original_clean_json = parsing.clean_json
    original_create_key = kms_models.KmsBackend.create_key

    def resource_class_from_type(resource_type: str) -> Any:
        if resource_type in parsing.NULL_MODELS or resource_type.startswith("Custom::"):
            return original_class_from_type(resource_type)
        if resource_type not in parsing.get_model_map():
            return placeholder_model
        return original_class_from_type(resource_type)

    def clean_json(value: Any, resources_map: Any) -> Any:
        if isinstance(value, dict) and len(value.get("Fn::GetAtt") or ()) > 2:
            simulation.patches_used.add("sub_dotted_attributes")
            resource, *attribute = value["Fn::GetAtt"]
            value = {**value, "Fn::GetAtt": [resource, ".".join(attribute)]}
        if isinstance(value, dict) and "Fn::Cidr" in value:
            simulation.patches_used.add("fn_cidr")
            block, count, bits = (clean_json(item, resources_map) for item in value["Fn::Cidr"])
            network = ipaddress.ip_network(block)
            subnets = network.subnets(new_prefix=network.max_prefixlen - int(bits))
            return [str(next(subnets)) for _ in range(int(count))]
        if isinstance(value, dict) and value.get("Fn::GetAZs") in ("", {"Ref": "AWS::Region"}):
            simulation.patches_used.add("get_azs_region")
            region = resources_map.get("AWS::Region")
            return [f"{region}{zone}" for zone in "abc"]
        if isinstance(value, list):
            cleaned = []
            for item in value:
                result = clean_json(item, resources_map)
                if result is None and _may_be_no_value(item):
                    simulation.patches_used.add("no_value_in_lists")
                    continue
                cleaned.append(result)
            return cleaned
        result = original_clean_json(value, resources_map)
        if isinstance(value, dict) and isinstance(result, dict):
            left = [key for key in result if key == "Ref" or key in VALUE_FUNCTIONS]
            if left:
                stack = resources_map.get("AWS::StackName")
                simulation.unresolved.append(f"{stack}: {result}")
        return result

    original_parse_and_create = parsing.parse_and_create_resource

    def parse_and_create_resource(
        logical_id: str, resource_json: dict[str, Any], resources_map: Any, *args: Any, **kw: Any
    ) -> Any:
        resource = original_parse_and_create(logical_id, resource_json, resources_map, *args, **kw)
        if resource is not None:
            properties = clean_json(resource_json.get("Properties", {}), resources_map)
            stack = str(resources_map.get("AWS::StackName"))
            simulation.resolved.setdefault(stack, {})[logical_id] = (
                resource_json["Type"],
                properties,
            )
        return resource

    def stack_attribute(stack: Any, attribute: str) -> Any:
        if attribute.startswith("Outputs."):
            simulation.patches_used.add("nested_stack_outputs")
            output = stack.output_map.get(attribute.split(".", 1)[1])
            return output.value if output else None
        raise NotImplementedError(f"{{0}} has no attribute {attribute}")

    def create_key(backend: Any, *args: Any, **kwargs: Any) -> Any:
        # The KMS API calls it positionally, CloudFormation by keyword: bind both by name.
        names = ["policy", "key_usage", "key_spec", "description", "tags", "multi_region", "origin"]
        given = {**dict(zip(names, args, strict=False)), **kwargs}
        tags = given.get("tags")
        if tags and any("Key" in tag for tag in tags):
            simulation.patches_used.add("kms_key_properties")
            given["tags"] = [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in tags]
        if isinstance(given.get("policy"), dict):
            given["policy"] = json.dumps(given["policy"])
        return original_create_key(backend, **given)

    def parameter_group_id(group: Any) -> str:
        simulation.patches_used.add("rds_parameter_group_ref")
        return str(group.name)

    def target_group_attribute(group: Any, attribute: str) -> Any:
        simulation.patches_used.add("target_group_attributes")
        if attribute == "TargetGroupName":
            return group.name
        if attribute == "TargetGroupFullName":  # arn:...:targetgroup/NAME/ID -> targetgroup/NAME/ID
            return group.arn.split(":")[-1]
        if attribute == "LoadBalancerArns":
            return list(group.load_balancer_arns)
        if attribute == "TargetGroupArn":
            return group.arn
        raise NotImplementedError(f"{{0}} has no attribute {attribute}")

    original_lb_attribute = elbv2_models.FakeLoadBalancer.get_cfn_attribute

    def load_balancer_attribute(balancer: Any, attribute: str) -> Any:
        if attribute == "LoadBalancerFullName":  # arn:...:loadbalancer/app/NAME/ID
            simulation.patches_used.add("load_balancer_full_name")
            return balancer.arn.split(":loadbalancer/", 1)[1]
        return original_lb_attribute(balancer, attribute)

    original_db_attribute = rds_models.DBInstance.get_cfn_attribute

    def db_attribute(instance: Any, attribute: str) -> Any:
        if attribute == "DBInstanceArn":
            simulation.patches_used.add("rds_instance_arn")
            return instance.arn
        return original_db_attribute(instance, attribute)

    original_execute = cfn_models.CloudFormationBackend.execute_change_set

    def execute_change_set(backend: Any, change_set_name: str, stack_name: Any = None) -> None:
        original_execute(backend, change_set_name, stack_name)
        for stack in backend.stacks.values():
            if stack.template and not stack.template_dict:
                simulation.patches_used.add("change_set_outputs")
                stack._parse_template()
                stack.description = stack.template_dict.get("Description")
                stack.output_map = stack._create_output_map()

    def has_parameters(stack: Any, other: dict[str, Any]) -> bool:
        simulation.patches_used.add("unchanged_parameters")
        current = stack.resource_map.resolved_parameters
        declared = stack.template_dict.get("Parameters", {})
        for key in set(current) | set(other):
            new = other[key] if key in other else declared.get(key, {}).get("Default")
            if _plain(new) != _plain(current.get(key)):
                return False
        return True

    original_diff = parsing.ResourceMap.build_resource_diff

    def build_resource_diff(
        resource_map: Any, other_template: dict[str, Any], parameters: Any = None
    ) -> dict[str, Any]:
        if parameters:
            current = resource_map.resolved_parameters
            parameters = {
                key: value
                for key, value in parameters.items()
                if _plain(value) != _plain(current.get(key))
            }
        return original_diff(resource_map, other_template, parameters)

    return [
        mock.patch.object(parsing, "resource_class_from_type", resource_class_from_type),
        mock.patch.object(parsing, "clean_json", clean_json),
        mock.patch.object(parsing, "parse_and_create_resource", parse_and_create_resource),
        mock.patch.object(cfn_models.Stack, "get_cfn_attribute", stack_attribute, create=True),
        mock.patch.object(kms_models.KmsBackend, "create_key", create_key),
        mock.patch.object(
            rds_models.DBParameterGroup,
            "physical_resource_id",
            property(parameter_group_id),
            create=True,
        ),
        mock.patch.object(
            elbv2_models.FakeTargetGroup, "get_cfn_attribute", target_group_attribute, create=True
        ),
        mock.patch.object(
            elbv2_models.FakeLoadBalancer, "get_cfn_attribute", load_balancer_attribute
        ),
        mock.patch.object(rds_models.DBInstance, "get_cfn_attribute", db_attribute),
        mock.patch.object(
            cfn_models.CloudFormationBackend, "execute_change_set", execute_change_set
        ),
        mock.patch.object(cfn_models.Stack, "has_parameters", has_parameters),
        mock.patch.object(parsing.ResourceMap, "build_resource_diff", build_resource_diff),
    ]


def _plain(value: Any) -> str:
    """A parameter value as CloudFormation compares it: text, lists joined by commas."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "" if value is None else str(value)


def _may_be_no_value(item: Any) -> bool:
    """An item that CloudFormation drops from its list when it resolves to AWS::NoValue."""
    return isinstance(item, dict) and ("Fn::If" in item or item.get("Ref") == "AWS::NoValue")


@contextlib.contextmanager
def simulated_aws() -> Iterator[Simulation]:
    """moto's mock_aws with the MOTO_GAPS patches; fake credentials, no network."""
    from moto import mock_aws

    simulation = Simulation()
    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.dict(os.environ, FAKE_ENVIRONMENT))
        for key in list(os.environ):  # restored on exit by patch.dict
            # An endpoint would send boto3 past moto; a profile would ask for its file.
            if key.startswith("AWS_ENDPOINT_URL") or key == "AWS_PROFILE":
                del os.environ[key]
        for patch in _patches(simulation):
            stack.enter_context(patch)
        stack.enter_context(mock_aws())
        yield simulation


if __name__ == "__main__":
    print("Resource types of deploy/aws that moto cannot create (placeholders):")
    for kind, where in unsupported_types().items():
        print(f"  {kind:48} {', '.join(where)}")
    print("Resource types moto creates but does not delete with their stack:")
    for kind in undeletable_types():
        print(f"  {kind}")
    print("moto gaps patched by the simulation:")
    for name, why in MOTO_GAPS.items():
        print(f"  {name}: {why}")
