"""Prints, as JSON, how AWS SAM wires template.yaml once transformed (AWS's own translator, the
aws-sam-translator of the pinned aws-sam-cli, offline): what each HTTP route, schedule and
permission invokes, each API's routes and stages, and each function's CodeDeploy deployment group.
tests/template.rs reads it.

    sam_wiring.py TEMPLATE
"""

import json
import logging
import os
import sys

from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse


class NoManagedPolicies:
    """The template names no managed policy, so nothing is looked up in IAM."""

    def load(self):
        return {}


def invoked(value):
    """The resource a `Ref`, `Fn::GetAtt` or `Fn::Sub` string names as the function invoked."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
        if "Fn::Sub" in value:
            text = value["Fn::Sub"] if isinstance(value["Fn::Sub"], str) else value["Fn::Sub"][0]
            if "/functions/${" in text:
                return text.split("/functions/${", 1)[1].split("}", 1)[0]
    return None


def main():
    logging.disable(logging.WARNING)
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    template = yaml_parse(open(sys.argv[1]).read())
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/key"  # a built artifact's place
    resources = transform(template, {}, NoManagedPolicies())["Resources"]
    wiring = {"routes": {}, "schedules": {}, "permissions": {}, "deployment_groups": {}, "aliases": {},
              "api_routes": {}, "stages": {}}
    for name, resource in resources.items():
        kind, props = resource["Type"], resource.get("Properties", {})
        if kind == "AWS::ApiGatewayV2::Api":
            for path, methods in props["Body"]["paths"].items():
                for method, spec in methods.items():
                    uri = spec["x-amazon-apigateway-integration"]["uri"]
                    wiring["routes"][f"{method} {path}"] = invoked(uri)
                    wiring["api_routes"].setdefault(name, []).append(path)
        elif kind == "AWS::ApiGatewayV2::Stage":
            # Which API the stage serves, and its name (a parameter's Ref, or a literal).
            wiring["stages"][name] = {"api": props["ApiId"]["Ref"], "name": props["StageName"]}
        elif kind == "AWS::Events::Rule" and "ScheduleExpression" in props:
            wiring["schedules"][name] = [invoked(t["Arn"]) for t in props["Targets"]]
        elif kind == "AWS::Events::Rule":
            # A rule on the orders bus (the example consumers): its pattern and targets' ARNs.
            wiring.setdefault("bus_rules", {})[name] = props.get("EventPattern")
        elif kind == "AWS::Lambda::Permission":
            wiring["permissions"][name] = invoked(props["FunctionName"])
        elif kind == "AWS::Lambda::Alias":
            wiring["aliases"][name] = {"function": invoked(props["FunctionName"]), "name": props["Name"]}
        elif kind == "AWS::CodeDeploy::DeploymentGroup":
            wiring["deployment_groups"][name] = {
                "alarms": [a["Name"]["Ref"] for a in props["AlarmConfiguration"]["Alarms"]],
                "alarms_enabled": props["AlarmConfiguration"]["Enabled"],
                "auto_rollback": props["AutoRollbackConfiguration"]["Events"],
                "config": props["DeploymentConfigName"],
            }
    print(json.dumps(wiring, indent=1, sort_keys=True))


main()
