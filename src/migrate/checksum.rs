//! One side of a verification: the row count and content checksum of every table of one
//! database on one server, all read in one snapshot by a few sessions at once.
//!
//! A lead session opens a read-only repeatable-read transaction and exports its snapshot; each
//! worker session imports it, so every table (and every page range of a big table) is read as
//! of the same instant. The snapshot's `txid_current_snapshot()` is kept with the checksums:
//! [`unchanged_since`] tells later whether any transaction that wrote has ended on the server
//! since, which is what lets a migration checksum the frozen source while it is still being
//! dumped and restored.
//!
//! Owns: the checksum function ([`Hashing`]), splitting big tables into page ranges, the
//! shared snapshot. Must not: change the server (every transaction is read-only), or compare
//! two sides (`verify` does).

use super::MigrateError;
use super::sql::{connect, context};
use crate::providers::Connection;
use std::sync::Mutex;

/// One table's row count and checksum as one side read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCheck {
    /// `schema.table`.
    pub table: String,
    pub rows: i64,
    /// The sums of the row hashes' words ([`Hashing`]), `A:B` or `A:B:C:D`.
    pub checksum: String,
}

/// Every table of one database as one side read it, in one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSums {
    /// In [`TABLES_SQL`]'s order.
    pub tables: Vec<TableCheck>,
    /// `txid_current_snapshot()` of the snapshot the tables were read in, for [`unchanged_since`].
    pub snapshot: String,
    /// How the rows were hashed.
    pub hashing: Hashing,
}

/// Every table as `schema.table`, quoted only where SQL needs it (PostgreSQL's `quote_ident`),
/// so the same text goes into queries and reads well in progress lines, with its size in pages.
pub(super) const TABLES_SQL: &str = "SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), \
     pg_relation_size(c.oid) / current_setting('block_size')::bigint \
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
     WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname NOT LIKE 'pg\\_toast%' ORDER BY n.nspname, c.relname";

/// How every row is hashed; both sides of a comparison hash the same way. A table's (or a page
/// range's) row count and content checksum: every row's text (`t::text`, all columns) is
/// hashed into 128 bits, and each hash word is summed exactly over the rows. A sum does not
/// depend on the order rows are read in, so neither side sorts N hashes (the ordered
/// `md5(string_agg(md5(row)))` used before spent most of its time sorting, and md5 is slow in
/// PostgreSQL), unlike an xor it counts duplicate rows, and the sums of a table's page ranges
/// add up to the table's. One row whose content differs goes unnoticed only if all of its
/// hashes collide with the old text's (about 2^-128). The hash functions hash the same bytes
/// the same way on every version that has them, so both sides of a major version migration
/// compute the same function (on servers of different byte order it would differ: the check
/// fails, it cannot pass wrongly). `OFFSET 0` keeps each row's text computed once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hashing {
    /// Two 64-bit hashes, `hashtextextended` with seeds 1 and 2 (PostgreSQL 11 on): about a
    /// fifth cheaper than four 32-bit ones, as each row's text is hashed twice instead of
    /// four times and never copied to append a suffix.
    Extended,
    /// Four 32-bit hashes, `hashtext` of the text with four suffixes (every version pgfleet
    /// migrates, 9.5 on).
    Portable,
}

/// The first version with `hashtextextended`.
const EXTENDED_HASHING_VERSION: i32 = 110_000;

impl Hashing {
    /// The hashing every server of `versions` (`server_version_num`) can compute.
    pub(crate) fn for_versions(versions: &[i32]) -> Hashing {
        if versions.iter().all(|version| *version >= EXTENDED_HASHING_VERSION) {
            Hashing::Extended
        } else {
            Hashing::Portable
        }
    }

    /// The query: `{table}` is replaced by the table's quoted name, `{pages}` by a page
    /// range's condition or nothing.
    fn sql(self) -> &'static str {
        match self {
            Hashing::Extended => {
                "SELECT count(*)::bigint, coalesce(sum(hashtextextended(s, 1)), 0)::text, \
                 coalesce(sum(hashtextextended(s, 2)), 0)::text \
                 FROM (SELECT t::text AS s FROM {table} AS t {pages} OFFSET 0) AS rows"
            }
            Hashing::Portable => {
                "SELECT count(*)::bigint, coalesce(sum(hashtext(s)::bigint), 0)::text, \
                 coalesce(sum(hashtext(s || '1')::bigint), 0)::text, \
                 coalesce(sum(hashtext(s || '2')::bigint), 0)::text, \
                 coalesce(sum(hashtext(s || '3')::bigint), 0)::text \
                 FROM (SELECT t::text AS s FROM {table} AS t {pages} OFFSET 0) AS rows"
            }
        }
    }

    fn words(self) -> usize {
        match self {
            Hashing::Extended => 2,
            Hashing::Portable => 4,
        }
    }
}

/// The smallest page range a table is split into (32 MB of 8 kB pages): below it, a session's
/// start costs more than the range.
const MIN_RANGE_PAGES: i64 = 4096;

