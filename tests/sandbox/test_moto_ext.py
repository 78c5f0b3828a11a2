"""The sandbox AWS deploys CloudFormation through change sets as AWS does (sandbox/moto_ext).

Every stack goes the way the deploy code sends it: CreateChangeSet → wait for the change set →
ExecuteChangeSet → wait for the stack → DescribeStacks. Names are unique per test: the moto
server is shared by the whole session.
"""

from __future__ import annotations

import json
import uuid

import boto3
import pytest
from botocore.exceptions import ClientError, WaiterError

HOME = "us-east-1"
PEER = "eu-central-1"
FAST = {"Delay": 1, "MaxAttempts": 20}


@pytest.fixture(scope="module")
def aws(sandbox_aws):
    def client(service: str, region: str = HOME):
        return boto3.client(
            service,
            endpoint_url=sandbox_aws,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    return client


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def params(**values: str) -> list[dict[str, str]]:
    return [{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()]


def create_change_set(cfn, stack: str, template: dict, *, kind: str, parameters=()) -> dict:
    name = unique("cs")
    cfn.create_change_set(
        StackName=stack,
        ChangeSetName=name,
        ChangeSetType=kind,
        TemplateBody=json.dumps(template),
        Parameters=list(parameters),
    )
    try:
        cfn.get_waiter("change_set_create_complete").wait(StackName=stack, ChangeSetName=name, WaiterConfig=FAST)
    except WaiterError:
        pass  # a FAILED change set: the caller looks at it
    return cfn.describe_change_set(StackName=stack, ChangeSetName=name)


def deploy(cfn, stack: str, template: dict, *, kind: str = "CREATE", parameters=()) -> dict:
    """Change set, execute, wait: what the deploy code does. Returns the stack description."""
    change_set = create_change_set(cfn, stack, template, kind=kind, parameters=parameters)
    assert change_set["Status"] == "CREATE_COMPLETE", change_set.get("StatusReason")
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    waiter = "stack_create_complete" if kind == "CREATE" else "stack_update_complete"
    try:
        cfn.get_waiter(waiter).wait(StackName=stack, WaiterConfig=FAST)
    except WaiterError:
        described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
        failed = [
            (e["LogicalResourceId"], e.get("ResourceStatusReason"))
            for e in cfn.describe_stack_events(StackName=stack)["StackEvents"]
            if e["ResourceStatus"].endswith("_FAILED")
        ]
        raise AssertionError(f"{described['StackStatus']}: {described.get('StackStatusReason')} {failed}") from None
    return cfn.describe_stacks(StackName=stack)["Stacks"][0]


def outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def changes(change_set: dict) -> dict[str, dict]:
    return {c["ResourceChange"]["LogicalResourceId"]: c["ResourceChange"] for c in change_set["Changes"]}


def queue_template(export: str | None = None) -> dict:
    output = {"Value": {"Ref": "Queue"}}
    if export:
        output["Export"] = {"Name": export}
    return {
        "Parameters": {"Suffix": {"Type": "String", "Default": "a"}},
        "Resources": {
            "Queue": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"QueueName": {"Fn::Sub": "${AWS::StackName}-${Suffix}"}},
            },
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"DisplayName": "unchanged"}},
        },
        "Outputs": {
            "QueueUrl": output,
            "QueueArn": {"Value": {"Fn::GetAtt": ["Queue", "Arn"]}},
            "TopicArn": {"Value": {"Fn::GetAtt": ["Topic", "TopicArn"]}},
            "Suffix": {"Value": {"Ref": "Suffix"}},
        },
    }


# --- change sets ----------------------------------------------------------------------------


def test_create_change_set_lists_adds_and_the_stack_gets_outputs_and_exports(aws):
    cfn = aws("cloudformation")
    stack, export = unique("cs-create"), unique("export")

    change_set = create_change_set(cfn, stack, queue_template(export), kind="CREATE")
    assert change_set["Status"] == "CREATE_COMPLETE"
    assert change_set["ExecutionStatus"] == "AVAILABLE"
    assert {(c["Action"], c["ResourceType"]) for c in changes(change_set).values()} == {
        ("Add", "AWS::SQS::Queue"),
        ("Add", "AWS::SNS::Topic"),
    }
    assert cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"] == "REVIEW_IN_PROGRESS"

    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig=FAST)
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]

    assert described["StackStatus"] == "CREATE_COMPLETE"
    out = outputs(described)
    assert out["QueueUrl"].endswith(f"/{stack}-a")
    assert out["QueueArn"].endswith(f":{stack}-a")
    assert out["TopicArn"].startswith("arn:aws:sns:us-east-1:")
    assert out["Suffix"] == "a"
    assert {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]} == {"Suffix": "a"}
    assert {e["Name"]: e["Value"] for e in cfn.list_exports()["Exports"]}[export] == out["QueueUrl"]
    resources = cfn.describe_stack_resources(StackName=stack)["StackResources"]
    assert {r["LogicalResourceId"] for r in resources} == {"Queue", "Topic"}

    # Another stack imports the export, also through a change set.
    importer = unique("cs-import")
    imported = deploy(
        cfn,
        importer,
        {
            "Resources": {
                "Param": {
                    "Type": "AWS::SSM::Parameter",
                    "Properties": {"Type": "String", "Value": {"Fn::ImportValue": export}},
                }
            },
            "Outputs": {"Imported": {"Value": {"Fn::ImportValue": export}}},
        },
    )
    assert outputs(imported)["Imported"] == out["QueueUrl"]


