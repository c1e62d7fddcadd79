//! The catalog on the Glue Data Catalog: a table, its versions newest first,
//! and the guarded rollback to an earlier version.
//!
//! Rollback is GetTableVersion(old) -> a TableInput rebuilt from the old
//! Table (everything UpdateTable accepts: description, owner, retention,
//! storage descriptor, partition keys, view text, table type, parameters,
//! target table) -> UpdateTable with VersionId set to the version we decided
//! on. Glue rejects that UpdateTable with ConcurrentModificationException if
//! someone changed the table meanwhile, so a stale decision never overwrites
//! a newer schema; a GetTable before it turns the common case into a clear
//! `Conflict` without a write.

use async_trait::async_trait;
use aws_sdk_glue::types::{Column as GlueColumn, Table, TableInput};
use chrono::SecondsFormat;

use crate::adapters::aws::AwsConnection;
use crate::adapters::aws::error::port_error;
use crate::adapters::aws::glue_jobs::to_chrono;
use crate::core::evidence::{Column, TableVersion};
use crate::ports::{Catalog, CatalogTable, Operation, PortError, RollbackOutcome};

/// GetTableVersions' largest page.
const MAX_VERSIONS_PAGE: i32 = 100;
/// Pages read at most; old tables can have thousands of versions.
const MAX_VERSION_PAGES: usize = 20;

pub struct GlueCatalog {
    client: aws_sdk_glue::Client,
}

impl GlueCatalog {
    pub fn new(connection: &AwsConnection) -> GlueCatalog {
        GlueCatalog { client: connection.glue_client() }
    }

    async fn fetch_table(&self, database: &str, table: &str) -> Result<Table, PortError> {
        let output = self
            .client
            .get_table()
            .database_name(database)
            .name(table)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetTable, error))?;
        output.table.ok_or_else(|| PortError::not_found(Operation::GetTable, format!("{database}.{table}")))
    }

    async fn fetch_table_version(&self, database: &str, table: &str, version_id: &str) -> Result<Table, PortError> {
        let output = self
            .client
            .get_table_version()
            .database_name(database)
            .table_name(table)
            .version_id(version_id)
            .send()
            .await
            .map_err(|error| port_error(Operation::GetTableVersion, error))?;
        output.table_version.and_then(|version| version.table).ok_or_else(|| {
            PortError::not_found(Operation::GetTableVersion, format!("{database}.{table} version {version_id}"))
        })
    }
}

