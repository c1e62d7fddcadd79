//! An in-memory Data Catalog: every table keeps its versions, and a
//! rollback creates a new version carrying an old version's columns, guarded
//! by the expected current version as Glue's UpdateTable VersionId is.

use std::collections::BTreeMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::adapters::memory::lock;
use crate::core::evidence::TableVersion;
use crate::ports::Operation;
use crate::ports::{Catalog, CatalogTable, PortError, RollbackOutcome};

#[derive(Debug, Clone)]
struct StoredTable {
    /// Newest first.
    versions: Vec<TableVersion>,
    location: Option<String>,
}

#[derive(Debug, Default)]
pub struct MemoryCatalog {
    tables: Mutex<BTreeMap<(String, String), StoredTable>>,
}

impl MemoryCatalog {
    pub fn new() -> MemoryCatalog {
        MemoryCatalog::default()
    }

    /// Define a table by its versions, newest first.
    pub fn put_table(
        &self,
        database: &str,
        table: &str,
        versions_newest_first: Vec<TableVersion>,
        location: Option<String>,
    ) {
        lock(&self.tables).insert(
            (database.to_string(), table.to_string()),
            StoredTable { versions: versions_newest_first, location },
        );
    }

    fn not_found(operation: Operation, database: &str, table: &str) -> PortError {
        PortError::not_found(operation, format!("table {database}.{table}"))
    }
}

#[async_trait]
impl Catalog for MemoryCatalog {
    async fn get_table(&self, database: &str, table: &str) -> Result<CatalogTable, PortError> {
        let tables = lock(&self.tables);
        let stored = tables
            .get(&(database.to_string(), table.to_string()))
            .ok_or_else(|| MemoryCatalog::not_found(Operation::GetTable, database, table))?;
        let current = stored.versions.first();
        Ok(CatalogTable {
            database: database.to_string(),
            name: table.to_string(),
            version_id: current.map(|version| version.version_id.clone()),
            columns: current.map(|version| version.columns.clone()).unwrap_or_default(),
            updated_at: current.and_then(|version| version.updated_at.clone()),
            location: stored.location.clone(),
        })
    }

    async fn get_table_versions(
        &self,
        database: &str,
        table: &str,
        max_versions: u32,
    ) -> Result<Vec<TableVersion>, PortError> {
        let tables = lock(&self.tables);
        let stored = tables
            .get(&(database.to_string(), table.to_string()))
            .ok_or_else(|| MemoryCatalog::not_found(Operation::GetTableVersions, database, table))?;
        Ok(stored.versions.iter().take(max_versions as usize).cloned().collect())
    }

    async fn rollback_to_version(
        &self,
        database: &str,
        table: &str,
        version_id: &str,
        expected_current_version: &str,
    ) -> Result<RollbackOutcome, PortError> {
        let mut tables = lock(&self.tables);
        let stored = tables
            .get_mut(&(database.to_string(), table.to_string()))
            .ok_or_else(|| MemoryCatalog::not_found(Operation::UpdateTable, database, table))?;
        let current = stored.versions.first().map(|version| version.version_id.as_str());
        if current != Some(expected_current_version) {
            return Err(PortError::conflict(
                Operation::UpdateTable,
                format!("{database}.{table} is at version {current:?}, expected {expected_current_version}"),
            ));
        }
        let target =
            stored.versions.iter().find(|version| version.version_id == version_id).cloned().ok_or_else(|| {
                PortError::not_found(Operation::GetTableVersion, format!("{database}.{table} version {version_id}"))
            })?;
        let next_number =
            stored.versions.iter().filter_map(|version| version.version_id.parse::<u64>().ok()).max().unwrap_or(0) + 1;
        let new_version_id = next_number.to_string();
        stored.versions.insert(
            0,
            TableVersion { version_id: new_version_id.clone(), updated_at: target.updated_at, columns: target.columns },
        );
        Ok(RollbackOutcome { new_version_id: Some(new_version_id) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::evidence::Column;

    fn version(id: &str, amount_type: &str) -> TableVersion {
        TableVersion {
            version_id: id.into(),
            updated_at: None,
            columns: vec![Column { name: "amount".into(), data_type: amount_type.into() }],
        }
    }

    #[tokio::test]
    async fn rollback_restores_old_columns_as_a_new_version() {
        let catalog = MemoryCatalog::new();
        catalog.put_table("sales", "orders", vec![version("4", "string"), version("3", "double")], None);
        let outcome = catalog.rollback_to_version("sales", "orders", "3", "4").await.unwrap();
        assert_eq!(outcome.new_version_id.as_deref(), Some("5"));
        let table = catalog.get_table("sales", "orders").await.unwrap();
        assert_eq!(table.columns[0].data_type, "double");
        assert_eq!(catalog.get_table_versions("sales", "orders", 2).await.unwrap().len(), 2);
    }

    #[tokio::test]
    async fn rollback_with_a_stale_expected_version_changes_nothing() {
        let catalog = MemoryCatalog::new();
        catalog.put_table("sales", "orders", vec![version("4", "string"), version("3", "double")], None);
        let error = catalog.rollback_to_version("sales", "orders", "3", "3").await.unwrap_err();
        assert!(error.is_conflict());
        assert_eq!(catalog.get_table("sales", "orders").await.unwrap().version_id.as_deref(), Some("4"));
        assert!(catalog.rollback_to_version("sales", "orders", "1", "4").await.unwrap_err().is_not_found());
        assert!(catalog.get_table("sales", "missing").await.unwrap_err().is_not_found());
    }
}