def test_update_change_set_lists_modifications_and_updates_outputs(aws):
    cfn = aws("cloudformation")
    stack = unique("cs-update")
    deploy(cfn, stack, queue_template(), parameters=params(Suffix="a"))

    template = queue_template()
    template["Resources"]["Topic"]["Properties"]["DisplayName"] = "changed"
    template["Resources"]["Extra"] = {"Type": "AWS::SQS::Queue", "DeletionPolicy": "Retain"}
    template["Outputs"]["Extra"] = {"Value": {"Fn::GetAtt": ["Extra", "QueueName"]}}
    change_set = create_change_set(cfn, stack, template, kind="UPDATE", parameters=params(Suffix="b"))

    assert change_set["Status"] == "CREATE_COMPLETE"
    listed = changes(change_set)
    assert set(listed) == {"Queue", "Topic", "Extra"}
    queue, topic, extra = listed["Queue"], listed["Topic"], listed["Extra"]
    assert (queue["Action"], queue["Replacement"]) == ("Modify", "True")  # QueueName follows the parameter
    assert queue["Details"][0]["ChangeSource"] == "ParameterReference"
    assert queue["Details"][0]["Target"] == {
        "Attribute": "Properties",
        "Name": "QueueName",
        "RequiresRecreation": "Always",
    }
    assert queue["PhysicalResourceId"].endswith(f"/{stack}-a")
    assert (topic["Action"], topic["Replacement"], topic["Scope"]) == ("Modify", "False", ["Properties"])
    assert topic["Details"][0]["ChangeSource"] == "DirectModification"
    assert (extra["Action"], extra["ResourceType"]) == ("Add", "AWS::SQS::Queue")

    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]

    assert described["StackStatus"] == "UPDATE_COMPLETE"
    out = outputs(described)
    assert out["Suffix"] == "b"
    assert out["QueueUrl"].endswith(f"/{stack}-b")
    assert out["Extra"].startswith(f"{stack}-Extra-")
    sqs = aws("sqs")
    names = {u.rsplit("/", 1)[-1] for u in sqs.list_queues(QueueNamePrefix=stack).get("QueueUrls", [])}
    assert f"{stack}-b" in names and f"{stack}-a" not in names  # replaced: the old queue is gone
    topic_arn = out["TopicArn"]
    assert aws("sns").get_topic_attributes(TopicArn=topic_arn)["Attributes"]["DisplayName"] == "changed"

    # Removing a resource lists it as Remove; with DeletionPolicy Retain it stays in SQS.
    change_set = create_change_set(cfn, stack, queue_template(), kind="UPDATE", parameters=params(Suffix="b"))
    assert {(k, c["Action"]) for k, c in changes(change_set).items()} == {("Extra", "Remove"), ("Topic", "Modify")}
    assert changes(change_set)["Extra"]["PolicyAction"] == "Retain"
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)
    assert "Extra" not in outputs(cfn.describe_stacks(StackName=stack)["Stacks"][0])
    assert sqs.get_queue_url(QueueName=out["Extra"])["QueueUrl"]


def test_a_failing_update_rolls_back_and_keeps_the_stack(aws):
    cfn = aws("cloudformation")
    stack, name = unique("gt-rollback"), unique("ledger")
    deploy(cfn, stack, global_table_template(name))

    # A new key schema needs a new table, and a table with a fixed name cannot be replaced.
    template = global_table_template(name)
    template["Resources"]["Transactions"]["Properties"]["KeySchema"] = [{"AttributeName": "pk", "KeyType": "HASH"}]
    change_set = create_change_set(cfn, stack, template, kind="UPDATE")
    [change] = change_set["Changes"]
    assert (change["ResourceChange"]["Replacement"], change["ResourceChange"]["PolicyAction"]) == (
        "True",
        "ReplaceAndRetain",
    )
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_update_complete").wait(StackName=stack, WaiterConfig=FAST)

    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "UPDATE_ROLLBACK_COMPLETE"
    assert "[Transactions]" in described["StackStatusReason"]
    assert outputs(described)["TableName"] == name
    assert len(aws("dynamodb").describe_table(TableName=name)["Table"]["KeySchema"]) == 2
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    assert "custom-named resource requires replacing" in next(
        e["ResourceStatusReason"] for e in events if e["ResourceStatus"] == "UPDATE_FAILED"
    )
    # The stack can be updated again.
    deploy(cfn, stack, global_table_template(name, indexes=()), kind="UPDATE")


