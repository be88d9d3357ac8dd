//! Where devices live: one MongoDB collection, `device`, in the service's
//! own database. Every operation is a child span of the request's trace.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mongodb::bson::{self, Bson, DateTime, Document, doc};
use mongodb::error::{ErrorKind, WriteFailure};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, IndexModel};
use opentelemetry::KeyValue;
use opentelemetry::trace::SpanKind;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use super::model::{DeviceId, Fields, NewDevice, Patch};
use shared::telemetry::{RequestTrace, end_span};

pub const COLLECTION: &str = "device";

/// How long an operation waits for MongoDB before the API answers 503.
const SELECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// A device as stored, with Eve's meta fields (the same documents Eve writes).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredDevice {
    #[serde(rename = "_id")]
    pub id: bson::oid::ObjectId,
    pub name: String,
    pub uid: i64,
    #[serde(rename = "type")]
    pub kind: String,
    pub price: f64,
    #[serde(rename = "_created")]
    pub created: DateTime,
    #[serde(rename = "_updated")]
    pub updated: DateTime,
    #[serde(rename = "_etag")]
    pub etag: String,
}

impl StoredDevice {
    pub fn fields(&self) -> Fields {
        Fields {
            name: self.name.clone(),
            uid: self.uid,
            kind: self.kind.clone(),
            price: self.price,
        }
    }

    fn new(
        id: DeviceId,
        fields: Fields,
        created: DateTime,
        updated: DateTime,
        previous_etag: &str,
    ) -> Self {
        let etag = etag(&fields, updated, previous_etag);
        Self {
            id: id.0,
            name: fields.name,
            uid: fields.uid,
            kind: fields.kind,
            price: fields.price,
            created,
            updated,
            etag,
        }
    }
}

/// A hash of the document's content. The previous etag is part of it, so
/// every write gives a new etag even when the content comes back the same
/// (two PATCHes with the same If-Match cannot both win).
fn etag(fields: &Fields, updated: DateTime, previous: &str) -> String {
    let content = serde_json::json!([
        fields.name,
        fields.uid,
        fields.kind,
        fields.price,
        updated.timestamp_millis(),
        previous
    ]);
    sha1_smol::Sha1::from(content.to_string())
        .digest()
        .to_string()
}

/// Now, to the second, as Eve stores dates.
fn now() -> DateTime {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    DateTime::from_millis((seconds * 1000) as i64)
}

/// What went wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("MongoDB is unavailable: {0}")]
    Unavailable(String),
    /// The name of the list's document number `index` is taken.
    #[error("value '{name}' is not unique")]
    Duplicate { name: String, index: usize },
    #[error("no such device")]
    NotFound,
    #[error("Client and server etags don't match")]
    EtagMismatch,
    #[error("a stored device does not fit the schema: {0}")]
    Corrupt(String),
}

/// A write's error: when the unique index refused it, the name it could not
/// take and the document's place in its list.
fn write_error(error: mongodb::error::Error, name: &str, index: usize) -> StoreError {
    if is_duplicate_key(&error) {
        StoreError::Duplicate {
            name: name.to_string(),
            index,
        }
    } else {
        error.into()
    }
}

impl From<mongodb::error::Error> for StoreError {
    fn from(error: mongodb::error::Error) -> Self {
        match error.kind.as_ref() {
            ErrorKind::ServerSelection { .. }
            | ErrorKind::Io(_)
            | ErrorKind::ConnectionPoolCleared { .. } => StoreError::Unavailable(error.to_string()),
            _ => StoreError::Unavailable(error.to_string()),
        }
    }
}

fn is_duplicate_key(error: &mongodb::error::Error) -> bool {
    const DUPLICATE_KEY: i32 = 11000;
    match error.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(e)) => e.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(e) => e
            .write_errors
            .iter()
            .flatten()
            .any(|e| e.code == DUPLICATE_KEY),
        ErrorKind::Command(e) => e.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// The device collection of one database, connected lazily: the service