/// How many ranges per session a big table is split into, so the sessions end close together.
const RANGES_PER_SESSION: i64 = 4;

/// Page ranges are read with a TID range scan from PostgreSQL 14 on; before it, every range
/// would scan the whole table, so tables are read whole.
const TID_RANGE_SCAN_VERSION: i32 = 140_000;

/// One piece of work: a table, or the pages `from..to` of it (`None`: open-ended).
struct Range {
    table: usize,
    from: Option<i64>,
    to: Option<i64>,
}

impl Range {
    fn condition(&self) -> String {
        let bound = |operator: &str, page: Option<i64>| {
            page.map(|page| format!("t.ctid {operator} '({page},0)'::tid"))
        };
        let bounds: Vec<String> =
            [bound(">=", self.from), bound("<", self.to)].into_iter().flatten().collect();
        if bounds.is_empty() { String::new() } else { format!("WHERE {}", bounds.join(" AND ")) }
    }
}

/// Splits the tables into ranges for `sessions` sessions: a table of fewer than two
/// [`MIN_RANGE_PAGES`] stays whole, a bigger one is cut into up to `sessions` ×
/// [`RANGES_PER_SESSION`] ranges. The first range has no lower bound and the last no upper
/// one, so every row is in exactly one range whatever the table's size is now.
fn ranges(pages: &[i64], sessions: usize, split: bool) -> Vec<Range> {
    let mut ranges = Vec::new();
    for (table, &pages) in pages.iter().enumerate() {
        let wanted = (sessions as i64 * RANGES_PER_SESSION).min(pages / MIN_RANGE_PAGES);
        if !split || wanted < 2 {
            ranges.push(Range { table, from: None, to: None });
            continue;
        }
        let size = (pages + wanted - 1) / wanted;
        let bounds: Vec<i64> = (1..wanted).map(|index| index * size).collect();
        let mut from = None;
        for bound in bounds {
            ranges.push(Range { table, from, to: Some(bound) });
            from = Some(bound);
        }
        ranges.push(Range { table, from, to: None });
    }
    ranges
}

/// A range's count and the exact sums of its rows' hash words.
#[derive(Debug, Clone, Default)]
struct Sums {
    rows: i64,
    sums: Vec<i128>,
}

impl Sums {
    fn add(&mut self, other: Sums) {
        self.rows += other.rows;
        self.sums.resize(other.sums.len().max(self.sums.len()), 0);
        for (sum, more) in self.sums.iter_mut().zip(other.sums) {
            *sum += more;
        }
    }

    fn checksum(&self, hashing: Hashing) -> String {
        let mut sums = self.sums.clone();
        sums.resize(hashing.words(), 0);
        sums.iter().map(i128::to_string).collect::<Vec<_>>().join(":")
    }
}