def test_identical_update_change_set_fails_as_on_aws(aws):
    cfn = aws("cloudformation")
    stack = unique("cs-nochange")
    deploy(cfn, stack, queue_template(), parameters=params(Suffix="x"))

    for parameters in (params(Suffix="x"), [{"ParameterKey": "Suffix", "UsePreviousValue": True}]):
        change_set = create_change_set(cfn, stack, queue_template(), kind="UPDATE", parameters=parameters)
        assert change_set["Status"] == "FAILED"
        assert change_set["ExecutionStatus"] == "UNAVAILABLE"
        assert "didn't contain changes" in change_set["StatusReason"]
        assert change_set["Changes"] == []
        with pytest.raises(ClientError) as raised:
            cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
        assert raised.value.response["Error"]["Code"] == "InvalidChangeSetStatus"

    # Parameter defaults count: leaving out a parameter set to its default is no change either.
    deploy(cfn, stack, queue_template(), kind="UPDATE", parameters=params(Suffix="a"))
    change_set = create_change_set(cfn, stack, queue_template(), kind="UPDATE")
    assert change_set["Status"] == "FAILED"


def test_change_set_names_are_per_stack(aws):
    cfn = aws("cloudformation")
    first, second = unique("cs-a"), unique("cs-b")
    for stack in (first, second):
        cfn.create_change_set(
            StackName=stack, ChangeSetName="deploy", ChangeSetType="CREATE", TemplateBody=json.dumps(queue_template())
        )
    described = cfn.describe_change_set(StackName=first, ChangeSetName="deploy")
    assert described["StackName"] == first
    assert [s["StackName"] for s in cfn.list_change_sets(StackName=second)["Summaries"]] == [second]
    with pytest.raises(ClientError) as raised:
        cfn.describe_change_set(StackName=first, ChangeSetName="no-such-change-set")
    assert raised.value.response["Error"]["Code"] == "ChangeSetNotFound"


def test_bad_templates_are_refused_when_the_change_set_is_created(aws):
    cfn = aws("cloudformation")
    unresolved = {"Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Nope"}}}}}
    missing = {"Parameters": {"Needed": {"Type": "String"}}, "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}}}
    for template, message in (
        (unresolved, "Unresolved resource dependencies [Nope]"),
        (missing, "[Needed] must have values"),
    ):
        stack = unique("cs-bad")
        with pytest.raises(ClientError) as raised:
            cfn.create_change_set(
                StackName=stack, ChangeSetName="c1", ChangeSetType="CREATE", TemplateBody=json.dumps(template)
            )
        assert raised.value.response["Error"]["Code"] == "ValidationError"
        assert message in raised.value.response["Error"]["Message"]
        with pytest.raises(ClientError):
            cfn.describe_stacks(StackName=stack)  # no stack was left behind


def test_a_failing_resource_rolls_the_stack_back(aws):
    cfn = aws("cloudformation")
    stack, queue = unique("cs-rollback"), unique("rb-queue")
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": queue}},
            # The stack's region is not among the replicas: AWS refuses, and so does the sandbox.
            "Table": {
                "Type": "AWS::DynamoDB::GlobalTable",
                "DependsOn": "Queue",
                "Properties": {
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "BillingMode": "PAY_PER_REQUEST",
                    "Replicas": [{"Region": PEER}],
                },
            },
        },
        "Outputs": {"Queue": {"Value": {"Ref": "Queue"}}},
    }
    change_set = create_change_set(cfn, stack, template, kind="CREATE")
    cfn.execute_change_set(StackName=stack, ChangeSetName=change_set["ChangeSetName"])
    with pytest.raises(WaiterError):
        cfn.get_waiter("stack_create_complete").wait(StackName=stack, WaiterConfig=FAST)

    described = cfn.describe_stacks(StackName=stack)["Stacks"][0]
    assert described["StackStatus"] == "ROLLBACK_COMPLETE"
    assert "[Table]" in described["StackStatusReason"]
    assert "Outputs" not in described
    events = cfn.describe_stack_events(StackName=stack)["StackEvents"]
    assert any(e["LogicalResourceId"] == "Table" and e["ResourceStatus"] == "CREATE_FAILED" for e in events)
    assert aws("sqs").list_queues(QueueNamePrefix=queue).get("QueueUrls", []) == []  # rolled back
    assert cfn.describe_stack_resources(StackName=stack)["StackResources"] == []  # and not made again


