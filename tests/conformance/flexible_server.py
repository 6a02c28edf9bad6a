"""Conformance of an ARM endpoint with Azure Database for PostgreSQL – Flexible Server
(`Microsoft.DBforPostgreSQL/flexibleServers`, api-version 2025-08-01) as Microsoft's Python SDK
(`azure.mgmt.postgresqlflexibleservers`, azure-mgmt-postgresqlflexibleservers 2.0.0) drives it.

Run: see README.md beside this file. One line per check, `PASS name` / `FAIL name: reason`.
"""

from azure.mgmt.postgresqlflexibleservers import PostgreSQLManagementClient
from azure.mgmt.postgresqlflexibleservers.models import (
    Backup,
    CheckNameAvailabilityRequest,
    ConfigurationForUpdate,
    Database,
    FirewallRule,
    HighAvailability,
    Network,
    Replica,
    Server,
    ServerForPatch,
    Sku,
    SkuForPatch,
    Storage,
)

import harness
from harness import (
    ADMIN_LOGIN,
    ADMIN_PASSWORD,
    Context,
    Suite,
    expect,
    expect_equal,
    expect_http_error,
    expect_not_found,
)
from resource_group import create_resource_group, read_resource_group

SERVER_TYPE = "Microsoft.DBforPostgreSQL/flexibleServers"
API_VERSION = "2025-08-01"
PRIMARY = "sdk-flex-main"
# Two replicas: one promoted as 2025-08-01 documents (replica.promoteMode), one the legacy way
# (replicationRole None, as Terraform's azurerm still does).
REPLICA = "sdk-flex-ro1"
LEGACY_REPLICA = "sdk-flex-ro2"
UNUSED = "sdk-flex-unused"
SYSTEM_DATABASES = {"postgres", "azure_maintenance", "azure_sys"}
REPLICA_ROLES = ("AsyncReplica", "GeoAsyncReplica")
# What Azure answers to a smaller storageSizeGB (DOMAIN-FLEXIBLE.md: "Requested data Disk size
# '32768' cannot be less than current size '65536'").
SHRINK_CODE = "UpsertServerManagementOperationDowngradeDiskSizeUnsupported"


