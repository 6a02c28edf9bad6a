//! Whether a replica can follow its primary (DOMAIN.md §3; DESIGN.md decides storage too): a
//! replica's `max_connections` (fixed by its SKU) and storage must be at least its primary's.

use super::SkuInfo;

/// What a replica may not be smaller than its primary in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaShortfall {
    /// The replica's SKU has fewer connections than the primary's (the service's rule).
    MaxConnections { primary: u32, replica: u32 },
    /// The replica has less storage than the primary (DESIGN.md's decision).
    Storage { primary_gb: u32, replica_gb: u32 },
}

/// Checks a primary's SKU and storage against one replica's: `None` when the replica fits.
pub fn replica_shortfall(primary: (&SkuInfo, u32), replica: (&SkuInfo, u32)) -> Option<ReplicaShortfall> {
    let ((primary_sku, primary_gb), (replica_sku, replica_gb)) = (primary, replica);
    if replica_sku.max_connections < primary_sku.max_connections {
        return Some(ReplicaShortfall::MaxConnections {
            primary: primary_sku.max_connections,
            replica: replica_sku.max_connections,
        });
    }
    if replica_gb < primary_gb {
        return Some(ReplicaShortfall::Storage { primary_gb, replica_gb });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::sku_by_name;

    #[test]
    fn replicas_may_not_be_smaller_than_their_primary() {
        let gp4 = sku_by_name("GP_Gen5_4").unwrap();
        let gp8 = sku_by_name("GP_Gen5_8").unwrap();
        assert_eq!(replica_shortfall((gp4, 100), (gp8, 100)), None);
        assert_eq!(replica_shortfall((gp4, 100), (gp4, 100)), None);
        assert_eq!(
            replica_shortfall((gp8, 100), (gp4, 100)),
            Some(ReplicaShortfall::MaxConnections { primary: 480, replica: 250 })
        );
        assert_eq!(
            replica_shortfall((gp4, 200), (gp4, 100)),
            Some(ReplicaShortfall::Storage { primary_gb: 200, replica_gb: 100 })
        );
        // MO_Gen5_2 has more connections (300) than GP_Gen5_4 (250): connections decide.
        let mo2 = sku_by_name("MO_Gen5_2").unwrap();
        assert_eq!(replica_shortfall((gp4, 100), (mo2, 100)), None);
    }
}
