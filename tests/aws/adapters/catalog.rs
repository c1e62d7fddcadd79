//! GlueCatalog: GetTable, versions newest first, and the rollback that
//! restores an old version's columns, guarded by the current VersionId.

use aws_sdk_glue::types::{Column, DatabaseInput, StorageDescriptor, TableInput};
use etl_medic::adapters::aws::GlueCatalog;
use etl_medic::ports::Catalog;

use crate::support::Moto;

fn column(name: &str, data_type: &str) -> Column {
    Column::builder().name(name).r#type(data_type).build().unwrap()
}

fn orders_table(amount_type: &str) -> TableInput {
    TableInput::builder()
        .name("orders")
        .description("daily orders")
        .owner("data-eng")
        .table_type("EXTERNAL_TABLE")
        .parameters("classification", "parquet")
        .partition_keys(column("dt", "string"))
        .storage_descriptor(
            StorageDescriptor::builder()
                .columns(column("id", "bigint"))
                .columns(column("amount", amount_type))
                .location("s3://lake/curated/orders/")
                .build(),
        )
        .build()
        .unwrap()
}

/// sales.orders at version 2, where `amount` drifted from double to string.
pub async fn create_drifted_table(moto: &Moto) {
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    glue.create_database()
        .database_input(DatabaseInput::builder().name("sales").build().unwrap())
        .send()
        .await
        .unwrap();
    glue.create_table().database_name("sales").table_input(orders_table("double")).send().await.unwrap();
    glue.update_table().database_name("sales").table_input(orders_table("string")).send().await.unwrap();
}

fn amount_type(table: &etl_medic::ports::CatalogTable) -> &str {
    table.columns.iter().find(|column| column.name == "amount").map(|column| column.data_type.as_str()).unwrap_or("")
}

#[tokio::test]
async fn tables_and_versions_read_newest_first() {
    let moto = Moto::start();
    create_drifted_table(&moto).await;
    let catalog = GlueCatalog::new(&moto.connection());

    let table = catalog.get_table("sales", "orders").await.unwrap();
    assert_eq!(table.version_id.as_deref(), Some("2"));
    assert_eq!(amount_type(&table), "string");
    assert_eq!(table.location.as_deref(), Some("s3://lake/curated/orders/"));

    let versions = catalog.get_table_versions("sales", "orders", 10).await.unwrap();
    let ids: Vec<&str> = versions.iter().map(|version| version.version_id.as_str()).collect();
    assert_eq!(ids, vec!["2", "1"]);
    assert_eq!(versions[1].columns[1].data_type, "double");
    assert_eq!(catalog.get_table_versions("sales", "orders", 1).await.unwrap().len(), 1);

    let missing = catalog.get_table("sales", "refunds").await.unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
}

#[tokio::test]
async fn rollback_restores_the_old_columns_only_from_the_expected_version() {
    let moto = Moto::start();
    create_drifted_table(&moto).await;
    let catalog = GlueCatalog::new(&moto.connection());

    // A decision made on a stale view of the table changes nothing.
    let stale = catalog.rollback_to_version("sales", "orders", "1", "1").await.unwrap_err();
    assert!(stale.is_conflict(), "{stale:?}");
    assert_eq!(catalog.get_table("sales", "orders").await.unwrap().version_id.as_deref(), Some("2"));

    let unknown = catalog.rollback_to_version("sales", "orders", "99", "2").await.unwrap_err();
    assert!(unknown.is_not_found(), "{unknown:?}");

    let outcome = catalog.rollback_to_version("sales", "orders", "1", "2").await.unwrap();
    assert_eq!(outcome.new_version_id.as_deref(), Some("3"));
    let restored = catalog.get_table("sales", "orders").await.unwrap();
    assert_eq!(amount_type(&restored), "double");

    // Everything else of the old definition came back with the columns.
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    let raw = glue.get_table().database_name("sales").name("orders").send().await.unwrap().table.unwrap();
    assert_eq!(raw.description.as_deref(), Some("daily orders"));
    assert_eq!(raw.owner.as_deref(), Some("data-eng"));
    assert_eq!(raw.partition_keys.unwrap()[0].name, "dt");
    assert_eq!(raw.parameters.unwrap().get("classification").map(String::as_str), Some("parquet"));

    // The same rollback again is now stale: version 3 is current.
    let repeated = catalog.rollback_to_version("sales", "orders", "1", "2").await.unwrap_err();
    assert!(repeated.is_conflict(), "{repeated:?}");
}

#[tokio::test]
async fn the_emulator_enforces_update_table_version_ids_like_glue() {
    // The guard the adapter's UpdateTable relies on when two workers race.
    let moto = Moto::start();
    create_drifted_table(&moto).await;
    let glue = aws_sdk_glue::Client::new(&moto.sdk_config());
    let stale =
        glue.update_table().database_name("sales").table_input(orders_table("double")).version_id("1").send().await;
    let error = stale.unwrap_err();
    let code = aws_sdk_glue::error::ProvideErrorMetadata::code(&error).unwrap_or_default().to_string();
    assert_eq!(code, "ConcurrentModificationException");
}