fn into_columns(columns: Option<&[GlueColumn]>) -> Vec<Column> {
    columns
        .unwrap_or_default()
        .iter()
        .map(|column| Column { name: column.name.clone(), data_type: column.r#type.clone().unwrap_or_default() })
        .collect()
}

fn table_columns(table: &Table) -> Vec<Column> {
    into_columns(table.storage_descriptor.as_ref().and_then(|descriptor| descriptor.columns.as_deref()))
}

fn table_updated_at(table: &Table) -> Option<String> {
    table
        .update_time
        .as_ref()
        .or(table.create_time.as_ref())
        .and_then(to_chrono)
        .map(|at| at.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn into_catalog_table(database: &str, table: Table) -> CatalogTable {
    CatalogTable {
        database: table.database_name.clone().unwrap_or_else(|| database.to_string()),
        name: table.name.clone(),
        version_id: table.version_id.clone(),
        columns: table_columns(&table),
        updated_at: table_updated_at(&table),
        location: table.storage_descriptor.as_ref().and_then(|descriptor| descriptor.location.clone()),
    }
}

/// Glue version ids are increasing integers; compare them as numbers.
fn newest_first(versions: &mut [TableVersion]) {
    versions.sort_by(|left, right| {
        let number = |version: &TableVersion| version.version_id.parse::<u64>().ok();
        number(right).cmp(&number(left)).then_with(|| right.updated_at.cmp(&left.updated_at))
    });
}

/// The TableInput that recreates `old` as the table's next version.
fn table_input_from(old: Table) -> Result<TableInput, PortError> {
    if old.view_definition.is_some() {
        // Multi-dialect views carry a definition UpdateTable takes in a
        // different shape; refusing is safer than dropping it silently.
        return Err(PortError::rejected(
            Operation::UpdateTable,
            format!("{} is a multi-dialect view; not rolled back", old.name),
        ));
    }
    TableInput::builder()
        .name(old.name)
        .set_description(old.description)
        .set_owner(old.owner)
        .set_last_access_time(old.last_access_time)
        .set_last_analyzed_time(old.last_analyzed_time)
        .retention(old.retention)
        .set_storage_descriptor(old.storage_descriptor)
        .set_partition_keys(old.partition_keys)
        .set_view_original_text(old.view_original_text)
        .set_view_expanded_text(old.view_expanded_text)
        .set_table_type(old.table_type)
        .set_parameters(old.parameters)
        .set_target_table(old.target_table)
        .build()
        .map_err(|error| PortError::rejected(Operation::UpdateTable, error.to_string()))
}

#[async_trait]
impl Catalog for GlueCatalog {
    async fn get_table(&self, database: &str, table: &str) -> Result<CatalogTable, PortError> {
        Ok(into_catalog_table(database, self.fetch_table(database, table).await?))
    }

    async fn get_table_versions(
        &self,
        database: &str,
        table: &str,
        max_versions: u32,
    ) -> Result<Vec<TableVersion>, PortError> {
        if max_versions == 0 {
            return Ok(Vec::new());
        }
        let mut versions = Vec::new();
        let mut next_token: Option<String> = None;
        for _ in 0..MAX_VERSION_PAGES {
            let output = self
                .client
                .get_table_versions()
                .database_name(database)
                .table_name(table)
                .max_results(MAX_VERSIONS_PAGE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|error| port_error(Operation::GetTableVersions, error))?;
            for version in output.table_versions.unwrap_or_default() {
                let Some(version_table) = version.table else { continue };
                versions.push(TableVersion {
                    version_id: version.version_id.or(version_table.version_id.clone()).unwrap_or_default(),
                    updated_at: table_updated_at(&version_table),
                    columns: table_columns(&version_table),
                });
            }
            next_token = output.next_token.filter(|token| !token.is_empty());
            if next_token.is_none() {
                break;
            }
        }
        // Glue does not promise an order; the contract says newest first.
        newest_first(&mut versions);
        versions.truncate(max_versions as usize);
        Ok(versions)
    }

    async fn rollback_to_version(
        &self,
        database: &str,
        table: &str,
        version_id: &str,
        expected_current_version: &str,
    ) -> Result<RollbackOutcome, PortError> {
        let current = self.fetch_table(database, table).await?;
        let current_version = current.version_id.clone().unwrap_or_default();
        if current_version != expected_current_version {
            return Err(PortError::conflict(
                Operation::UpdateTable,
                format!("{database}.{table} is at version {current_version}, not {expected_current_version}"),
            ));
        }
        let old_table = self.fetch_table_version(database, table, version_id).await?;
        let table_input = table_input_from(old_table)?;
        self.client
            .update_table()
            .database_name(database)
            .table_input(table_input)
            .version_id(expected_current_version)
            .send()
            .await
            .map_err(|error| port_error(Operation::UpdateTable, error))?;
        let after = self.fetch_table(database, table).await?;
        Ok(RollbackOutcome { new_version_id: after.version_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_glue::types::StorageDescriptor;

    fn column(name: &str, data_type: &str) -> GlueColumn {
        GlueColumn::builder().name(name).r#type(data_type).build().unwrap()
    }

    #[test]
    fn the_rollback_input_keeps_everything_of_the_old_table() {
        let old = Table::builder()
            .name("orders")
            .database_name("sales")
            .description("daily orders")
            .owner("data-eng")
            .retention(30)
            .table_type("EXTERNAL_TABLE")
            .parameters("classification", "parquet")
            .partition_keys(column("dt", "string"))
            .storage_descriptor(
                StorageDescriptor::builder()
                    .columns(column("id", "bigint"))
                    .columns(column("amount", "double"))
                    .location("s3://lake/orders/")
                    .build(),
            )
            .version_id("3")
            .build()
            .unwrap();
        let input = table_input_from(old).unwrap();
        assert_eq!(input.name, "orders");
        assert_eq!(input.description.as_deref(), Some("daily orders"));
        assert_eq!(input.owner.as_deref(), Some("data-eng"));
        assert_eq!(input.retention, 30);
        assert_eq!(input.table_type.as_deref(), Some("EXTERNAL_TABLE"));
        assert_eq!(input.parameters.unwrap().get("classification").map(String::as_str), Some("parquet"));
        assert_eq!(input.partition_keys.unwrap()[0].name, "dt");
        let descriptor = input.storage_descriptor.unwrap();
        assert_eq!(descriptor.location.as_deref(), Some("s3://lake/orders/"));
        assert_eq!(descriptor.columns.unwrap()[1].r#type.as_deref(), Some("double"));
    }

    #[test]
    fn versions_sort_numerically_newest_first() {
        let version = |id: &str| TableVersion { version_id: id.into(), updated_at: None, columns: vec![] };
        let mut versions = vec![version("9"), version("10"), version("2")];
        newest_first(&mut versions);
        let order: Vec<&str> = versions.iter().map(|v| v.version_id.as_str()).collect();
        assert_eq!(order, vec!["10", "9", "2"]);
    }
}
