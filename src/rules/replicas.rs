//! Whether a replica can follow its primary (DOMAIN.md §3; DESIGN.md decides storage too): a
//! replica's `max_connections` (fixed by its SKU, D-RR "Scaling": the check the service makes on
//! every SKU change), its vCores and its storage (DESIGN.md's decision) must be at least its
//! primary's. Every place that compares a replica with its primary (validator, planner,
//! providers, emulator) asks this module, through `rules::check`.

use super::{Generation, Service, SkuInfo, Tier, sku};

/// The size of a server as far as replica ordering is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SkuSize {
    pub service: Service,
    pub tier: Tier,
    pub generation: Generation,
    pub vcores: u32,
    pub storage_gb: u32,
}

impl SkuSize {
    /// The size of a catalog SKU with some storage.
    pub fn of_sku(sku: &SkuInfo, storage_gb: u32) -> SkuSize {
        SkuSize {
            service: Service::Single,
            tier: sku.tier,
            generation: sku.generation,
            vcores: sku.vcores,
            storage_gb,
        }
    }

    /// The connection limit the SKU fixes on Single Server, or 0 when the catalog does not sell
    /// it. Flexible Server's `max_connections` is a parameter that replicas take from their
    /// primary at create, not fixed by the SKU: 0, so only vCores and storage are compared.
    pub fn max_connections(self) -> u32 {
        match self.service {
            Service::Single => {
                sku(self.tier, self.generation, self.vcores).map_or(0, |sku| sku.max_connections)
            }
            Service::Flexible => 0,
        }
    }

    /// `GP_Gen5_8` (formed even when the catalog does not sell it), or `4 vCores
    /// GeneralPurpose` on Flexible Server.
    pub fn sku_name(self) -> String {
        match self.service {
            Service::Single => format!("{}_{}_{}", self.tier.sku_prefix(), self.generation, self.vcores),
            Service::Flexible => format!("{} vCores {}", self.vcores, self.tier),
        }
    }
}

/// What a replica may not be smaller than its primary in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaShortfall {
    /// The replica's SKU has fewer connections than the primary's (the service's rule).
    MaxConnections { primary: u32, replica: u32 },
    /// The replica has fewer vCores than the primary (DESIGN.md's decision).
    Vcores { primary: u32, replica: u32 },
    /// The replica has less storage than the primary (DESIGN.md's decision).
    Storage { primary_gb: u32, replica_gb: u32 },
}

impl ReplicaShortfall {
    /// `480 connections against 250`, for messages.
    pub(crate) fn describe(self) -> String {
        match self {
            ReplicaShortfall::MaxConnections { primary, replica } => {
                format!("{primary} connections against {replica}")
            }
            ReplicaShortfall::Vcores { primary, replica } => format!("{primary} vCores against {replica}"),
            ReplicaShortfall::Storage { primary_gb, replica_gb } => {
                format!("{primary_gb} GB of storage against {replica_gb} GB")
            }
        }
    }
}

/// Every dimension a replica falls short of its primary in: connections (the service's rule),
/// then vCores and storage (DESIGN.md's). Empty when the replica fits.
pub fn replica_shortfalls(primary: SkuSize, replica: SkuSize) -> Vec<ReplicaShortfall> {
    let mut shortfalls = Vec::new();
    let (primary_connections, replica_connections) = (primary.max_connections(), replica.max_connections());
    if replica_connections < primary_connections {
        shortfalls.push(ReplicaShortfall::MaxConnections {
            primary: primary_connections,
            replica: replica_connections,
        });
    } else if replica.vcores < primary.vcores {
        shortfalls.push(ReplicaShortfall::Vcores { primary: primary.vcores, replica: replica.vcores });
    }
    if replica.storage_gb < primary.storage_gb {
        shortfalls.push(ReplicaShortfall::Storage {
            primary_gb: primary.storage_gb,
            replica_gb: replica.storage_gb,
        });
    }
    shortfalls
}

