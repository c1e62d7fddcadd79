//! The catalog port (Glue Data Catalog): tables, their versions, and the
//! one mutation etl-medic makes, a guarded rollback to an earlier version.

use async_trait::async_trait;

use crate::core::evidence::{Column, TableVersion};
use crate::ports::PortError;

/// The current definition of a table (GetTable).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogTable {
    pub database: String,
    pub name: String,
    /// The table's current VersionId.
    pub version_id: Option<String>,
    pub columns: Vec<Column>,
    pub updated_at: Option<String>,
    /// S3 location of the data, if the table has one.
    pub location: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RollbackOutcome {
    /// The version that the rollback created (a rollback is a new version
    /// whose columns are the old version's).
    pub new_version_id: Option<String>,
}

/// Contract:
/// - `get_table` and `get_table_versions` give `NotFound` for an unknown
///   database or table. Versions come newest first, at most `max_versions`.
/// - `rollback_to_version(db, table, version_id, expected_current_version)`
///   replaces the table definition by the one of `version_id` (UpdateTable
///   with a TableInput built from the old Table) only if the table's current
///   version is still `expected_current_version`; otherwise it changes
///   nothing and returns `Conflict`. An unknown `version_id` is `NotFound`.
#[async_trait]
pub trait Catalog: Send + Sync {
    async fn get_table(&self, database: &str, table: &str) -> Result<CatalogTable, PortError>;

    async fn get_table_versions(
        &self,
        database: &str,
        table: &str,
        max_versions: u32,
    ) -> Result<Vec<TableVersion>, PortError>;

    async fn rollback_to_version(
        &self,
        database: &str,
        table: &str,
        version_id: &str,
        expected_current_version: &str,
    ) -> Result<RollbackOutcome, PortError>;
}