# --- resource types moto skips ----------------------------------------------------------------


def global_table_template(name: str, *, replicas=(HOME, PEER), indexes=("byCustomer",)) -> dict:
    return {
        "Resources": {
            "Transactions": {
                "Type": "AWS::DynamoDB::GlobalTable",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "TableName": name,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [
                        {"AttributeName": "pk", "AttributeType": "S"},
                        {"AttributeName": "sk", "AttributeType": "S"},
                        {"AttributeName": "customer", "AttributeType": "S"},
                    ],
                    "KeySchema": [
                        {"AttributeName": "pk", "KeyType": "HASH"},
                        {"AttributeName": "sk", "KeyType": "RANGE"},
                    ],
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": index,
                            "KeySchema": [{"AttributeName": "customer", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                        for index in indexes
                    ],
                    "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                    "TimeToLiveSpecification": {"AttributeName": "expires", "Enabled": True},
                    "Replicas": [
                        {
                            "Region": region,
                            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                            "Tags": [{"Key": "replica", "Value": region}],
                        }
                        for region in replicas
                    ],
                },
            }
        },
        "Outputs": {
            "TableName": {"Value": {"Ref": "Transactions"}},
            "TableArn": {"Value": {"Fn::GetAtt": ["Transactions", "Arn"]}},
            "StreamArn": {"Value": {"Fn::GetAtt": ["Transactions", "StreamArn"]}},
            "TableId": {"Value": {"Fn::GetAtt": ["Transactions", "TableId"]}},
        },
    }


def test_global_table_is_a_table_in_every_replica_region_and_retained(aws):
    cfn = aws("cloudformation")
    stack, name = unique("gt"), unique("transactions")
    described = deploy(cfn, stack, global_table_template(name))

    out = outputs(described)
    assert out["TableName"] == name
    assert out["TableArn"] == f"arn:aws:dynamodb:{HOME}:123456789012:table/{name}"
    assert out["StreamArn"].startswith(f"{out['TableArn']}/stream/")
    assert out["TableId"]
    for region, other in ((HOME, PEER), (PEER, HOME)):
        ddb = aws("dynamodb", region)
        table = ddb.describe_table(TableName=name)["Table"]
        assert [i["IndexName"] for i in table["GlobalSecondaryIndexes"]] == ["byCustomer"]
        assert table["StreamSpecification"] == {"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
        assert [k["AttributeName"] for k in table["KeySchema"]] == ["pk", "sk"]
        assert table["Replicas"] == [{"RegionName": other, "ReplicaStatus": "ACTIVE"}]
        assert table["GlobalTableVersion"] == "2019.11.21"
        backups = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
        assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
        assert ddb.describe_time_to_live(TableName=name)["TimeToLiveDescription"]["TimeToLiveStatus"] == "ENABLED"
        assert ddb.list_tags_of_resource(ResourceArn=table["TableArn"])["Tags"] == [{"Key": "replica", "Value": region}]

    # An update adding an index reaches every replica; a no-op update changes nothing.
    deploy(cfn, stack, global_table_template(name, indexes=("byCustomer", "byMerchant")), kind="UPDATE")
    for region in (HOME, PEER):
        table = aws("dynamodb", region).describe_table(TableName=name)["Table"]
        assert sorted(i["IndexName"] for i in table["GlobalSecondaryIndexes"]) == ["byCustomer", "byMerchant"]
    template = global_table_template(name, indexes=("byCustomer", "byMerchant"))
    assert create_change_set(cfn, stack, template, kind="UPDATE")["Status"] == "FAILED"

    aws("dynamodb", PEER).put_item(TableName=name, Item={"pk": {"S": "1"}, "sk": {"S": "a"}})
    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)
    for region in (HOME, PEER):  # DeletionPolicy Retain: both tables stay, with their items
        # (describe, not list: ListTables pages at 100, and the shared sandbox holds more)
        assert aws("dynamodb", region).describe_table(TableName=name)["Table"]["TableStatus"] == "ACTIVE"
    assert aws("dynamodb", PEER).get_item(TableName=name, Key={"pk": {"S": "1"}, "sk": {"S": "a"}})["Item"]


