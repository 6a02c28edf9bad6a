//! The emulator's servers by lower-case name, with the index of each primary's replicas kept
//! beside them. Every answer about a Single Server says whether it has replicas
//! (`replicationRole: Master`), and writes check a primary's replicas: scanning every server
//! for that made each answer O(N), so an apply of N servers cost O(N²) in the emulator.
//!
//! Owns: keeping the index equal to the servers' `master` fields. Must not: decide anything
//! about the service (the store and its rules do).

use super::store::EmServer;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};

/// Servers by lower-case name, and the replicas of each primary.
///
/// Reads go through `Deref` to the map. Writes go through [`Servers::insert`],
/// [`Servers::remove`] and [`Servers::detach_replicas`], which keep the index; a server's
/// `master` is never changed through [`Servers::get_mut`] (insert the changed server instead).
#[derive(Debug, Default)]
pub(crate) struct Servers {
    map: BTreeMap<String, EmServer>,
    /// Primary's key → its replicas' keys.
    replicas: BTreeMap<String, BTreeSet<String>>,
}

impl Servers {
    /// Adds or replaces a server, returning the one it replaced.
    pub(crate) fn insert(&mut self, key: String, server: EmServer) -> Option<EmServer> {
        let before = self.remove(&key);
        if let Some(master) = &server.master {
            self.replicas.entry(master.clone()).or_default().insert(key.clone());
        }
        self.map.insert(key, server);
        before
    }

    pub(crate) fn remove(&mut self, key: &str) -> Option<EmServer> {
        let server = self.map.remove(key)?;
        if let Some(master) = &server.master {
            if let Some(replicas) = self.replicas.get_mut(master) {
                replicas.remove(key);
                if replicas.is_empty() {
                    self.replicas.remove(master);
                }
            }
        }
        Some(server)
    }

    /// A server to change in place; its `master` must stay as it is.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut EmServer> {
        let server = self.map.get_mut(key)?;
        debug_assert!(
            server.master.as_ref().is_none_or(|m| self.replicas.get(m).is_some_and(|r| r.contains(key))),
            "the replica index is out of step with {key}"
        );
        Some(server)
    }

    /// Changes every server in place (at load); `master` must stay as it is.
    pub(crate) fn for_each_mut(&mut self, mut change: impl FnMut(&mut EmServer)) {
        self.map.values_mut().for_each(&mut change);
    }

    /// The replicas of `key`.
    pub(crate) fn replicas_of<'a>(&'a self, key: &str) -> impl Iterator<Item = &'a EmServer> + 'a {
        let keys = self.replicas.get(key).into_iter().flatten();
        keys.filter_map(|replica| self.map.get(replica))
    }

    /// Makes the replicas of `key` standalone servers (their primary is gone), changing each
    /// one further with `change`.
    pub(crate) fn detach_replicas(&mut self, key: &str, mut change: impl FnMut(&mut EmServer)) {
        for replica in self.replicas.remove(key).into_iter().flatten() {
            if let Some(server) = self.map.get_mut(&replica) {
                server.master = None;
                change(server);
            }
        }
    }
}

impl std::ops::Deref for Servers {
    type Target = BTreeMap<String, EmServer>;

    fn deref(&self) -> &BTreeMap<String, EmServer> {
        &self.map
    }
}

impl From<BTreeMap<String, EmServer>> for Servers {
    fn from(map: BTreeMap<String, EmServer>) -> Servers {
        let mut servers = Servers::default();
        for (key, server) in map {
            servers.insert(key, server);
        }
        servers
    }
}

impl Serialize for Servers {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.map.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Servers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Servers, D::Error> {
        BTreeMap::<String, EmServer>::deserialize(deserializer).map(Servers::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(name: &str, master: Option<&str>) -> EmServer {
        EmServer { master: master.map(str::to_string), ..EmServer::new("sub", "rg", name, "westeurope") }
    }

    #[test]
    fn the_replica_index_follows_inserts_removes_and_detaches() {
        let mut servers = Servers::default();
        let has_replicas = |servers: &Servers, key: &str| servers.replicas_of(key).next().is_some();
        servers.insert("main".into(), server("main", None));
        servers.insert("ro-1".into(), server("ro-1", Some("main")));
        servers.insert("ro-2".into(), server("ro-2", Some("main")));
        assert!(has_replicas(&servers, "main") && !has_replicas(&servers, "ro-1"));
        let names: Vec<_> = servers.replicas_of("main").map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["ro-1", "ro-2"]);
        // A promotion: the replica is inserted again without a master.
        servers.insert("ro-1".into(), server("ro-1", None));
        servers.remove("ro-2");
        assert!(!has_replicas(&servers, "main"));
        servers.insert("ro-3".into(), server("ro-3", Some("main")));
        servers.detach_replicas("main", |_| {});
        assert!(servers["ro-3"].master.is_none() && !has_replicas(&servers, "main"));
    }
}
