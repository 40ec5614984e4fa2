"""The EC2 adapter of the network checks: boto3 `ec2` Describe* calls turned into the typed records of
`orchestrator.domain.plan.network_checks`, and `ClientError` into `Ec2Error`.

Every call filters by id (`subnet-id`, `group-id`, `addresses.private-ip-address`, `instance-type`) rather than
naming ids (`SubnetIds`, `GroupIds`): a filter that matches nothing returns nothing, where one unknown id fails
the whole call (InvalidSubnetID.NotFound, InvalidGroup.NotFound) and would hide which ids exist. The filter
values go `FILTER_VALUES` per call: botocore's model states no maximum, EC2 refuses a request with too many
values (FilterLimitExceeded), and 200 per filter is what it accepts. Every call pages with `MaxResults` (5 to
1000 in botocore's ec2 model for these four operations) and `NextToken`.

The client's own retries (botocore's standard mode) absorb brief throttling; what is left is an `Ec2Throttled`
(`retryable`): the step lets it raise, so its event is delivered again.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from botocore.exceptions import ClientError

from orchestrator.adapters.pagination import paginate
from orchestrator.domain.plan.network_checks import InstanceTypeOffering, NetworkInterface, SecurityGroup, Subnet

FILTER_VALUES = 200
MAX_RESULTS = 1000  # MaxResults' max for DescribeSubnets, -SecurityGroups, -NetworkInterfaces, -InstanceTypeOfferings
_RETRYABLE = frozenset(
    {
        "RequestLimitExceeded",  # EC2's throttling
        "Throttling",
        "ThrottlingException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
    }
)


class Ec2Error(RuntimeError):
    """An EC2 call failed; `code` is the service's error code, `operation` the call's name."""

    retryable = False

    def __init__(self, message: str, code: str = "", operation: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.operation = operation


class Ec2Throttled(Ec2Error):
    retryable = True


def _translate(exc: ClientError, operation: str) -> Ec2Error:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", "Unknown"))
    message = f"{operation} failed: {code}: {error.get('Message') or exc}"
    cls = Ec2Throttled if code in _RETRYABLE else Ec2Error
    return cls(message, code, operation)


def _batches(values: Sequence[str]) -> Iterator[list[str]]:
    unique = list(dict.fromkeys(values))
    for start in range(0, len(unique), FILTER_VALUES):
        yield unique[start : start + FILTER_VALUES]


class Ec2Network:
    """Reads of subnets, security groups, network interfaces and instance type offerings."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        try:
            result: dict[str, Any] = getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            raise _translate(exc, self._client.meta.method_to_api_mapping.get(operation, operation)) from exc
        return result

    def _items(self, operation: str, key: str, filters: list[dict[str, Any]], **kwargs: Any) -> Iterator[Any]:
        return paginate(
            self._call, operation, key, marker_member="NextToken", Filters=filters, MaxResults=MAX_RESULTS, **kwargs
        )

    def subnets(self, subnet_ids: Sequence[str]) -> list[Subnet]:
        """The subnets among `subnet_ids` that exist (DescribeSubnets, filter subnet-id)."""
        found: list[Subnet] = []
        for batch in _batches(subnet_ids):
            for item in self._items("describe_subnets", "Subnets", [{"Name": "subnet-id", "Values": batch}]):
                found.append(
                    Subnet(
                        subnet_id=str(item["SubnetId"]),
                        vpc_id=str(item["VpcId"]),
                        cidr_block=str(item["CidrBlock"]),
                        availability_zone=str(item["AvailabilityZone"]),
                    )
                )
        return found

    def security_groups(self, group_ids: Sequence[str]) -> list[SecurityGroup]:
        """The security groups among `group_ids` that exist (DescribeSecurityGroups, filter group-id)."""
        found: list[SecurityGroup] = []
        for batch in _batches(group_ids):
            by_id = [{"Name": "group-id", "Values": batch}]
            for item in self._items("describe_security_groups", "SecurityGroups", by_id):
                vpc = item.get("VpcId")
                found.append(
                    SecurityGroup(
                        group_id=str(item["GroupId"]),
                        group_name=str(item.get("GroupName", "")),
                        vpc_id=str(vpc) if vpc else None,
                    )
                )
        return found

    def interfaces_with_addresses(self, subnet_ids: Sequence[str], addresses: Sequence[str]) -> list[NetworkInterface]:
        """The network interfaces of these subnets that have one of these private IPv4 addresses (primary or
        secondary): DescribeNetworkInterfaces, filters subnet-id and addresses.private-ip-address. An interface
        may match an address asked for another subnet: the caller pairs them by subnet."""
        found: dict[str, NetworkInterface] = {}
        for subnets in _batches(subnet_ids):
            for ips in _batches(addresses):
                filters = [
                    {"Name": "subnet-id", "Values": subnets},
                    {"Name": "addresses.private-ip-address", "Values": ips},
                ]
                for item in self._items("describe_network_interfaces", "NetworkInterfaces", filters):
                    interface = _interface(item)
                    found[interface.network_interface_id] = interface
        return list(found.values())

    def instance_type_offerings(self, instance_types: Sequence[str]) -> list[InstanceTypeOffering]:
        """Every availability zone of the Region each of `instance_types` is offered in
        (DescribeInstanceTypeOfferings, LocationType availability-zone, filter instance-type)."""
        found: list[InstanceTypeOffering] = []
        for batch in _batches(instance_types):
            for item in self._items(
                "describe_instance_type_offerings",
                "InstanceTypeOfferings",
                [{"Name": "instance-type", "Values": batch}],
                LocationType="availability-zone",
            ):
                found.append(InstanceTypeOffering(str(item["InstanceType"]), str(item["Location"])))
        return found


def _interface(item: dict[str, Any]) -> NetworkInterface:
    ips = [str(address["PrivateIpAddress"]) for address in item.get("PrivateIpAddresses") or []]
    primary = item.get("PrivateIpAddress")
    if primary and primary not in ips:
        ips.insert(0, str(primary))
    attachment = item.get("Attachment") or {}
    instance = attachment.get("InstanceId")
    return NetworkInterface(
        network_interface_id=str(item["NetworkInterfaceId"]),
        subnet_id=str(item.get("SubnetId", "")),
        private_ips=tuple(ips),
        instance_id=str(instance) if instance else None,
    )
