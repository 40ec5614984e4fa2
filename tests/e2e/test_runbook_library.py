"""End to end: the ready runbook library (issue #18's first "Done when") on the local cloud, whose Automation API
steps run against moto. A three-tier plan: an Aurora global database failed over to the recovery Region before the
application wave (DRSOrch-AuroraGlobalFailover in its preLaunch), and once the web wave has launched its recovered
instances registered with a target group (DRSOrch-RegisterTargets) and the DNS name cut over to the web tier
(DRSOrch-DnsCutover). Afterwards the local cloud itself is read back: the global database's writer, the target
group's healthy targets, the Route 53 record. A failing runbook with WARN and with FAIL is covered by
tests/e2e/test_automation_steps.py (the same SSM_AUTOMATION step, whatever the runbook)."""

from __future__ import annotations

from typing import Any

from events.models import Mode
from localcloud.cloud import LocalCloud
from localcloud.runner import RunResult, run_plan
from orchestrator.domain.plan import parse_plan
from tests.e2e.helpers import assert_choreography_invariants, sid, wave

GLOBAL = "shop-global"
RECORD = "shop.example.internal."
PRIMARY_REGION = "us-west-2"  # the production Region; the local cloud's own Region is the recovery Region
WEB = [sid("w", 1), sid("w", 2)]


def _global_database(cloud: LocalCloud) -> tuple[str, str]:
    """An Aurora global database written in PRIMARY_REGION with a secondary in the recovery Region: (primary ARN,
    recovery ARN)."""
    rds = cloud.session.client("rds")
    rds.create_global_cluster(GlobalClusterIdentifier=GLOBAL, Engine="aurora-postgresql")
    primary = cloud.session.client("rds", region_name=PRIMARY_REGION).create_db_cluster(
        DBClusterIdentifier="shop-primary",
        Engine="aurora-postgresql",
        GlobalClusterIdentifier=GLOBAL,
        MasterUsername="shop",
        MasterUserPassword="not-a-secret-1",
    )["DBCluster"]["DBClusterArn"]
    recovery = rds.create_db_cluster(
        DBClusterIdentifier="shop-recovery", Engine="aurora-postgresql", GlobalClusterIdentifier=GLOBAL
    )["DBCluster"]["DBClusterArn"]
    return str(primary), str(recovery)


def _writer(cloud: LocalCloud) -> list[str]:
    [found] = cloud.session.client("rds").describe_global_clusters(GlobalClusterIdentifier=GLOBAL)["GlobalClusters"]
    return [m["DBClusterArn"] for m in found["GlobalClusterMembers"] if m["IsWriter"]]