def test_global_table_replicas_follow_updates_and_deletion(aws):
    cfn = aws("cloudformation")
    stack, name = unique("gt-replicas"), unique("aggregates")
    template = global_table_template(name, replicas=(HOME,))
    del template["Resources"]["Transactions"]["DeletionPolicy"]
    deploy(cfn, stack, template)
    assert not table_exists(aws("dynamodb", PEER), name)
    aws("dynamodb").put_item(TableName=name, Item={"pk": {"S": "1"}, "sk": {"S": "a"}})

    template = global_table_template(name)
    del template["Resources"]["Transactions"]["DeletionPolicy"]
    deploy(cfn, stack, template, kind="UPDATE")
    peer = aws("dynamodb", PEER)
    assert peer.describe_table(TableName=name)["Table"]["Replicas"] == [{"RegionName": HOME, "ReplicaStatus": "ACTIVE"}]
    assert peer.get_item(TableName=name, Key={"pk": {"S": "1"}, "sk": {"S": "a"}})["Item"]  # a new replica is filled

    cfn.delete_stack(StackName=stack)
    cfn.get_waiter("stack_delete_complete").wait(StackName=stack, WaiterConfig=FAST)
    for region in (HOME, PEER):
        assert not table_exists(aws("dynamodb", region), name)


def test_dynamodb_table_settings_moto_ignores_are_applied(aws):
    cfn = aws("cloudformation")
    stack, name = unique("table"), unique("orders")
    template = {
        "Resources": {
            "Orders": {
                "Type": "AWS::DynamoDB::Table",
                "Properties": {
                    "TableName": name,
                    "BillingMode": "PAY_PER_REQUEST",
                    "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
                    "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                },
            }
        },
        "Outputs": {"Name": {"Value": {"Ref": "Orders"}}},
    }
    deploy(cfn, stack, template)
    ddb = aws("dynamodb")
    status = ddb.describe_continuous_backups(TableName=name)["ContinuousBackupsDescription"]
    assert status["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"

    template["Resources"]["Orders"]["Properties"]["StreamSpecification"] = {"StreamViewType": "NEW_IMAGE"}
    described = deploy(cfn, stack, template, kind="UPDATE")
    assert outputs(described)["Name"] == name  # moto used to lose the table on update
    assert ddb.describe_table(TableName=name)["Table"]["StreamSpecification"]["StreamViewType"] == "NEW_IMAGE"


def test_alarm_is_put_in_the_stack_region(aws):
    cfn = aws("cloudformation", PEER)
    stack, alarm = unique("alarm"), unique("errors")
    template = {
        "Resources": {
            "Topic": {"Type": "AWS::SNS::Topic"},
            "Errors": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "AlarmName": alarm,
                    "AlarmDescription": "Lambda errors",
                    "Namespace": "AWS/Lambda",
                    "MetricName": "Errors",
                    "Dimensions": [{"Name": "FunctionName", "Value": "handler"}],
                    "Statistic": "Sum",
                    "Period": 60,
                    "EvaluationPeriods": "2",
                    "Threshold": 1,
                    "ComparisonOperator": "GreaterThanOrEqualToThreshold",
                    "TreatMissingData": "notBreaching",
                    "AlarmActions": [{"Ref": "Topic"}],
                    "OKActions": [{"Ref": "Topic"}],
                },
            },
            "Unnamed": {
                "Type": "AWS::CloudWatch::Alarm",
                "Properties": {
                    "EvaluationPeriods": 1,
                    "Threshold": 100,
                    "ComparisonOperator": "GreaterThanThreshold",
                    "Metrics": [
                        {"Id": "e1", "Expression": "m1 * 100", "ReturnData": True},
                        {
                            "Id": "m1",
                            "ReturnData": False,
                            "MetricStat": {
                                "Metric": {"Namespace": "AWS/DynamoDB", "MetricName": "ReplicationLatency"},
                                "Period": 60,
                                "Stat": "Maximum",
                            },
                        },
                    ],
                },
            },
        },
        "Outputs": {
            "Name": {"Value": {"Ref": "Errors"}},
            "Arn": {"Value": {"Fn::GetAtt": ["Errors", "Arn"]}},
            "Unnamed": {"Value": {"Ref": "Unnamed"}},
        },
    }
    out = outputs(deploy(cfn, stack, template))

    assert out["Name"] == alarm
    assert out["Arn"] == f"arn:aws:cloudwatch:{PEER}:123456789012:alarm:{alarm}"
    assert out["Unnamed"].startswith(f"{stack}-Unnamed-")
    cloudwatch = aws("cloudwatch", PEER)
    [described] = cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"]
    assert described["Dimensions"] == [{"Name": "FunctionName", "Value": "handler"}]
    assert (described["EvaluationPeriods"], described["Threshold"], described["TreatMissingData"]) == (
        2,
        1.0,
        "notBreaching",
    )
    assert described["AlarmActions"] == described["OKActions"]
    assert described["AlarmActions"][0].startswith(f"arn:aws:sns:{PEER}:123456789012:{stack}-Topic-")
    [math] = cloudwatch.describe_alarms(AlarmNames=[out["Unnamed"]])["MetricAlarms"]
    assert [m["Id"] for m in math["Metrics"]] == ["e1", "m1"]
    assert aws("cloudwatch", HOME).describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []

    cfn.delete_stack(StackName=stack)
    assert cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"] == []


