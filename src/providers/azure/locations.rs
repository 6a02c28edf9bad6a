//! Where each fleet server lives on Azure, indexed both ways: by fleet name (to address a
//! server) and by lower-cased ARM id (to name a replica's primary, and to tell whether an Azure
//! name is taken). Every server an apply observes is looked up here, so both directions are
//! logarithmic: rebuilding the reverse map per observed server made an apply of N servers
//! quadratic (62% of its CPU at 5,000 servers).
//!
//! Owns: keeping the two directions consistent. Must not: do I/O.

use super::ServerRef;
use crate::model::ServerName;
use crate::rules::Service;
use std::collections::{BTreeMap, BTreeSet};

/// The locations learned from refreshes, creates and cutovers.
#[derive(Debug, Default)]
pub(super) struct Locations {
    /// Fleet name → where it lives.
    by_name: BTreeMap<ServerName, ServerRef>,
    /// Lower-cased ARM id → the fleet names recorded there (one, but for the moment of an
    /// interrupted cutover; the largest name answers, as a map built from `by_name` did).
    by_id: BTreeMap<String, BTreeSet<ServerName>>,
    /// The subscription the ids are under.
    subscription_id: String,
}

impl Locations {
    pub(super) fn new(subscription_id: &str) -> Locations {
        Locations { subscription_id: subscription_id.to_string(), ..Locations::default() }
    }

    /// The lower-cased ARM id of a location.
    fn key(&self, at: &ServerRef) -> String {
        super::arm_id(&self.subscription_id, at).to_ascii_lowercase()
    }

    pub(super) fn get(&self, name: &ServerName) -> Option<&ServerRef> {
        self.by_name.get(name)
    }

    pub(super) fn insert(&mut self, name: &ServerName, at: ServerRef) {
        self.remove(name);
        self.by_id.entry(self.key(&at)).or_default().insert(name.clone());
        self.by_name.insert(name.clone(), at);
    }

    pub(super) fn remove(&mut self, name: &ServerName) {
        let Some(at) = self.by_name.remove(name) else { return };
        let key = self.key(&at);
        if let Some(names) = self.by_id.get_mut(&key) {
            names.remove(name);
            if names.is_empty() {
                self.by_id.remove(&key);
            }
        }
    }

    /// The fleet name of the server with this ARM id (any case), if one is recorded.
    pub(super) fn name_at(&self, id: &str) -> Option<&ServerName> {
        self.by_id.get(&id.to_ascii_lowercase()).and_then(|names| names.last())
    }

    /// Whether a server other than `name` lives at `at`'s resource group and Azure name, under
    /// either service (Single and Flexible servers share one name space).
    pub(super) fn taken_by_other(&self, at: &ServerRef, name: &ServerName) -> bool {
        [Service::Single, Service::Flexible].into_iter().any(|service| {
            let key = self.key(&ServerRef { service, ..at.clone() });
            self.by_id.get(&key).is_some_and(|names| names.iter().any(|other| other != name))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(group: &str, name: &str, service: Service) -> ServerRef {
        ServerRef { resource_group: group.into(), name: name.into(), service }
    }

    #[test]
    fn both_directions_follow_inserts_moves_and_removes() {
        let mut locations = Locations::new("sub-1");
        let (main, other) = (ServerName::new("pay-main"), ServerName::new("other"));
        locations.insert(&main, at("rg-Fleet", "pay-main", Service::Single));
        let id = "/SUBSCRIPTIONS/sub-1/resourceGroups/rg-fleet/providers/Microsoft.DBforPostgreSQL/servers/PAY-MAIN";
        assert_eq!(locations.name_at(id), Some(&main));
        assert!(locations.taken_by_other(&at("RG-FLEET", "Pay-Main", Service::Flexible), &other));
        assert!(!locations.taken_by_other(&at("rg-fleet", "pay-main", Service::Single), &main));
        // A cutover: the name moves to the staging server's place; the old place is free.
        locations.insert(&main, at("rg-fleet", "pay-main-migration", Service::Single));
        assert_eq!(locations.name_at(id), None);
        assert!(!locations.taken_by_other(&at("rg-fleet", "pay-main", Service::Single), &other));
        locations.remove(&main);
        assert!(locations.get(&main).is_none());
        assert!(locations.by_id.is_empty());
    }
}
