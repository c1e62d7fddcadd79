//! S3ObjectStore: put/get round trip, bounded listing, and the quarantine
//! move (copy then delete) over path-style URLs.

use etl_medic::adapters::aws::S3ObjectStore;
use etl_medic::ports::ObjectStore;

use crate::support::Moto;

#[tokio::test]
async fn objects_round_trip_list_in_order_and_move() {
    let moto = Moto::start();
    moto.s3_setup_client().create_bucket().bucket("lake").send().await.unwrap();
    let store = S3ObjectStore::new(&moto.connection());

    let record = br#"{"stage":"decision","incident":"orders_daily/jr_1"}"#.to_vec();
    store
        .put_object("lake", "audit/orders_daily/jr_1/0001-decision.json", record.clone(), "application/json")
        .await
        .unwrap();
    assert_eq!(store.get_object("lake", "audit/orders_daily/jr_1/0001-decision.json").await.unwrap(), record);

    for name in ["part 2.json", "part=1.json", "part-3.json"] {
        store
            .put_object("lake", &format!("raw/orders/dt=2026-11-29/{name}"), b"{}".to_vec(), "application/json")
            .await
            .unwrap();
    }
    let listed = store.list_objects("lake", "raw/orders/", 10).await.unwrap();
    let keys: Vec<&str> = listed.iter().map(|object| object.key.as_str()).collect();
    assert_eq!(keys.len(), 3);
    assert!(keys.windows(2).all(|pair| pair[0] < pair[1]), "key order: {keys:?}");
    assert!(listed.iter().all(|object| object.size_bytes == 2 && object.last_modified.is_some()));
    assert_eq!(store.list_objects("lake", "raw/orders/", 2).await.unwrap().len(), 2);

    // Keys with spaces and '=' survive the copy source encoding.
    let from = "raw/orders/dt=2026-11-29/part 2.json";
    let to = "quarantine/orders/dt=2026-11-29/part 2.json";
    store.move_object("lake", from, to).await.unwrap();
    assert!(store.get_object("lake", from).await.unwrap_err().is_not_found());
    assert_eq!(store.get_object("lake", to).await.unwrap(), b"{}".to_vec());

    let missing = store.move_object("lake", from, to).await.unwrap_err();
    assert!(missing.is_not_found(), "{missing:?}");
}