def test_cloudfront_distribution_with_an_origin_group(aws):
    cfn = aws("cloudformation")
    stack = unique("cdn")
    config = {
        "Enabled": True,
        "Comment": stack,
        "Origins": [
            {
                "Id": "source",
                "DomainName": "api.us-east-1.example.com",
                "CustomOriginConfig": {"OriginProtocolPolicy": "https-only"},
            },
            {
                "Id": "target",
                "DomainName": "api.eu-central-1.example.com",
                "CustomOriginConfig": {"OriginProtocolPolicy": "https-only"},
            },
        ],
        "OriginGroups": {
            "Quantity": 1,
            "Items": [
                {
                    "Id": "failover",
                    "FailoverCriteria": {"StatusCodes": {"Quantity": 3, "Items": [500, 502, 503]}},
                    "Members": {"Quantity": 2, "Items": [{"OriginId": "source"}, {"OriginId": "target"}]},
                }
            ],
        },
        "DefaultCacheBehavior": {
            "TargetOriginId": "failover",
            "ViewerProtocolPolicy": "redirect-to-https",
            "CachePolicyId": "4135ea2d-6df8-44a3-9df3-4b5a84be39ad",
            "AllowedMethods": ["GET", "HEAD", "OPTIONS"],
        },
        "CacheBehaviors": [
            {
                "PathPattern": "/static/*",
                "TargetOriginId": "source",
                "ViewerProtocolPolicy": "https-only",
                "ForwardedValues": {"QueryString": False},
            }
        ],
    }
    template = {
        "Resources": {"Cdn": {"Type": "AWS::CloudFront::Distribution", "Properties": {"DistributionConfig": config}}},
        "Outputs": {
            "Id": {"Value": {"Ref": "Cdn"}},
            "GetAttId": {"Value": {"Fn::GetAtt": ["Cdn", "Id"]}},
            "DomainName": {"Value": {"Fn::GetAtt": ["Cdn", "DomainName"]}},
        },
    }
    out = outputs(deploy(cfn, stack, template))

    assert out["Id"] == out["GetAttId"]
    assert out["DomainName"].endswith(".cloudfront.net")
    cloudfront = aws("cloudfront")
    distribution = cloudfront.get_distribution(Id=out["Id"])["Distribution"]
    assert distribution["DomainName"] == out["DomainName"]
    got = distribution["DistributionConfig"]
    assert got["Comment"] == stack
    assert [o["Id"] for o in got["Origins"]["Items"]] == ["source", "target"]
    [group] = got["OriginGroups"]["Items"]
    assert [m["OriginId"] for m in group["Members"]["Items"]] == ["source", "target"]
    assert group["FailoverCriteria"]["StatusCodes"]["Items"] == [500, 502, 503]
    assert got["DefaultCacheBehavior"]["TargetOriginId"] == "failover"  # an origin group, as AWS allows
    assert got["CacheBehaviors"]["Items"][0]["PathPattern"] == "/static/*"

    config["Comment"] = "updated"
    deploy(cfn, stack, template, kind="UPDATE")
    assert cloudfront.get_distribution(Id=out["Id"])["Distribution"]["DistributionConfig"]["Comment"] == "updated"
    cfn.delete_stack(StackName=stack)
    with pytest.raises(ClientError):
        cloudfront.get_distribution(Id=out["Id"])


def test_event_bus_policy_is_on_the_bus_and_survives_bus_updates(aws):
    cfn = aws("cloudformation")
    stack, bus = unique("events"), unique("cross-region")

    def template(description: str) -> dict:
        return {
            "Resources": {
                "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": bus, "Description": description}},
                "FromPeerAccount": {
                    "Type": "AWS::Events::EventBusPolicy",
                    "Properties": {
                        "EventBusName": {"Ref": "Bus"},
                        "StatementId": "from-peer",
                        "Action": "events:PutEvents",
                        "Principal": "111122223333",
                    },
                },
                "FromOrg": {
                    "Type": "AWS::Events::EventBusPolicy",
                    "Properties": {
                        "EventBusName": {"Ref": "Bus"},
                        "StatementId": "from-org",
                        "Statement": {
                            "Effect": "Allow",
                            "Principal": "*",
                            "Action": "events:PutEvents",
                            "Resource": {"Fn::GetAtt": ["Bus", "Arn"]},
                            "Condition": {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}},
                        },
                    },
                },
                "Rule": {
                    "Type": "AWS::Events::Rule",
                    "Properties": {"EventBusName": {"Ref": "Bus"}, "EventPattern": {"source": ["app"]}},
                },
            },
            "Outputs": {"Policy": {"Value": {"Ref": "FromPeerAccount"}}, "Bus": {"Value": {"Ref": "Bus"}}},
        }

    out = outputs(deploy(cfn, stack, template("one")))
    assert out == {"Policy": "from-peer", "Bus": bus}
    events = aws("events")

    def statements() -> dict[str, dict]:
        policy = json.loads(events.describe_event_bus(Name=bus)["Policy"])
        return {s["Sid"]: s for s in policy["Statement"]}

    assert statements()["from-peer"]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert statements()["from-org"]["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abc"}}

    deploy(cfn, stack, template("two"), kind="UPDATE")  # moto used to delete and re-create the bus
    assert events.describe_event_bus(Name=bus)["Description"] == "two"
    assert set(statements()) == {"from-peer", "from-org"}
    assert len(events.list_rules(EventBusName=bus)["Rules"]) == 1