def _target_group(cloud: LocalCloud) -> str:
    ec2, elbv2 = cloud.session.client("ec2"), cloud.session.client("elbv2")
    vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
    group = elbv2.create_target_group(Name="shop-web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="instance")
    return str(group["TargetGroups"][0]["TargetGroupArn"])


def _targets(cloud: LocalCloud, group: str) -> set[tuple[str, int, str]]:
    health = cloud.session.client("elbv2").describe_target_health(TargetGroupArn=group)["TargetHealthDescriptions"]
    return {(h["Target"]["Id"], h["Target"]["Port"], h["TargetHealth"]["State"]) for h in health}


def _record(cloud: LocalCloud, zone: str) -> str | None:
    sets = cloud.session.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    found = [s for s in sets if s["Name"] == RECORD and s["Type"] == "A"]
    return str(found[0]["ResourceRecords"][0]["Value"]) if found else None


def _three_tier(recovery_cluster: str, group: str, zone: str) -> dict[str, Any]:
    failover = {
        "type": "SSM_AUTOMATION",
        "documentName": "DRSOrch-AuroraGlobalFailover",
        "parameters": {
            "GlobalClusterIdentifier": GLOBAL,
            "TargetDbClusterArn": recovery_cluster,
            "Operation": "failover",  # the orchestrator adds the run's Mode: a drill only checks readiness
        },
        "timeoutSeconds": 3600,
    }
    register = {
        "type": "SSM_AUTOMATION",
        "documentName": "DRSOrch-RegisterTargets",
        "parameters": {"TargetGroupArn": group, "InstanceIds": ["${{ waves.web.instanceIds }}"], "Port": "8080"},
    }
    cutover = {
        "type": "SSM_AUTOMATION",
        "documentName": "DRSOrch-DnsCutover",
        "parameters": {
            "HostedZoneId": zone,
            "RecordName": RECORD,
            "Value": f"${{{{ waves.web.servers.{WEB[0]}.privateIp }}}}",  # the record holds one address
        },
    }
    return {
        "planId": "three-tier-runbooks",
        "waves": [
            wave("app", [sid("a", 1), sid("a", 2)], preLaunch=[failover]),
            wave("web", WEB, depends_on=["app"], postLaunch=[register, cutover]),
        ],
    }


def _run(cloud: LocalCloud, mode: Mode) -> tuple[RunResult, dict[str, Any]]:
    primary, recovery = _global_database(cloud)
    group = _target_group(cloud)
    zone = str(
        cloud.session.client("route53").create_hosted_zone(Name="example.internal", CallerReference="e2e")[
            "HostedZone"
        ]["Id"]
    )
    result = run_plan(cloud, parse_plan(_three_tier(recovery, group, zone)), mode=mode, confirm=True)
    assert result.report is not None
    return result, {"primary": primary, "recovery": recovery, "group": group, "zone": zone}


def _steps(cloud: LocalCloud, runbook: str) -> list[list[str]]:
    return [[s.name for s in e.steps] for e in cloud.ssm.automation.executions.values() if e.document == runbook]


def test_a_recovery_fails_the_database_over_registers_the_web_tier_and_cuts_dns_over(local_cloud):
    # GIVEN a global database written in the production Region, a target group and a hosted zone, and the plan
    cloud = local_cloud()

    # WHEN the plan runs as a RECOVERY
    result, made = _run(cloud, Mode.RECOVERY)

    # THEN it completed, and the database failed over before the application wave launched
    assert result.status == "COMPLETED"
    assert result.report is not None
    waves = {w["waveId"]: w for w in result.report["waves"]}
    [failover] = waves["app"]["scripts"]
    assert (failover["documentName"], failover["status"]) == ("DRSOrch-AuroraGlobalFailover", "Success")
    [execution] = [e for e in cloud.ssm.automation.executions.values() if e.document == failover["documentName"]]
    assert execution.sent["Mode"] == ["RECOVERY"]
    assert _steps(cloud, "DRSOrch-AuroraGlobalFailover") == [
        ["chooseMode", "chooseOperation", "failover", "waitForGlobalCluster", "waitForTargetCluster"]
    ]
    # AND the global database's writer is now the recovery Region's cluster
    assert _writer(cloud) == [made["recovery"]]
    # AND the target group holds the recovered web instances, healthy, on the port the plan names
    web = sorted(waves["web"]["servers"], key=lambda s: s["sourceServerId"])
    instances = [s["recoveryInstanceId"] for s in web]
    assert len(set(instances)) == 2
    assert _targets(cloud, made["group"]) == {(i, 8080, "healthy") for i in instances}
    # AND the DNS name points at the first recovered web instance's address
    assert _record(cloud, made["zone"]) == web[0]["privateIp"]
    assert [(s["documentName"], s["status"]) for s in waves["web"]["scripts"]] == [
        ("DRSOrch-RegisterTargets", "Success"),
        ("DRSOrch-DnsCutover", "Success"),
    ]
    assert_choreography_invariants(cloud, result.execution_id)


def test_a_drill_leaves_the_production_writer_where_it_is(local_cloud):
    # GIVEN the same plan and resources
    cloud = local_cloud()

    # WHEN it runs as a DRILL
    result, made = _run(cloud, Mode.DRILL)

    # THEN it completed; the Aurora runbook only checked readiness and the writer stayed in production
    assert result.status == "COMPLETED"
    assert _steps(cloud, "DRSOrch-AuroraGlobalFailover") == [
        ["chooseMode", "checkGlobalClusterReady", "checkTargetClusterReady"]
    ]
    assert _writer(cloud) == [made["primary"]]
