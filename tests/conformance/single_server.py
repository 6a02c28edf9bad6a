"""Conformance of an ARM endpoint with Azure Database for PostgreSQL – Single Server
(`Microsoft.DBforPostgreSQL/servers`, api-version 2017-12-01) as Microsoft's Python SDK
(`azure.mgmt.rdbms.postgresql`, azure-mgmt-rdbms) drives it.

Run: see README.md beside this file. One line per check, `PASS name` / `FAIL name: reason`.
"""

from azure.mgmt.rdbms.postgresql import PostgreSQLManagementClient
from azure.mgmt.rdbms.postgresql.models import (
    Configuration,
    Database,
    FirewallRule,
    NameAvailabilityRequest,
    ServerForCreate,
    ServerPropertiesForDefaultCreate,
    ServerPropertiesForReplica,
    ServerUpdateParameters,
    Sku,
    StorageProfile,
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

SERVER_TYPE = "Microsoft.DBforPostgreSQL/servers"
PRIMARY = "sdk-single-main"
REPLICA = "sdk-single-ro"
UNUSED = "sdk-single-unused"
SYSTEM_DATABASES = {"postgres", "azure_maintenance", "azure_sys"}


def gp_sku(vcores: int) -> Sku:
    return Sku(name=f"GP_Gen5_{vcores}", tier="GeneralPurpose", capacity=vcores, family="Gen5")


def build(context: Context) -> Suite:
    suite = Suite("single-server")
    client = context.client(PostgreSQLManagementClient)
    rg = context.settings.resource_group
    location = context.settings.location

    def server_id(name: str) -> str:
        return (
            f"/subscriptions/{context.settings.subscription_id}/resourceGroups/{rg}"
            f"/providers/Microsoft.DBforPostgreSQL/servers/{name}"
        )

    def same_id(actual, expected, what):
        expect_equal((actual or "").lower(), expected.lower(), what)

    @suite.check()
    def resource_group():
        create_resource_group(context)

    @suite.check(requires=["resource_group"])
    def resource_group_read():
        read_resource_group(context)

    @suite.check(requires=["resource_group"])
    def create_server():
        body = ServerForCreate(
            location=location,
            sku=gp_sku(2),
            tags={"suite": "sdk-conformance"},
            properties=ServerPropertiesForDefaultCreate(
                administrator_login=ADMIN_LOGIN,
                administrator_login_password=ADMIN_PASSWORD,
                version="11",
                ssl_enforcement="Enabled",
                minimal_tls_version="TLS1_2",
                storage_profile=StorageProfile(
                    storage_mb=51200,
                    backup_retention_days=7,
                    geo_redundant_backup="Disabled",
                    storage_autogrow="Enabled",
                ),
            ),
        )
        server = context.wait(client.servers.begin_create(rg, PRIMARY, body), "create")
        expect(server is not None, "begin_create(...).result() returned no server")
        expect_equal(server.name, PRIMARY, "name")
        expect_equal(server.type, SERVER_TYPE, "type")
        same_id(server.id, server_id(PRIMARY), "id")
        expect_equal(server.sku.name, "GP_Gen5_2", "sku.name")
        expect_equal(server.sku.tier, "GeneralPurpose", "sku.tier")
        expect_equal(server.sku.capacity, 2, "sku.capacity")
        expect_equal(server.user_visible_state, "Ready", "userVisibleState after create")
        expect_equal(server.storage_profile.storage_mb, 51200, "storageProfile.storageMB")
        expect_equal(server.version, "11", "version")
        expect_equal(server.tags, {"suite": "sdk-conformance"}, "tags")

    @suite.check(requires=["create_server"])
    def get_server():
        server = client.servers.get(rg, PRIMARY)
        expect_equal(server.name, PRIMARY, "name")
        expect_equal(server.location, location, "location")
        expect_equal(server.administrator_login, ADMIN_LOGIN, "administratorLogin")
        expect_equal(server.ssl_enforcement, "Enabled", "sslEnforcement")
        expect_equal(server.minimal_tls_version, "TLS1_2", "minimalTlsVersion")
        expect_equal(server.storage_profile.backup_retention_days, 7, "backupRetentionDays")
        expect_equal(server.storage_profile.geo_redundant_backup, "Disabled", "geoRedundantBackup")
        expect(bool(server.fully_qualified_domain_name), "no fullyQualifiedDomainName")
        expect(server.user_visible_state == "Ready", f"userVisibleState {server.user_visible_state!r}")

    @suite.check(requires=["create_server"])
    def list_by_resource_group():
        names = [s.name for s in client.servers.list_by_resource_group(rg)]
        expect(PRIMARY in names, f"{PRIMARY} missing from the group's servers {names}")

    @suite.check(requires=["create_server"])
    def list_by_subscription():
        names = [s.name for s in client.servers.list()]
        expect(PRIMARY in names, f"{PRIMARY} missing from the subscription's servers {names}")

    @suite.check(requires=["create_server"])
    def check_name_availability():
        taken = client.check_name_availability.execute(NameAvailabilityRequest(name=PRIMARY, type=SERVER_TYPE))
        expect_equal(taken.name_available, False, f"nameAvailable of the existing {PRIMARY}")
        expect_equal(taken.reason, "AlreadyExists", f"reason for {PRIMARY}")
        free = client.check_name_availability.execute(NameAvailabilityRequest(name=UNUSED, type=SERVER_TYPE))
        expect_equal(free.name_available, True, f"nameAvailable of the unused {UNUSED}")

    @suite.check(requires=["create_server"])
    def scale_up():
        updated = context.wait(
            client.servers.begin_update(rg, PRIMARY, ServerUpdateParameters(sku=gp_sku(4))), "update"
        )
        expect_equal(updated.sku.name, "GP_Gen5_4", "sku.name in the update's result")
        expect_equal(updated.sku.capacity, 4, "sku.capacity in the update's result")
        expect_equal(client.servers.get(rg, PRIMARY).sku.name, "GP_Gen5_4", "sku.name read back")

    @suite.check(requires=["scale_up"])
    def scale_down():
        updated = context.wait(
            client.servers.begin_update(rg, PRIMARY, ServerUpdateParameters(sku=gp_sku(2))), "update"
        )
        expect_equal(updated.sku.name, "GP_Gen5_2", "sku.name in the update's result")
        expect_equal(client.servers.get(rg, PRIMARY).sku.capacity, 2, "sku.capacity read back")

    @suite.check(requires=["create_server"])
    def storage_grow():
        body = ServerUpdateParameters(storage_profile=StorageProfile(storage_mb=102400))
        updated = context.wait(client.servers.begin_update(rg, PRIMARY, body), "update")
        expect_equal(updated.storage_profile.storage_mb, 102400, "storageMB in the update's result")
        read = client.servers.get(rg, PRIMARY).storage_profile
        expect_equal(read.storage_mb, 102400, "storageMB read back")
        expect_equal(read.backup_retention_days, 7, "backupRetentionDays kept by a storage-only PATCH")

    @suite.check(requires=["storage_grow"])
    def storage_shrink_refused():
        body = ServerUpdateParameters(storage_profile=StorageProfile(storage_mb=51200))
        expect_http_error(
            lambda: context.wait(client.servers.begin_update(rg, PRIMARY, body), "update"),
            "UnsupportedUpdate",
            "a storage shrink",
        )
        expect_equal(
            client.servers.get(rg, PRIMARY).storage_profile.storage_mb, 102400, "storageMB after the refusal"
        )

    @suite.check(requires=["create_server"])
    def restart():
        context.wait(client.servers.begin_restart(rg, PRIMARY), "restart")
        state = client.servers.get(rg, PRIMARY).user_visible_state
        expect_equal(state, "Ready", "userVisibleState after the restart")

    @suite.check(requires=["create_server"])
    def configurations_list():
        configurations = {c.name: c for c in client.configurations.list_by_server(rg, PRIMARY)}
        for name in ("work_mem", "azure.replication_support"):
            expect(name in configurations, f"{name} missing from the {len(configurations)} configurations listed")
        expect(bool(configurations["work_mem"].value), "work_mem listed without a value")

    @suite.check(requires=["create_server"])
    def configuration_get_work_mem():
        work_mem = client.configurations.get(rg, PRIMARY, "work_mem")
        expect_equal(work_mem.name, "work_mem", "name")
        expect((work_mem.value or "").isdigit(), f"value {work_mem.value!r} is not a number of kB")
        expect_equal(work_mem.data_type, "Integer", "dataType")
        expect(bool(work_mem.allowed_values), "no allowedValues")
        expect(bool(work_mem.default_value), "no defaultValue")

    @suite.check(requires=["create_server"])
    def configuration_update():
        body = Configuration(value="8192", source="user-override")
        updated = context.wait(
            client.configurations.begin_create_or_update(rg, PRIMARY, "work_mem", body), "configuration update"
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
        body = Database(charset="UTF8", collation="English_United States.1252")
        created = context.wait(client.databases.begin_create_or_update(rg, PRIMARY, "appdb", body), "database create")
        expect_equal(created.name, "appdb", "name in the create's result")
        read = client.databases.get(rg, PRIMARY, "appdb")
        expect_equal(read.charset, "UTF8", "charset read back")
        expect_equal(read.collation, "English_United States.1252", "collation read back")
        names = {d.name for d in client.databases.list_by_server(rg, PRIMARY)}
        expect("appdb" in names, f"appdb missing from {sorted(names)}")
        context.wait(client.databases.begin_delete(rg, PRIMARY, "appdb"), "database delete")
        expect_not_found(lambda: client.databases.get(rg, PRIMARY, "appdb"), "the deleted database")

    @suite.check(requires=["create_server"])
    def replica_create():
        # As on Azure: replication support on the primary, in force after a restart, first.
        support = Configuration(value="REPLICA", source="user-override")
        context.wait(
            client.configurations.begin_create_or_update(rg, PRIMARY, "azure.replication_support", support),
            "configuration update",
        )
        context.wait(client.servers.begin_restart(rg, PRIMARY), "restart")
        body = ServerForCreate(
            location=location,
            sku=gp_sku(2),
            properties=ServerPropertiesForReplica(source_server_id=server_id(PRIMARY)),
        )
        replica = context.wait(client.servers.begin_create(rg, REPLICA, body), "replica create")
        expect_equal(replica.name, REPLICA, "name")
        expect_equal(replica.replication_role, "Replica", "replicationRole")
        same_id(replica.master_server_id, server_id(PRIMARY), "masterServerId")
        read = client.servers.get(rg, REPLICA)
        expect_equal(read.replication_role, "Replica", "replicationRole read back")

    @suite.check(requires=["replica_create"])
    def replicas_list_by_server():
        replicas = list(client.replicas.list_by_server(rg, PRIMARY))
        names = [r.name for r in replicas]
        expect_equal(names, [REPLICA], "the primary's replicas")
        expect_equal(replicas[0].replication_role, "Replica", "replicationRole of the listed replica")

    @suite.check(requires=["replica_create"])
    def promote_replica():
        promoted = context.wait(
            client.servers.begin_update(rg, REPLICA, ServerUpdateParameters(replication_role="None")), "promote"
        )
        expect(promoted.replication_role != "Replica", f"replicationRole {promoted.replication_role!r} after promote")
        read = client.servers.get(rg, REPLICA)
        expect(read.replication_role in ("None", ""), f"replicationRole {read.replication_role!r} read back")
        expect(not read.master_server_id, f"masterServerId {read.master_server_id!r} after promote")
        names = [r.name for r in client.replicas.list_by_server(rg, PRIMARY)]
        expect(REPLICA not in names, f"the promoted server is still listed as a replica: {names}")

    @suite.check(requires=["create_server"])
    def delete_servers():
        names = [s.name for s in client.servers.list_by_resource_group(rg)]
        for name in [REPLICA, PRIMARY]:
            if name in names:
                context.wait(client.servers.begin_delete(rg, name), f"delete of {name}")
        expect_not_found(lambda: client.servers.get(rg, PRIMARY), f"the deleted {PRIMARY}")
        expect_not_found(lambda: client.servers.get(rg, REPLICA), f"the deleted {REPLICA}")
        names = [s.name for s in client.servers.list_by_resource_group(rg)]
        expect(PRIMARY not in names and REPLICA not in names, f"deleted servers still listed: {names}")

    return suite


if __name__ == "__main__":
    harness.main(build)
