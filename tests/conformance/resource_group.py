"""The resource group every script creates first, with azure-mgmt-resource as a user would
(`PUT /subscriptions/{s}/resourcegroups/{rg}`), and reads it back (`HEAD` as
`check_existence`, then `GET`)."""

from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.resources.models import ResourceGroup

from harness import Context, expect, expect_equal


def create_resource_group(context: Context) -> None:
    settings = context.settings
    client = context.client(ResourceManagementClient)
    created = client.resource_groups.create_or_update(
        settings.resource_group, ResourceGroup(location=settings.location, tags={"suite": "sdk-conformance"})
    )
    expect_equal(created.name, settings.resource_group, "created resource group name")
    expect_equal(
        (created.id or "").lower(),
        f"/subscriptions/{settings.subscription_id}/resourcegroups/{settings.resource_group}".lower(),
        "created resource group id",
    )
    state = created.properties.provisioning_state if created.properties else None
    expect_equal(state, "Succeeded", "created resource group provisioningState")


def read_resource_group(context: Context) -> None:
    settings = context.settings
    client = context.client(ResourceManagementClient)
    expect(
        client.resource_groups.check_existence(settings.resource_group),
        "HEAD of the resource group answered that it does not exist",
    )
    read = client.resource_groups.get(settings.resource_group)
    expect_equal(read.name, settings.resource_group, "resource group name")
    expect_equal(read.location, settings.location, "resource group location")