def test_policies_subscriptions_and_the_rest(aws):
    cfn = aws("cloudformation")
    stack, suffix = unique("misc"), uuid.uuid4().hex[:8]
    statement = {"Effect": "Allow", "Principal": "*"}
    template = {
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": f"gates-{suffix}"}},
            "Topic": {"Type": "AWS::SNS::Topic", "Properties": {"TopicName": f"notify-{suffix}"}},
            "QueuePolicy": {
                "Type": "AWS::SQS::QueuePolicy",
                "Properties": {
                    "Queues": [{"Ref": "Queue"}],
                    "PolicyDocument": {
                        "Statement": [
                            {**statement, "Action": "sqs:SendMessage", "Resource": {"Fn::GetAtt": ["Queue", "Arn"]}}
                        ]
                    },
                },
            },
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [{"Ref": "Topic"}],
                    "PolicyDocument": {
                        "Statement": [{**statement, "Action": "sns:Publish", "Resource": {"Ref": "Topic"}}]
                    },
                },
            },
            "Subscription": {
                "Type": "AWS::SNS::Subscription",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "sqs",
                    "Endpoint": {"Fn::GetAtt": ["Queue", "Arn"]},
                    "RawMessageDelivery": "true",
                    "FilterPolicy": {"kind": ["gate"]},
                },
            },
            "Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": f"documents-{suffix}"}},
            "BucketPolicy": {
                "Type": "AWS::S3::BucketPolicy",
                "Properties": {
                    "Bucket": {"Ref": "Bucket"},
                    "PolicyDocument": {
                        "Statement": [
                            {**statement, "Action": "s3:GetObject", "Resource": {"Fn::Sub": "${Bucket.Arn}/*"}}
                        ]
                    },
                },
            },
            "LogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": f"/sandbox/{suffix}", "RetentionInDays": 7},
            },
            "Traces": {
                "Type": "AWS::XRay::Group",
                "Properties": {"GroupName": f"traces-{suffix}", "FilterExpression": 'service("api")'},
            },
            "Api": {"Type": "AWS::ApiGateway::RestApi", "Properties": {"Name": f"api-{suffix}"}},
            "Health": {
                "Type": "AWS::ApiGateway::Method",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "ResourceId": {"Fn::GetAtt": ["Api", "RootResourceId"]},
                    "HttpMethod": "GET",
                    "AuthorizationType": "NONE",
                    "Integration": {"Type": "MOCK", "RequestTemplates": {"application/json": '{"statusCode": 200}'}},
                    "MethodResponses": [{"StatusCode": 200}],
                },
            },
            "Deployment": {
                "Type": "AWS::ApiGateway::Deployment",
                "DependsOn": "Health",
                "Properties": {"RestApiId": {"Ref": "Api"}},
            },
            "Stage": {
                "Type": "AWS::ApiGateway::Stage",
                "Properties": {
                    "RestApiId": {"Ref": "Api"},
                    "DeploymentId": {"Ref": "Deployment"},
                    "StageName": "live",
                    "Variables": {"region": "home"},
                },
            },
        },
        "Outputs": {
            "Subscription": {"Value": {"Ref": "Subscription"}},
            "Traces": {"Value": {"Fn::GetAtt": ["Traces", "GroupArn"]}},
            "Stage": {"Value": {"Ref": "Stage"}},
            "Api": {"Value": {"Ref": "Api"}},
            "QueueUrl": {"Value": {"Fn::GetAtt": ["Queue", "QueueUrl"]}},
        },
    }
    out = outputs(deploy(cfn, stack, template))

    sqs, sns = aws("sqs"), aws("sns")
    queue_url = sqs.get_queue_url(QueueName=f"gates-{suffix}")["QueueUrl"]
    assert out["QueueUrl"].endswith(f"/gates-{suffix}")
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["Policy"])["Attributes"]["Policy"])
    assert policy["Statement"][0]["Action"] == "sqs:SendMessage"
    topic_arn = f"arn:aws:sns:{HOME}:123456789012:notify-{suffix}"
    topic_policy = json.loads(sns.get_topic_attributes(TopicArn=topic_arn)["Attributes"]["Policy"])
    assert topic_policy["Statement"][0]["Action"] == "sns:Publish"
    attributes = sns.get_subscription_attributes(SubscriptionArn=out["Subscription"])["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert json.loads(attributes["FilterPolicy"]) == {"kind": ["gate"]}
    sns.publish(
        TopicArn=topic_arn, Message="hello", MessageAttributes={"kind": {"DataType": "String", "StringValue": "gate"}}
    )
    assert sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"][0]["Body"] == "hello"
    bucket_policy = json.loads(aws("s3").get_bucket_policy(Bucket=f"documents-{suffix}")["Policy"])
    assert bucket_policy["Statement"][0]["Resource"] == f"arn:aws:s3:::documents-{suffix}/*"
    assert (
        aws("logs").describe_log_groups(logGroupNamePrefix=f"/sandbox/{suffix}")["logGroups"][0]["retentionInDays"] == 7
    )
    assert out["Traces"].startswith(f"arn:aws:xray:{HOME}:123456789012:group/traces-{suffix}/")
    stage = aws("apigateway").get_stage(restApiId=out["Api"], stageName="live")
    assert (out["Stage"], stage["variables"]) == ("live", {"region": "home"})

    cfn.delete_stack(StackName=stack)
    assert out["Subscription"] not in [s["SubscriptionArn"] for s in sns.list_subscriptions()["Subscriptions"]]


def test_lambda_function_url(aws):
    cfn = aws("cloudformation")
    stack, function = unique("url"), unique("webhook")
    template = {
        "Resources": {
            "Role": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "AssumeRolePolicyDocument": {
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ]
                    }
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "FunctionName": function,
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["Role", "Arn"]},
                    "Code": {"ZipFile": "def handler(event, context):\n    return event\n"},
                },
            },
            "Url": {
                "Type": "AWS::Lambda::Url",
                "Properties": {"TargetFunctionArn": {"Ref": "Function"}, "AuthType": "NONE"},
            },
        },
        "Outputs": {"Url": {"Value": {"Fn::GetAtt": ["Url", "FunctionUrl"]}}, "Ref": {"Value": {"Ref": "Url"}}},
    }
    out = outputs(deploy(cfn, stack, template))

    config = aws("lambda").get_function_url_config(FunctionName=function)
    assert (config["FunctionUrl"], config["AuthType"]) == (out["Url"], "NONE")
    assert out["Ref"] == f"arn:aws:lambda:{HOME}:123456789012:function:{function}"