/// Checks a primary's size against one replica's: `None` when the replica fits, else the
/// first dimension it falls short in. A SKU the catalog does not sell counts as zero
/// connections.
pub fn replica_shortfall(primary: SkuSize, replica: SkuSize) -> Option<ReplicaShortfall> {
    replica_shortfalls(primary, replica).into_iter().next()
}

/// Whether a replica of `replica`'s size may follow a primary of `primary`'s size.
pub fn replica_fits(primary: SkuSize, replica: SkuSize) -> bool {
    replica_shortfall(primary, replica).is_none()
}

/// The smallest compute of `replica`'s tier and generation (with its storage) that fits a
/// primary of every size in `primaries`: the size a replica can hold while its primary moves
/// between them, when no order of the two changes keeps the replica fitting its primary.
pub fn size_fitting_all(primaries: &[SkuSize], replica: SkuSize) -> Option<SkuSize> {
    if replica.service == Service::Flexible {
        // A flexible size is a named SKU, not a vCore count: none is made up.
        return None;
    }
    super::valid_vcores(replica.tier, replica.generation)
        .into_iter()
        .map(|vcores| SkuSize { vcores, ..replica })
        .find(|candidate| primaries.iter().all(|&primary| replica_fits(primary, *candidate)))
}

/// Whether a server of the pair may change size from `before` to `after` while the other side
/// stays as it is: refused (with the shortfall) only when the change leaves the replica short
/// and makes the pair worse. A pair already short because the primary's storage grew by itself
/// (auto-grow) does not block updates that leave it no worse, such as new tags or a replica
/// growing towards its primary.
pub fn replica_resize_shortfall(
    primary: (SkuSize, SkuSize),
    replica: (SkuSize, SkuSize),
) -> Option<ReplicaShortfall> {
    let ((primary_before, primary_after), (replica_before, replica_after)) = (primary, replica);
    let shortfall = replica_shortfall(primary_after, replica_after)?;
    let was_short = replica_shortfall(primary_before, replica_before).is_some();
    // What the replica lacks in each dimension (nothing when it has more).
    let connections_gap = |p: SkuSize, r: SkuSize| p.max_connections().saturating_sub(r.max_connections());
    let vcores_gap = |p: SkuSize, r: SkuSize| p.vcores.saturating_sub(r.vcores);
    let storage_gap = |p: SkuSize, r: SkuSize| p.storage_gb.saturating_sub(r.storage_gb);
    let worse = connections_gap(primary_after, replica_after)
        > connections_gap(primary_before, replica_before)
        || vcores_gap(primary_after, replica_after) > vcores_gap(primary_before, replica_before)
        || storage_gap(primary_after, replica_after) > storage_gap(primary_before, replica_before);
    (!was_short || worse).then_some(shortfall)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Generation::Gen5;
    use crate::rules::Tier::{GeneralPurpose as GP, MemoryOptimized as MO};
    use crate::rules::sku_by_name;

    fn size(name: &str, storage_gb: u32) -> SkuSize {
        SkuSize::of_sku(sku_by_name(name).unwrap(), storage_gb)
    }

    #[test]
    fn replicas_may_not_be_smaller_than_their_primary() {
        assert_eq!(replica_shortfall(size("GP_Gen5_4", 100), size("GP_Gen5_8", 100)), None);
        assert_eq!(replica_shortfall(size("GP_Gen5_4", 100), size("GP_Gen5_4", 100)), None);
        assert_eq!(
            replica_shortfall(size("GP_Gen5_8", 100), size("GP_Gen5_4", 100)),
            Some(ReplicaShortfall::MaxConnections { primary: 480, replica: 250 })
        );
        assert_eq!(
            replica_shortfall(size("GP_Gen5_4", 200), size("GP_Gen5_4", 100)),
            Some(ReplicaShortfall::Storage { primary_gb: 200, replica_gb: 100 })
        );
        // MO_Gen5_2 has more connections (300) than GP_Gen5_4 (250), but fewer vCores.
        assert_eq!(
            replica_shortfall(size("GP_Gen5_4", 100), size("MO_Gen5_2", 100)),
            Some(ReplicaShortfall::Vcores { primary: 4, replica: 2 })
        );
        // MO_Gen5_4 (500) outranks GP_Gen5_4 (250) at the same vCores.
        assert!(!replica_fits(size("MO_Gen5_4", 100), size("GP_Gen5_4", 100)));
    }

    #[test]
    fn fits_compares_connections_and_storage() {
        let size = |tier, vcores, storage_gb| SkuSize {
            service: Service::Single,
            tier,
            generation: Gen5,
            vcores,
            storage_gb,
        };
        assert!(replica_fits(size(GP, 4, 100), size(GP, 4, 100)));
        // GP_Gen5_8 allows 480 connections, MO_Gen5_4 500: enough connections, too few vCores.
        assert!(!replica_fits(size(GP, 8, 100), size(MO, 4, 100)));
        assert!(replica_fits(size(GP, 4, 100), size(GP, 8, 200)));
        assert!(!replica_fits(size(GP, 8, 100), size(GP, 4, 100)));
        assert!(!replica_fits(size(GP, 4, 200), size(GP, 4, 100)));
        // Same vCores, but MO_Gen5_4 allows 500 connections and GP_Gen5_4 only 250.
        assert!(!replica_fits(size(MO, 4, 100), size(GP, 4, 100)));
        assert!(replica_fits(size(GP, 4, 100), size(MO, 4, 100)));
    }

    #[test]
    fn an_unsold_sku_has_no_connections() {
        let unsold = SkuSize {
            service: Service::Single,
            tier: Tier::MemoryOptimized,
            generation: Generation::Gen4,
            vcores: 2,
            storage_gb: 100,
        };
        assert_eq!(unsold.max_connections(), 0);
        assert!(!replica_fits(size("B_Gen5_1", 100), unsold));
    }

    #[test]
    fn a_resize_is_refused_only_when_it_leaves_the_pair_short_and_worse() {
        let unchanged = |size: SkuSize| (size, size);
        // A primary growing past its replica: refused.
        let shortfall = replica_resize_shortfall(
            (size("GP_Gen5_4", 100), size("GP_Gen5_8", 100)),
            unchanged(size("GP_Gen5_4", 100)),
        );
        assert_eq!(shortfall, Some(ReplicaShortfall::MaxConnections { primary: 480, replica: 250 }));
        // A replica shrinking below its primary: refused.
        assert!(
            replica_resize_shortfall(
                unchanged(size("GP_Gen5_4", 100)),
                (size("GP_Gen5_4", 100), size("GP_Gen5_2", 100))
            )
            .is_some()
        );
        // The primary's storage grew by itself to 130 GB: a tags-only update of the replica
        // (same size) and the replica growing towards it are allowed; shrinking further is not.
        let grown = unchanged(size("GP_Gen5_4", 130));
        assert_eq!(replica_resize_shortfall(grown, unchanged(size("GP_Gen5_4", 100))), None);
        assert_eq!(replica_resize_shortfall(grown, (size("GP_Gen5_4", 100), size("GP_Gen5_8", 120))), None);
        assert!(replica_resize_shortfall(grown, (size("GP_Gen5_4", 100), size("GP_Gen5_2", 100))).is_some());
        // The short primary growing its compute makes the pair worse: refused.
        assert!(
            replica_resize_shortfall(
                (size("GP_Gen5_4", 130), size("GP_Gen5_8", 130)),
                unchanged(size("GP_Gen5_4", 100))
            )
            .is_some()
        );
        // Short in storage only (auto-grow), the replica larger in compute: the primary may
        // scale its compute up to the replica's, and the replica down to the primary's.
        let (primary, replica) = (size("GP_Gen5_4", 130), size("GP_Gen5_8", 100));
        assert_eq!(replica_resize_shortfall((primary, size("GP_Gen5_8", 130)), unchanged(replica)), None);
        assert_eq!(replica_resize_shortfall(unchanged(primary), (replica, size("GP_Gen5_4", 100))), None);
        // Fitting pairs stay allowed.
        assert_eq!(replica_resize_shortfall(unchanged(size("GP_Gen5_4", 100)), grown), None);
    }
}
