"""The ready Automation runbooks (infra/ssm_documents/) run by the SSM simulator against the local cloud's moto:
Aurora global failover/switchover (with localcloud/moto_global_clusters.py), target registration and ECS scaling.
The DNS cutover has its own test in test_ssm_automation.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from localcloud import moto_global_clusters
from localcloud.ssm_sim import SsmSimulator
from tests.unit.localcloud.test_ssm_automation import T0, FakeClock, simulated

RECOVERY, PRIMARY = "us-east-1", "us-west-2"  # the simulator's Region is the recovery Region


@pytest.fixture
def local() -> Iterator[dict[str, Any]]:
    clock = FakeClock()
    sim = SsmSimulator(clock)
    sim.load_library()
    moto_global_clusters.install()
    try:
        with simulated(sim):
            yield {"sim": sim, "clock": clock, "ssm": boto3.client("ssm", region_name=RECOVERY)}
    finally:
        moto_global_clusters.uninstall()


def run(local: dict[str, Any], runbook: str, **parameters: Any) -> dict[str, Any]:
    values = {k: v if isinstance(v, list) else [str(v)] for k, v in parameters.items()}
    execution_id = local["ssm"].start_automation_execution(DocumentName=runbook, Parameters=values)[
        "AutomationExecutionId"
    ]
    return dict(local["ssm"].get_automation_execution(AutomationExecutionId=execution_id)["AutomationExecution"])


def global_database() -> tuple[Any, str, str]:
    """A global database: its primary cluster in PRIMARY, a secondary in RECOVERY. (rds client, primary ARN,
    secondary ARN)."""
    primary_rds, rds = boto3.client("rds", region_name=PRIMARY), boto3.client("rds", region_name=RECOVERY)
    rds.create_global_cluster(GlobalClusterIdentifier="shop-global", Engine="aurora-postgresql")
    primary = primary_rds.create_db_cluster(
        DBClusterIdentifier="shop-primary",
        Engine="aurora-postgresql",
        GlobalClusterIdentifier="shop-global",
        MasterUsername="shop",
        MasterUserPassword="not-a-secret-1",
    )["DBCluster"]["DBClusterArn"]
    secondary = rds.create_db_cluster(
        DBClusterIdentifier="shop-recovery", Engine="aurora-postgresql", GlobalClusterIdentifier="shop-global"
    )["DBCluster"]["DBClusterArn"]
    return rds, primary, secondary


def writer(rds: Any) -> list[str]:
    members = rds.describe_global_clusters(GlobalClusterIdentifier="shop-global")["GlobalClusters"][0]
    return [m["DBClusterArn"] for m in members["GlobalClusterMembers"] if m["IsWriter"]]


@pytest.mark.parametrize("operation", ["switchover", "failover"])
def test_aurora_global_failover_makes_the_recovery_cluster_the_writer(local: dict[str, Any], operation: str) -> None:
    # GIVEN a global database written in the primary Region
    rds, primary, secondary = global_database()
    assert writer(rds) == [primary]

    # WHEN the runbook, in a RECOVERY, promotes the recovery cluster by the given operation
    done = run(
        local,
        "DRSOrch-AuroraGlobalFailover",
        GlobalClusterIdentifier="shop-global",
        TargetDbClusterArn=secondary,
        Operation=operation,
        Mode="RECOVERY",
    )

    # THEN it called the operation's API, waited for both clusters to be available, and the writer is the recovery one
    assert done["AutomationExecutionStatus"] == "Success", done.get("FailureMessage")
    assert [s["StepName"] for s in done["StepExecutions"]] == [
        "chooseMode",
        "chooseOperation",
        operation,
        "waitForGlobalCluster",
        "waitForTargetCluster",
    ]
    assert writer(rds) == [secondary]


def test_aurora_global_failover_in_a_drill_only_checks_readiness(local: dict[str, Any]) -> None:
    # GIVEN a global database written in the primary Region
    rds, primary, secondary = global_database()

    # WHEN the runbook runs in a DRILL (the orchestrator passes the run's Mode) with Operation failover
    done = run(
        local,
        "DRSOrch-AuroraGlobalFailover",
        GlobalClusterIdentifier="shop-global",
        TargetDbClusterArn=secondary,
        Operation="failover",
        Mode="DRILL",
    )

    # THEN it checked both clusters, promoted nothing, and the writer is still the primary
    assert done["AutomationExecutionStatus"] == "Success", done.get("FailureMessage")
    assert [s["StepName"] for s in done["StepExecutions"]] == [
        "chooseMode",
        "checkGlobalClusterReady",
        "checkTargetClusterReady",
    ]
    assert writer(rds) == [primary]


def test_aurora_global_failover_needs_the_mode(local: dict[str, Any]) -> None:
    # GIVEN a global database
    _, _, secondary = global_database()

    # WHEN the runbook is started without Mode (outside the orchestrator), THEN SSM refuses it: nothing is promoted
    # by accident
    with pytest.raises(ClientError) as refused:
        run(local, "DRSOrch-AuroraGlobalFailover", GlobalClusterIdentifier="shop-global", TargetDbClusterArn=secondary)
    assert refused.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"
    assert "needs parameter Mode" in refused.value.response["Error"]["Message"]


def test_aurora_global_failover_refuses_a_cluster_outside_the_global_database(local: dict[str, Any]) -> None:
    # GIVEN a global database and a cluster that is not one of its members
    rds, primary, _ = global_database()
    stranger = rds.create_db_cluster(
        DBClusterIdentifier="other", Engine="aurora-postgresql", MasterUsername="o", MasterUserPassword="pw-123456"
    )["DBCluster"]["DBClusterArn"]

    # WHEN the runbook is asked to promote it, THEN RDS's error fails it and the writer did not move
    done = run(
        local,
        "DRSOrch-AuroraGlobalFailover",
        GlobalClusterIdentifier="shop-global",
        TargetDbClusterArn=stranger,
        Mode="RECOVERY",
    )
    assert done["AutomationExecutionStatus"] == "Failed"
    assert "DBClusterNotFoundFault" in done["FailureMessage"]
    assert writer(rds) == [primary]


def test_the_global_cluster_model_answers_as_rds_does(local: dict[str, Any]) -> None:
    # GIVEN a global database
    rds, primary, secondary = global_database()

    # WHEN it is asked the impossible: an unknown global cluster, both modes at once, the current writer
    with pytest.raises(ClientError) as unknown:
        rds.switchover_global_cluster(GlobalClusterIdentifier="nope", TargetDbClusterIdentifier=secondary)
    with pytest.raises(ClientError) as both:
        rds.failover_global_cluster(
            GlobalClusterIdentifier="shop-global",
            TargetDbClusterIdentifier=secondary,
            AllowDataLoss=True,
            Switchover=True,
        )
    with pytest.raises(ClientError) as already:
        rds.failover_global_cluster(GlobalClusterIdentifier="shop-global", TargetDbClusterIdentifier=primary)

    # THEN each answers RDS's code and nothing moved; a failover by cluster identifier moves the writer
    assert unknown.value.response["Error"]["Code"] == "GlobalClusterNotFoundFault"
    assert both.value.response["Error"]["Code"] == "InvalidParameterCombination"
    assert already.value.response["Error"]["Code"] == "InvalidGlobalClusterStateFault"
    assert writer(rds) == [primary]
    rds.failover_global_cluster(
        GlobalClusterIdentifier="shop-global", TargetDbClusterIdentifier="shop-recovery", AllowDataLoss=True
    )
    assert writer(rds) == [secondary]


def target_group() -> tuple[Any, Any, str, list[str]]:
    """(elbv2, ec2, target group ARN, two running instance ids) in the recovery Region."""
    ec2, elbv2 = boto3.client("ec2", region_name=RECOVERY), boto3.client("elbv2", region_name=RECOVERY)
    vpc = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.20.1.0/24")["Subnet"]["SubnetId"]
    group = elbv2.create_target_group(Name="web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    instances = ec2.run_instances(ImageId="ami-12345678", MinCount=2, MaxCount=2, SubnetId=subnet)["Instances"]
    return elbv2, ec2, group["TargetGroups"][0]["TargetGroupArn"], [i["InstanceId"] for i in instances]


def test_register_targets_registers_every_instance_and_waits_until_each_is_healthy(local: dict[str, Any]) -> None:
    # GIVEN a target group and two running instances (moto reports a registered running instance healthy)
    elbv2, _, group, instances = target_group()

    # WHEN the runbook registers them on port 8080
    done = run(local, "DRSOrch-RegisterTargets", TargetGroupArn=group, InstanceIds=instances, Port=8080)

    # THEN each was registered and waited on, one after the other, and the group holds both on that port
    assert done["AutomationExecutionStatus"] == "Success", done.get("FailureMessage")
    assert [(s["StepName"], s.get("ParentStepDetails", {}).get("IteratorValue")) for s in done["StepExecutions"]] == [
        ("registerTargets", None),
        ("registerOne", instances[0]),
        ("registerOne", instances[1]),
        ("waitUntilHealthy", None),
        ("waitForOne", instances[0]),
        ("waitForOne", instances[1]),
    ]
    health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert sorted((h["Target"]["Id"], h["Target"]["Port"], h["TargetHealth"]["State"]) for h in health) == sorted(
        (i, 8080, "healthy") for i in instances
    )


def test_register_targets_fails_on_an_instance_that_is_not_running(local: dict[str, Any]) -> None:
    # GIVEN two instances, the second stopped (ELB refuses to register an instance that is not running: moto too)
    elbv2, ec2, group, instances = target_group()
    ec2.stop_instances(InstanceIds=[instances[1]])

    # WHEN the runbook registers them
    done = run(local, "DRSOrch-RegisterTargets", TargetGroupArn=group, InstanceIds=instances)

    # THEN the first was registered, the second refused with ELB's InvalidTarget, and the execution Failed there
    assert done["AutomationExecutionStatus"] == "Failed"
    assert done["StepExecutions"][-1]["ParentStepDetails"]["IteratorValue"] == instances[1]
    assert "InvalidTarget" in done["FailureMessage"]
    health = elbv2.describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    assert [h["Target"]["Id"] for h in health] == [instances[0]]


def test_register_targets_refuses_what_is_not_an_instance_id(local: dict[str, Any]) -> None:
    # GIVEN a target group
    _, _, group, _ = target_group()

    # WHEN the runbook is given an IP address as an instance id, THEN SSM refuses the parameters
    with pytest.raises(ClientError) as refused:
        run(local, "DRSOrch-RegisterTargets", TargetGroupArn=group, InstanceIds=["10.0.0.1"])
    assert refused.value.response["Error"]["Code"] == "InvalidAutomationExecutionParametersException"


def test_scale_ecs_service_sets_the_desired_count_and_waits_for_the_running_count(local: dict[str, Any]) -> None:
    # GIVEN an ECS service running no task (a pilot light)
    ecs = boto3.client("ecs", region_name=RECOVERY)
    ecs.create_cluster(clusterName="shop")
    ecs.register_task_definition(family="web", containerDefinitions=[{"name": "web", "image": "web:1", "memory": 64}])
    ecs.create_service(cluster="shop", serviceName="web", taskDefinition="web", desiredCount=0)

    # WHEN the runbook scales it to 3
    done = run(local, "DRSOrch-ScaleEcsService", Cluster="shop", Service="web", DesiredCount=3)

    # THEN the service wants and (moto: at once) runs 3 tasks
    assert done["AutomationExecutionStatus"] == "Success", done.get("FailureMessage")
    [service] = ecs.describe_services(cluster="shop", services=["web"])["services"]
    assert (service["desiredCount"], service["runningCount"]) == (3, 3)
    assert done["ExecutionEndTime"] == T0