def test_a_weighted_record_made_by_cloudformation_is_replaced_by_an_api_upsert(sandbox_aws):
    """Route 53 has one record per name and set identifier, however it was written."""
    import uuid

    import boto3

    name = f"z{uuid.uuid4().hex[:8]}.example.com"
    kw = dict(
        region_name="us-east-1",
        endpoint_url=sandbox_aws,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    r53, cfn = boto3.client("route53", **kw), boto3.client("cloudformation", **kw)
    zone = r53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].split("/")[-1]
    template = {
        "Resources": {
            "Rec": {
                "Type": "AWS::Route53::RecordSet",
                "Properties": {
                    "HostedZoneId": zone,
                    "Name": f"api.{name}",
                    "Type": "CNAME",
                    "SetIdentifier": "us-east-1",
                    "Weight": 100,
                    "TTL": "60",
                    "ResourceRecords": ["a.example.com"],
                },
            }
        }
    }
    import json

    stack = f"rec-{uuid.uuid4().hex[:6]}"
    cs = cfn.create_change_set(
        StackName=stack, ChangeSetName="c1", TemplateBody=json.dumps(template), ChangeSetType="CREATE"
    )["Id"]
    cfn.execute_change_set(ChangeSetName=cs)
    r53.change_resource_record_sets(
        HostedZoneId=zone,
        ChangeBatch={
            "Changes": [
                {
                    "Action": "UPSERT",
                    "ResourceRecordSet": {
                        "Name": f"api.{name}",
                        "Type": "CNAME",
                        "SetIdentifier": "us-east-1",
                        "Weight": 90,
                        "TTL": 60,
                        "ResourceRecords": [{"Value": "a.example.com"}],
                    },
                }
            ]
        },
    )
    weighted = [
        r for r in r53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"] if "SetIdentifier" in r
    ]
    assert [(r["Name"], r["Weight"]) for r in weighted] == [(f"api.{name}.", 90)]


def table_exists(ddb, name: str) -> bool:
    """By name, not by listing (ListTables pages at 100 and the shared sandbox holds more)."""
    try:
        ddb.describe_table(TableName=name)
    except ddb.exceptions.ResourceNotFoundException:
        return False
    return True