/// starts and serves without MongoDB, and recovers by itself when it returns.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    uri: String,
    database: String,
    client: OnceCell<Client>,
    /// Set once the unique index on `name` exists (first successful contact).
    indexed: AtomicBool,
}

impl Store {
    /// `uri` must already be a valid `mongodb://` URI (see `backend::Config`).
    pub fn new(uri: &str, database: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                uri: uri.to_string(),
                database: database.to_string(),
                client: OnceCell::new(),
                indexed: AtomicBool::new(false),
            }),
        }
    }

    pub fn database(&self) -> &str {
        &self.inner.database
    }

    async fn collection(&self) -> Result<Collection<StoredDevice>, StoreError> {
        let client = self
            .inner
            .client
            .get_or_try_init(|| async {
                let mut options = ClientOptions::parse(&self.inner.uri)
                    .await
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                options.server_selection_timeout = Some(SELECTION_TIMEOUT);
                options.connect_timeout = Some(SELECTION_TIMEOUT);
                options.app_name = Some(self.inner.database.clone());
                Client::with_options(options).map_err(|e| StoreError::Unavailable(e.to_string()))
            })
            .await?;
        let collection = client.database(&self.inner.database).collection(COLLECTION);
        if !self.inner.indexed.load(Ordering::Acquire) {
            let index = IndexModel::builder()
                .keys(doc! {"name": 1})
                .options(IndexOptions::builder().unique(true).build())
                .build();
            match collection.create_index(index).await {
                Ok(_) => self.inner.indexed.store(true, Ordering::Release),
                Err(error) if is_duplicate_key(&error) => {
                    // Duplicates written before: serve, and say so.
                    tracing::error!(%error, "cannot create the unique index on device.name");
                    self.inner.indexed.store(true, Ordering::Release);
                }
                Err(error) => return Err(error.into()),
            }
        }
        Ok(collection)
    }

    /// Runs `operation` inside a `mongodb <op>` client span.
    async fn traced<T, F>(
        &self,
        trace: &RequestTrace,
        op: &'static str,
        operation: F,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let span = trace.child(
            format!("mongodb {op} {COLLECTION}"),
            SpanKind::Client,
            vec![
                KeyValue::new("db.system.name", "mongodb"),
                KeyValue::new("db.operation.name", op),
                KeyValue::new("db.collection.name", COLLECTION),
                KeyValue::new("db.namespace", self.inner.database.clone()),
                KeyValue::new("peer.service", "mongo"),
            ],
        );
        let result = operation.await;
        if let Some(cx) = &span {
            let error = match &result {
                Err(e @ (StoreError::Unavailable(_) | StoreError::Corrupt(_))) => {
                    Some(e.to_string())
                }
                _ => None,
            };
            end_span(cx, None, error.as_deref());
        }
        result
    }

    /// One page of devices and the total that match `filter`.
    pub async fn list(
        &self,
        trace: &RequestTrace,
        filter: Document,
        sort: Document,
        skip: u64,
        limit: u64,
    ) -> Result<(Vec<StoredDevice>, u64), StoreError> {
        self.traced(trace, "find", async {
            let collection = self.collection().await?;
            let total = collection.count_documents(filter.clone()).await?;
            let mut find = collection.find(filter).skip(skip).limit(limit as i64);
            if !sort.is_empty() {
                find = find.sort(sort);
            }
            let mut cursor = find.await?;
            let mut devices = Vec::new();
            while cursor.advance().await? {
                devices.push(
                    cursor
                        .deserialize_current()
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                );
            }
            Ok((devices, total))
        })
        .await
    }

    pub async fn get(
        &self,
        trace: &RequestTrace,
        id: DeviceId,
    ) -> Result<StoredDevice, StoreError> {
        self.traced(trace, "findOne", async {
            self.collection()
                .await?
                .find_one(doc! {"_id": id.0})
                .await?
                .ok_or(StoreError::NotFound)
        })
        .await
    }

    /// Which of `names` devices (other than `except`) already have.
    pub async fn taken_names(
        &self,
        trace: &RequestTrace,
        names: &[String],
        except: Option<DeviceId>,
    ) -> Result<HashSet<String>, StoreError> {
        if names.is_empty() {
            return Ok(HashSet::new());
        }
        self.traced(trace, "find", async {
            let mut filter = doc! {"name": {"$in": names}};
            if let Some(id) = except {
                filter.insert("_id", doc! {"$ne": id.0});
            }
            let collection = self.collection().await?.clone_with_type::<Document>();
            let mut cursor = collection.find(filter).projection(doc! {"name": 1}).await?;
            let mut taken = HashSet::new();
            while cursor.advance().await? {
                if let Ok(name) = cursor.current().get_str("name") {
                    taken.insert(name.to_string());
                }
            }
            Ok(taken)
        })
        .await
    }

    /// Inserts all documents or none: a conflict part-way removes what was
    /// stored before it (standalone MongoDB has no transactions).
    pub async fn insert(
        &self,
        trace: &RequestTrace,
        devices: Vec<NewDevice>,
    ) -> Result<Vec<StoredDevice>, StoreError> {
        let stamp = now();
        let stored: Vec<StoredDevice> = devices
            .into_iter()
            .map(|d| StoredDevice::new(d.id.unwrap_or_default(), d.fields, stamp, stamp, ""))
            .collect();
        self.traced(trace, "insert", async {
            let collection = self.collection().await?;
            for (index, device) in stored.iter().enumerate() {
                let Err(error) = collection.insert_one(device).await else {
                    continue;
                };
                let done: Vec<Bson> = stored[..index]
                    .iter()
                    .map(|d| Bson::ObjectId(d.id))
                    .collect();
                if !done.is_empty()
                    && let Err(cleanup) = collection.delete_many(doc! {"_id": {"$in": done}}).await
                {
                    tracing::error!(error = %cleanup, "could not remove a partial list insert");
                }
                return Err(write_error(error, &device.name, index));
            }
            Ok(stored.clone())
        })
        .await
    }

    /// Applies `patch` if the device's etag is still `if_match`: of two
    /// writers with the same etag, exactly one wins.
    pub async fn update(
        &self,
        trace: &RequestTrace,
        current: &StoredDevice,
        patch: &Patch,
    ) -> Result<StoredDevice, StoreError> {
        let updated = StoredDevice::new(
            DeviceId(current.id),
            patch.apply(&current.fields()),
            current.created,
            now(),
            &current.etag,
        );
        self.traced(trace, "findAndModify", async {
            let replaced = self
                .collection()
                .await?
                .find_one_and_replace(doc! {"_id": current.id, "_etag": &current.etag}, &updated)
                .await
                .map_err(|e| write_error(e, &updated.name, 0))?;
            replaced
                .map(|_| updated.clone())
                .ok_or(StoreError::EtagMismatch)
        })
        .await
    }

    /// Deletes the device if its etag is still `etag`.
    pub async fn delete(
        &self,
        trace: &RequestTrace,
        id: DeviceId,
        etag: &str,
    ) -> Result<(), StoreError> {
        self.traced(trace, "delete", async {
            let collection = self.collection().await?;
            let deleted = collection
                .delete_one(doc! {"_id": id.0, "_etag": etag})
                .await?;
            if deleted.deleted_count == 1 {
                return Ok(());
            }
            match collection.find_one(doc! {"_id": id.0}).await? {
                Some(_) => Err(StoreError::EtagMismatch),
                None => Err(StoreError::NotFound),
            }
        })
        .await
    }

    pub async fn delete_all(&self, trace: &RequestTrace) -> Result<(), StoreError> {
        self.traced(trace, "delete", async {
            self.collection().await?.delete_many(doc! {}).await?;
            Ok(())
        })
        .await
    }
}