def build(context: Context) -> Suite:
    suite = Suite("flexible-server")
    client = context.client(PostgreSQLManagementClient)
    rg = context.settings.resource_group
    location = context.settings.location

    def server_id(name: str) -> str:
        return (
            f"/subscriptions/{context.settings.subscription_id}/resourceGroups/{rg}"
            f"/providers/Microsoft.DBforPostgreSQL/flexibleServers/{name}"
        )

    def same_id(actual, expected, what):
        expect_equal((actual or "").lower(), expected.lower(), what)

    def patch(name: str, body: ServerForPatch, what: str):
        return context.wait(client.servers.begin_update(rg, name, body), what)

    def role(server) -> tuple:
        return (server.replication_role, server.replica.role if server.replica else None)

    @suite.check()
    def sdk_api_version():
        # The pinned SDK must speak the api-version the emulator serves (3.0.0 speaks 2026-10-01).
        expect_equal(client._config.api_version, API_VERSION, "the SDK's api-version")  # pylint: disable=protected-access

    @suite.check()
    def resource_group():
        create_resource_group(context)

    @suite.check(requires=["resource_group"])
    def resource_group_read():
        read_resource_group(context)

    @suite.check(requires=["resource_group"])
    def create_server():
        body = Server(
            location=location,
            tags={"suite": "sdk-conformance"},
            sku=Sku(name="Standard_D2ds_v5", tier="GeneralPurpose"),
            administrator_login=ADMIN_LOGIN,
            administrator_login_password=ADMIN_PASSWORD,
            version="16",
            create_mode="Create",
            storage=Storage(storage_size_gb=128, auto_grow="Disabled"),
            backup=Backup(backup_retention_days=7, geo_redundant_backup="Disabled"),
            network=Network(public_network_access="Enabled"),
            high_availability=HighAvailability(mode="Disabled"),
        )
        server = context.wait(client.servers.begin_create_or_update(rg, PRIMARY, body), "create")
        expect(server is not None, "begin_create_or_update(...).result() returned no server")
        expect_equal(server.name, PRIMARY, "name")
        expect_equal(server.type, SERVER_TYPE, "type")
        same_id(server.id, server_id(PRIMARY), "id")
        expect_equal(server.sku.name, "Standard_D2ds_v5", "sku.name")
        expect_equal(server.sku.tier, "GeneralPurpose", "sku.tier")
        expect_equal(server.state, "Ready", "state after create")
        expect_equal(server.storage.storage_size_gb, 128, "storage.storageSizeGB")
        expect_equal(server.version, "16", "version")
        expect_equal(server.tags, {"suite": "sdk-conformance"}, "tags")

    @suite.check(requires=["create_server"])
    def get_server():
        server = client.servers.get(rg, PRIMARY)
        expect_equal(server.name, PRIMARY, "name")
        expect_equal(server.location, location, "location")
        expect_equal(server.administrator_login, ADMIN_LOGIN, "administratorLogin")
        expect_equal(server.administrator_login_password, None, "administratorLoginPassword (never returned)")
        expect_equal(server.backup.backup_retention_days, 7, "backup.backupRetentionDays")
        expect_equal(server.backup.geo_redundant_backup, "Disabled", "backup.geoRedundantBackup")
        expect_equal(server.high_availability.mode, "Disabled", "highAvailability.mode")
        expect_equal(server.network.public_network_access, "Enabled", "network.publicNetworkAccess")
        expect(bool(server.fully_qualified_domain_name), "no fullyQualifiedDomainName")
        expect(server.replica is not None, "no replica block (Azure answers replica.role Primary)")
        expect(server.replication_role not in REPLICA_ROLES, f"replicationRole {server.replication_role!r}")

    @suite.check(requires=["create_server"])
    def list_by_resource_group():
        names = [s.name for s in client.servers.list_by_resource_group(rg)]
        expect(PRIMARY in names, f"{PRIMARY} missing from the group's servers {names}")

    @suite.check(requires=["create_server"])
    def list_by_subscription():
        names = [s.name for s in client.servers.list_by_subscription()]
        expect(PRIMARY in names, f"{PRIMARY} missing from the subscription's servers {names}")

    @suite.check(requires=["create_server"])
    def check_name_availability():
        taken = client.name_availability.check_globally(
            CheckNameAvailabilityRequest(name=PRIMARY, type=SERVER_TYPE)
        )
        expect_equal(taken.name_available, False, f"nameAvailable of the existing {PRIMARY}")
        expect_equal(taken.reason, "AlreadyExists", f"reason for {PRIMARY}")
        free = client.name_availability.check_globally(CheckNameAvailabilityRequest(name=UNUSED, type=SERVER_TYPE))
        expect_equal(free.name_available, True, f"nameAvailable of the unused {UNUSED}")

    @suite.check(requires=["create_server"])
    def check_name_availability_with_location():
        taken = client.name_availability.check_with_location(
            location, CheckNameAvailabilityRequest(name=PRIMARY, type=SERVER_TYPE)
        )
        expect_equal(taken.name_available, False, f"nameAvailable of the existing {PRIMARY}")
        free = client.name_availability.check_with_location(
            location, CheckNameAvailabilityRequest(name=UNUSED, type=SERVER_TYPE)
        )
        expect_equal(free.name_available, True, f"nameAvailable of the unused {UNUSED}")

    @suite.check(requires=["create_server"])
    def scale_up():
        updated = patch(PRIMARY, ServerForPatch(sku=SkuForPatch(name="Standard_D4ds_v5", tier="GeneralPurpose")), "update")
        expect_equal(updated.sku.name, "Standard_D4ds_v5", "sku.name in the update's result")
        expect_equal(client.servers.get(rg, PRIMARY).sku.name, "Standard_D4ds_v5", "sku.name read back")

    @suite.check(requires=["scale_up"])
    def scale_down():
        updated = patch(PRIMARY, ServerForPatch(sku=SkuForPatch(name="Standard_D2ds_v5", tier="GeneralPurpose")), "update")
        expect_equal(updated.sku.name, "Standard_D2ds_v5", "sku.name in the update's result")
        expect_equal(client.servers.get(rg, PRIMARY).sku.name, "Standard_D2ds_v5", "sku.name read back")

    @suite.check(requires=["create_server"])
    def storage_grow():
        updated = patch(PRIMARY, ServerForPatch(storage=Storage(storage_size_gb=256)), "update")
        expect_equal(updated.storage.storage_size_gb, 256, "storageSizeGB in the update's result")
        read = client.servers.get(rg, PRIMARY)
        expect_equal(read.storage.storage_size_gb, 256, "storageSizeGB read back")
        expect_equal(read.backup.backup_retention_days, 7, "backupRetentionDays kept by a storage-only PATCH")

    @suite.check(requires=["storage_grow"])
    def storage_shrink_refused():
        expect_http_error(
            lambda: patch(PRIMARY, ServerForPatch(storage=Storage(storage_size_gb=128)), "update"),
            SHRINK_CODE,
            "a storage shrink",
        )
        expect_equal(client.servers.get(rg, PRIMARY).storage.storage_size_gb, 256, "storageSizeGB after the refusal")

    @suite.check(requires=["create_server"])
    def restart():
        context.wait(client.servers.begin_restart(rg, PRIMARY), "restart")
        expect_equal(client.servers.get(rg, PRIMARY).state, "Ready", "state after the restart")

    @suite.check(requires=["create_server"])
    def configurations_list():
        configurations = {c.name: c for c in client.configurations.list_by_server(rg, PRIMARY)}
        expect("work_mem" in configurations, f"work_mem missing from the {len(configurations)} configurations listed")
        expect(bool(configurations["work_mem"].value), "work_mem listed without a value")

    @suite.check(requires=["create_server"])
    def configuration_get_work_mem():
        work_mem = client.configurations.get(rg, PRIMARY, "work_mem")
        expect_equal(work_mem.name, "work_mem", "name")
        expect((work_mem.value or "").isdigit(), f"value {work_mem.value!r} is not a number of kB")
        expect_equal(work_mem.data_type, "Integer", "dataType")
        expect(bool(work_mem.allowed_values), "no allowedValues")
        expect(bool(work_mem.default_value), "no defaultValue")
        expect_equal(work_mem.is_dynamic_config, True, "isDynamicConfig")

    @suite.check(requires=["create_server"])
    def configuration_update():
        body = ConfigurationForUpdate(value="8192", source="user-override")
        updated = context.wait(
            client.configurations.begin_update(rg, PRIMARY, "work_mem", body), "configuration update"
        )
        expect_equal(updated.value, "8192", "value in the update's result")
        read = client.configurations.get(rg, PRIMARY, "work_mem")
        expect_equal(read.value, "8192", "value read back")
        expect_equal(read.source, "user-override", "source read back")

    @suite.check(requires=["create_server"])
    def firewall_rules():
        rule = FirewallRule(start_ip_address="203.0.113.0", end_ip_address="203.0.113.255")
        created = context.wait(
            client.firewall_rules.begin_create_or_update(rg, PRIMARY, "office", rule), "firewall rule create"
        )
        expect_equal(created.name, "office", "name in the create's result")
        expect_equal(created.start_ip_address, "203.0.113.0", "startIpAddress")
        read = client.firewall_rules.get(rg, PRIMARY, "office")
        expect_equal(read.end_ip_address, "203.0.113.255", "endIpAddress read back")
        names = [r.name for r in client.firewall_rules.list_by_server(rg, PRIMARY)]
        expect("office" in names, f"office missing from the rules listed {names}")
        context.wait(client.firewall_rules.begin_delete(rg, PRIMARY, "office"), "firewall rule delete")
        expect_not_found(lambda: client.firewall_rules.get(rg, PRIMARY, "office"), "the deleted rule")
        names = [r.name for r in client.firewall_rules.list_by_server(rg, PRIMARY)]
        expect("office" not in names, f"the deleted rule is still listed: {names}")

    @suite.check(requires=["create_server"])
    def databases_system():
        names = {d.name for d in client.databases.list_by_server(rg, PRIMARY)}
        missing = SYSTEM_DATABASES - names
        expect(not missing, f"system databases {sorted(missing)} missing from {sorted(names)}")

    @suite.check(requires=["create_server"])
    def database_lifecycle():
        body = Database(charset="UTF8", collation="en_US.utf8")
        created = context.wait(client.databases.begin_create(rg, PRIMARY, "appdb", body), "database create")
        expect_equal(created.name, "appdb", "name in the create's result")
        read = client.databases.get(rg, PRIMARY, "appdb")
        expect_equal(read.charset, "UTF8", "charset read back")
        expect_equal(read.collation, "en_US.utf8", "collation read back")
        names = {d.name for d in client.databases.list_by_server(rg, PRIMARY)}
        expect("appdb" in names, f"appdb missing from {sorted(names)}")
        context.wait(client.databases.begin_delete(rg, PRIMARY, "appdb"), "database delete")
        expect_not_found(lambda: client.databases.get(rg, PRIMARY, "appdb"), "the deleted database")

    def create_replica(name: str):
        body = Server(location=location, create_mode="Replica", source_server_resource_id=server_id(PRIMARY))
        replica = context.wait(client.servers.begin_create_or_update(rg, name, body), f"create of {name}")
        expect_equal(replica.name, name, "name")
        expect(replica.replica is not None, "no replica block")
        expect_equal(replica.replica.role, "AsyncReplica", "replica.role")
        expect_equal(replica.replication_role, "AsyncReplica", "replicationRole")
        same_id(replica.source_server_resource_id, server_id(PRIMARY), "sourceServerResourceId")
        expect_equal(replica.sku.name, client.servers.get(rg, PRIMARY).sku.name, "sku.name (the primary's)")

    @suite.check(requires=["create_server"])
    def replica_create():
        create_replica(REPLICA)
        create_replica(LEGACY_REPLICA)

    @suite.check(requires=["replica_create"])
    def replicas_list_by_server():
        replicas = {r.name: r for r in client.replicas.list_by_server(rg, PRIMARY)}
        expect_equal(sorted(replicas), sorted([REPLICA, LEGACY_REPLICA]), "the primary's replicas")
        for name, replica in replicas.items():
            expect(replica.replication_role in REPLICA_ROLES, f"{name}: replicationRole {replica.replication_role!r}")

    def expect_promoted(name: str):
        read = client.servers.get(rg, name)
        expect(
            read.replication_role not in REPLICA_ROLES and (read.replica is None or read.replica.role not in REPLICA_ROLES),
            f"{name} still a replica after promote: (replicationRole, replica.role) = {role(read)}",
        )
        expect_equal(read.state, "Ready", f"{name}: state after promote")
        names = [r.name for r in client.replicas.list_by_server(rg, PRIMARY)]
        expect(name not in names, f"the promoted {name} is still listed as a replica: {names}")

    @suite.check(requires=["replica_create"])
    def promote_replica():
        body = ServerForPatch(replica=Replica(promote_mode="Standalone", promote_option="Planned"))
        patch(REPLICA, body, "promote")
        expect_promoted(REPLICA)

    @suite.check(requires=["replica_create"])
    def promote_replica_legacy():
        patch(LEGACY_REPLICA, ServerForPatch(replication_role="None"), "promote")
        expect_promoted(LEGACY_REPLICA)

    @suite.check(requires=["create_server"])
    def delete_servers():
        names = [s.name for s in client.servers.list_by_resource_group(rg)]
        for name in [REPLICA, LEGACY_REPLICA, PRIMARY]:
            if name in names:
                context.wait(client.servers.begin_delete(rg, name), f"delete of {name}")
        for name in [REPLICA, LEGACY_REPLICA, PRIMARY]:
            expect_not_found(lambda: client.servers.get(rg, name), f"the deleted {name}")
        names = [s.name for s in client.servers.list_by_resource_group(rg)]
        expect(not {PRIMARY, REPLICA, LEGACY_REPLICA} & set(names), f"deleted servers still listed: {names}")

    return suite


if __name__ == "__main__":
    harness.main(build)
