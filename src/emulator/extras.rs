//! A Single Server's settings beyond pgfleet's model, kept as a create or update sends them and
//! returned by GET as the service returns them: `publicNetworkAccess`, `infrastructureEncryption`,
//! the managed `identity`, and the creation time (`earliestRestoreDate`); plus the read-only
//! properties of the 2017-12-01 `ServerProperties` (`byokEnforcement`,
//! `privateEndpointConnections`). What the service refuses among them is `rules::tier_supports`.
//!
//! The creation time is the one wall-clock reading of the emulator: a display timestamp taken
//! once at create and kept (persisted), so every read of a server shows the same date. No timing
//! depends on it.
//!
//! Must not: change a server's rules-relevant shape (that is `store`'s).

use super::store::ApiError;
use crate::rules::{self, Tier, TierFeature};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The managed identity of a server (`identity: {"type": "SystemAssigned"}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerIdentity {
    pub kind: String,
    pub principal_id: String,
    pub tenant_id: String,
}

/// The extra settings of one server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ServerExtras {
    /// `Enabled` (the service's default) or `Disabled`.
    #[serde(default = "enabled")]
    pub public_network_access: String,
    /// `Disabled` (the default) or `Enabled`; set at create only.
    #[serde(default = "disabled")]
    pub infrastructure_encryption: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<ServerIdentity>,
    /// When the server was created (RFC 3339), its earliest restore point.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
}

fn enabled() -> String {
    "Enabled".to_string()
}

fn disabled() -> String {
    "Disabled".to_string()
}

impl Default for ServerExtras {
    fn default() -> ServerExtras {
        ServerExtras {
            public_network_access: enabled(),
            infrastructure_encryption: disabled(),
            identity: None,
            created: None,
        }
    }
}

/// The wall-clock time now, for display (RFC 3339, whole seconds, `+00:00` as the service
/// writes it).
pub(crate) fn display_timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// `Enabled` or `Disabled` in the service's spelling.
///
/// # Errors
/// 400 `InvalidParameterValue` for any other value.
fn enabled_or_disabled(field: &str, value: &str) -> Result<String, ApiError> {
    ["Enabled", "Disabled"]
        .into_iter()
        .find(|v| v.eq_ignore_ascii_case(value))
        .map(str::to_string)
        .ok_or_else(|| {
            ApiError::new(
                400,
                "InvalidParameterValue",
                format!("Invalid value '{value}' for {field}; use 'Enabled' or 'Disabled'."),
            )
        })
}

/// A tier's refusal of a feature (DOMAIN.md §1.4). The service's code is not recorded; this is
/// the emulator's name for it.
pub(crate) fn not_on_tier(feature: &str, tier: Tier) -> ApiError {
    ApiError::new(
        400,
        "FeatureNotSupportedOnTier",
        format!("{feature} is not supported on {} servers.", tier.as_str()),
    )
}

impl ServerExtras {
    /// The settings of a create, checked against the tier; the creation time is now.
    ///
    /// # Errors
    /// 400 for a value other than `Enabled`/`Disabled`, or public access denied on Basic.
    pub(crate) fn of_create(
        public_network_access: Option<&str>,
        infrastructure_encryption: Option<&str>,
        tier: Tier,
    ) -> Result<ServerExtras, ApiError> {
        let mut extras = ServerExtras { created: Some(display_timestamp()), ..ServerExtras::default() };
        if let Some(value) = infrastructure_encryption {
            extras.infrastructure_encryption = enabled_or_disabled("infrastructureEncryption", value)?;
        }
        extras.set_public_network_access(public_network_access, tier)?;
        Ok(extras)
    }

    /// A PATCH's `publicNetworkAccess`, if it names one.
    ///
    /// # Errors
    /// As [`ServerExtras::of_create`].
    pub(crate) fn set_public_network_access(
        &mut self,
        value: Option<&str>,
        tier: Tier,
    ) -> Result<(), ApiError> {
        let Some(value) = value else { return Ok(()) };
        let value = enabled_or_disabled("publicNetworkAccess", value)?;
        if value == "Disabled" && !rules::tier_supports(tier, TierFeature::DenyPublicNetworkAccess) {
            return Err(not_on_tier("Denying public network access", tier));
        }
        self.public_network_access = value;
        Ok(())
    }

    /// A request's `identity` (its `type`), if it names one: `SystemAssigned` gets ids of its
    /// own, kept from then on; `None` removes it.
    pub(crate) fn set_identity(&mut self, request: &Value) {
        let Some(kind) = request.pointer("/identity/type").and_then(Value::as_str) else { return };
        if kind.eq_ignore_ascii_case("None") {
            self.identity = None;
        } else if self.identity.is_none() {
            self.identity = Some(ServerIdentity {
                kind: kind.to_string(),
                principal_id: uuid::Uuid::new_v4().to_string(),
                tenant_id: uuid::Uuid::new_v4().to_string(),
            });
        }
    }

    /// Whether firewall and virtual network rules may be written (not once public access is
    /// denied, DOMAIN.md §1.6).
    ///
    /// # Errors
    /// 400 when public network access is `Disabled`.
    pub(crate) fn check_network_rules(&self, what: &str) -> Result<(), ApiError> {
        if self.public_network_access == "Disabled" {
            return Err(ApiError::new(
                400,
                "PublicNetworkAccessDisabled",
                format!("{what} cannot be added or updated while public network access is disabled."),
            ));
        }
        Ok(())
    }

    /// The server properties these add to a GET (`earliestRestoreDate` is a field of its own).
    pub(crate) fn wire_properties(&self) -> Vec<(String, Value)> {
        let properties = vec![
            ("publicNetworkAccess".to_string(), json!(self.public_network_access)),
            ("infrastructureEncryption".to_string(), json!(self.infrastructure_encryption)),
            ("byokEnforcement".to_string(), json!("Disabled")),
            ("privateEndpointConnections".to_string(), json!([])),
        ];
        properties
    }

    /// The `identity` a GET shows, if the server has one.
    pub(crate) fn wire_identity(&self) -> Option<Value> {
        self.identity.as_ref().map(|identity| {
            json!({"type": identity.kind, "principalId": identity.principal_id, "tenantId": identity.tenant_id})
        })
    }
}