async fn range_sums(
    client: &tokio_postgres::Client,
    hashing: Hashing,
    table: &str,
    range: &Range,
) -> Result<Sums, MigrateError> {
    let sql = hashing.sql().replace("{table}", table).replace("{pages}", &range.condition());
    let row = client.query_one(&sql, &[]).await.map_err(context(format!("checksumming {table}")))?;
    let sums = (1..=hashing.words())
        .map(|index| {
            let text: String = row.get(index);
            text.parse()
                .map_err(|error| MigrateError::Invalid(format!("checksum of {table}: {text}: {error}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Sums { rows: row.get(0), sums })
}

/// A session in the lead's snapshot.
async fn worker_session(
    server: &Connection,
    database: &str,
    snapshot_id: &str,
) -> Result<tokio_postgres::Client, MigrateError> {
    let client = connect(server, database).await?;
    let statement = format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{}'",
        snapshot_id.replace('\'', "''")
    );
    client.batch_execute(&statement).await.map_err(context(format!("sharing a snapshot of {database}")))?;
    Ok(client)
}

/// Checksums every table of `database` on `server` in one snapshot, hashing rows as `hashing`
/// says, with up to `sessions` sessions reading tables (and page ranges of big tables) at once.
///
/// # Errors
/// `MigrateError::Sql` when a session cannot connect or a query fails.
pub(crate) async fn checksum_database(
    server: &Connection,
    database: &str,
    sessions: usize,
    hashing: Hashing,
) -> Result<DatabaseSums, MigrateError> {
    let lead = connect(server, database).await?;
    lead.batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(context(format!("reading {database} in one snapshot")))?;
    let row = lead
        .query_one(
            "SELECT pg_export_snapshot(), txid_current_snapshot()::text, current_setting('server_version_num')::int",
            &[],
        )
        .await
        .map_err(context(format!("exporting a snapshot of {database}")))?;
    let (snapshot_id, snapshot, version): (String, String, i32) = (row.get(0), row.get(1), row.get(2));
    let rows = lead.query(TABLES_SQL, &[]).await.map_err(context("listing tables"))?;
    let tables: Vec<String> = rows.iter().map(|row| row.get(0)).collect();
    let pages: Vec<i64> = rows.iter().map(|row| row.get(1)).collect();
    let work = ranges(&pages, sessions, sessions > 1 && version >= TID_RANGE_SCAN_VERSION);
    let next = Mutex::new(work.iter());
    let totals = Mutex::new(vec![Sums::default(); tables.len()]);
    let worker = || async {
        let client = worker_session(server, database, &snapshot_id).await?;
        loop {
            let Some(range) = next.lock().unwrap_or_else(std::sync::PoisonError::into_inner).next() else {
                return Ok::<(), MigrateError>(());
            };
            let sums = range_sums(&client, hashing, &tables[range.table], range).await?;
            totals.lock().unwrap_or_else(std::sync::PoisonError::into_inner)[range.table].add(sums);
        }
    };
    futures_util::future::try_join_all((0..sessions.max(1).min(work.len())).map(|_| worker())).await?;
    // The workers have imported the snapshot; the lead's transaction can end.
    lead.batch_execute("COMMIT").await.map_err(context(format!("reading {database}")))?;
    let totals = totals.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
    let tables = tables
        .into_iter()
        .zip(totals)
        .map(|(table, sums)| TableCheck { table, rows: sums.rows, checksum: sums.checksum(hashing) })
        .collect();
    Ok(DatabaseSums { tables, snapshot, hashing })
}

/// Whether no transaction that wrote anything has ended on the server since `snapshot` (a
/// `txid_current_snapshot()`): the server's snapshot now is the same. A transaction that wrote
/// has a transaction id; when one ends, either it was running then (it leaves the in-progress
/// list) or it began later (the snapshot's upper bound, the latest ended id plus one, moves).
/// So the same text means every table reads as it did in `snapshot`. Any write anywhere on the
/// server (an autovacuum's ANALYZE included) makes it `false`: the caller checksums again.
///
/// # Errors
/// `MigrateError::Sql` when the query fails.
pub(crate) async fn unchanged_since(
    client: &tokio_postgres::Client,
    snapshot: &str,
) -> Result<bool, MigrateError> {
    let row = client
        .query_one("SELECT txid_current_snapshot()::text", &[])
        .await
        .map_err(context("reading the server's snapshot"))?;
    Ok(row.get::<_, String>(0) == snapshot)
}

/// The server's `server_version_num`.
///
/// # Errors
/// `MigrateError::Sql` when the query fails.
pub(crate) async fn version(client: &tokio_postgres::Client) -> Result<i32, MigrateError> {
    let row = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(context("reading the server's version"))?;
    Ok(row.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_sides_hash_as_the_older_server_can() {
        assert_eq!(Hashing::for_versions(&[110_000, 150_004]), Hashing::Extended);
        assert_eq!(Hashing::for_versions(&[100_021, 150_004]), Hashing::Portable);
        assert_eq!(Hashing::for_versions(&[90_624]), Hashing::Portable);
    }

    #[test]
    fn page_range_sums_add_up_word_by_word() {
        let mut total = Sums::default();
        total.add(Sums { rows: 2, sums: vec![5, -7] });
        total.add(Sums { rows: 1, sums: vec![i128::from(i64::MAX), 3] });
        assert_eq!(total.rows, 3);
        assert_eq!(total.checksum(Hashing::Extended), format!("{}:-4", i128::from(i64::MAX) + 5));
        assert_eq!(Sums::default().checksum(Hashing::Portable), "0:0:0:0");
    }

    fn bounds(ranges: &[Range]) -> Vec<(usize, Option<i64>, Option<i64>)> {
        ranges.iter().map(|range| (range.table, range.from, range.to)).collect()
    }

    #[test]
    fn small_tables_stay_whole_and_big_ones_are_cut_into_ranges_covering_every_page() {
        let pages = [10, 3 * MIN_RANGE_PAGES, 100 * MIN_RANGE_PAGES];
        let ranges = ranges(&pages, 2, true);
        let size = 3 * MIN_RANGE_PAGES / 3;
        let big = 100 * MIN_RANGE_PAGES / 8;
        let mut expected = vec![(0, None, None), (1, None, Some(size)), (1, Some(size), Some(2 * size))];
        expected.push((1, Some(2 * size), None));
        expected.push((2, None, Some(big)));
        expected.extend((1..7).map(|index| (2, Some(index * big), Some((index + 1) * big))));
        expected.push((2, Some(7 * big), None));
        assert_eq!(bounds(&ranges), expected);
        assert_eq!(ranges[1].condition(), format!("WHERE t.ctid < '({size},0)'::tid"));
        assert_eq!(
            ranges[2].condition(),
            format!("WHERE t.ctid >= '({size},0)'::tid AND t.ctid < '({},0)'::tid", 2 * size)
        );
        assert_eq!(ranges[0].condition(), "");
    }

    #[test]
    fn without_range_scans_every_table_is_read_whole() {
        let ranges = ranges(&[100 * MIN_RANGE_PAGES], 2, false);
        assert_eq!(bounds(&ranges), [(0, None, None)]);
    }
}
