//! Where devices live: one MongoDB collection, `device`, in the service's
//! own database. Every operation is a child span of the request's trace.

use std::collections::HashSet;
use std::sync::Arc;
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

const COLLECTION: &str = "device";

/// How long an operation waits for a reachable MongoDB before the API answers 503.
const SELECTION_TIMEOUT: Duration = Duration::from_secs(2);

/// How long one operation may take in all: a MongoDB that stops answering
/// (frozen, overloaded) gives 503 within it, like one that is gone.
const OPERATION_DEADLINE: Duration = Duration::from_millis(2500);

/// How long a failed list insert keeps trying to remove what it stored.
const ROLLBACK_FOR: Duration = Duration::from_secs(10);

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
    /// MongoDB cannot be reached; the driver's error, kept as the source, is
    /// for the log, never for the client.
    #[error("MongoDB is unavailable")]
    Unavailable(#[source] mongodb::error::Error),
    /// MongoDB did not answer within the operation's deadline.
    #[error("MongoDB is unavailable: no answer within {0:?}")]
    TimedOut(Duration),
    /// MongoDB refused the operation because of what the client sent (its
    /// error's code name, e.g. `BadValue`).
    #[error("MongoDB refused the request ({0})")]
    Refused(String),
    /// The name of the list's document number `index` is taken.
    #[error("value '{name}' is not unique")]
    Duplicate { name: String, index: usize },
    #[error("no such device")]
    NotFound,
    #[error("Client and server etags don't match")]
    EtagMismatch,
    /// What the decoder said, kept as the source (for the log).
    #[error("a stored device does not fit the schema")]
    Corrupt(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A list insert failed part-way (`cause`), and these devices it had
    /// stored could not be removed before giving up.
    #[error("{cause}; {} device(s) of the list could not be removed", .left.len())]
    Partial {
        cause: Box<StoreError>,
        left: Vec<String>,
    },
}

/// Server errors that say MongoDB itself is not serving (shutting down,
/// stepping down, timing out), not that the request was wrong: MongoDB's
/// error codes (src/mongo/base/error_codes.yml), by their names there.
const SERVER_STATE_CODES: &[(i32, &str)] = &[
    (6, "HostUnreachable"),
    (7, "HostNotFound"),
    (50, "MaxTimeMSExpired"),
    (89, "NetworkTimeout"),
    (91, "ShutdownInProgress"),
    (189, "PrimarySteppedDown"),
    (262, "ExceededTimeLimit"),
    (9001, "SocketException"),
    (10107, "NotWritablePrimary"),
    (11600, "InterruptedAtShutdown"),
    (11602, "InterruptedDueToReplStateChange"),
    (13435, "NotPrimaryNoSecondaryOk"),
    (13436, "NotPrimaryOrSecondary"),
];

/// Whether a command error's code says the server is not serving.
fn server_state(code: i32) -> bool {
    SERVER_STATE_CODES.iter().any(|(known, _)| *known == code)
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
            ErrorKind::Command(e) if !server_state(e.code) => {
                StoreError::Refused(e.code_name.clone())
            }
            ErrorKind::Write(WriteFailure::WriteError(e)) => {
                StoreError::Refused(e.code_name.clone().unwrap_or_else(|| e.code.to_string()))
            }
            ErrorKind::InvalidArgument { .. } => StoreError::Refused("InvalidArgument".into()),
            _ => StoreError::Unavailable(error),
        }
    }
}

/// The list index of the document an ordered `insert_many` stopped at.
fn failed_index(error: &mongodb::error::Error) -> Option<usize> {
    match error.kind.as_ref() {
        ErrorKind::InsertMany(e) => e.write_errors.as_ref()?.first().map(|e| e.index),
        _ => None,
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
}

impl Store {
    /// `uri` must already be a valid `mongodb://` URI (see `backend::Config`).
    pub fn new(uri: &str, database: &str) -> Self {
        Self {
            inner: Arc::new(Inner {
                uri: uri.to_string(),
                database: database.to_string(),
                client: OnceCell::new(),
            }),
        }
    }

    async fn collection(&self) -> Result<Collection<StoredDevice>, StoreError> {
        let client = self
            .inner
            .client
            .get_or_try_init(|| async {
                let mut options = ClientOptions::parse(&self.inner.uri)
                    .await
                    .map_err(StoreError::Unavailable)?;
                options.server_selection_timeout = Some(SELECTION_TIMEOUT);
                options.connect_timeout = Some(SELECTION_TIMEOUT);
                options.app_name = Some(self.inner.database.clone());
                Client::with_options(options).map_err(StoreError::Unavailable)
            })
            .await?;
        Ok(client.database(&self.inner.database).collection(COLLECTION))
    }

    /// The unique index on `name`, made again before every write: a dropped
    /// collection or a MongoDB restarted on an empty volume loses it, and
    /// without it two concurrent POSTs of one name would both be stored.
    /// Creating an index that exists is a no-op on the server.
    async fn ensure_unique_names(
        &self,
        collection: &Collection<StoredDevice>,
    ) -> Result<(), StoreError> {
        let index = IndexModel::builder()
            .keys(doc! {"name": 1})
            .options(IndexOptions::builder().unique(true).build())
            .build();
        match collection.create_index(index).await {
            Ok(_) => Ok(()),
            Err(error) if is_duplicate_key(&error) => {
                // Duplicates written by something else: serve, say so, try again next write.
                tracing::error!(%error, "cannot create the unique index on device.name");
                Ok(())
            }
            Err(error) => Err(error.into()),
        }
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
        let result = tokio::time::timeout(OPERATION_DEADLINE, operation)
            .await
            .unwrap_or(Err(StoreError::TimedOut(OPERATION_DEADLINE)));
        if let Some(cx) = &span {
            let error = match &result {
                Err(
                    e @ (StoreError::Unavailable(_)
                    | StoreError::TimedOut(_)
                    | StoreError::Partial { .. }),
                ) => Some(e.to_string()),
                _ => None,
            };
            end_span(cx, None, error.as_deref());
        }
        result
    }

    /// One page of devices and the total that match `filter`, as stored:
    /// documents written by something else may not fit the schema.
    pub async fn list(
        &self,
        trace: &RequestTrace,
        filter: Document,
        sort: Document,
        skip: u64,
        limit: u64,
    ) -> Result<(Vec<Document>, u64), StoreError> {
        self.traced(trace, "find", async {
            let collection = self.collection().await?.clone_with_type::<Document>();
            let total = collection.count_documents(filter.clone()).await?;
            if skip >= total {
                // Past the end (however far: MongoDB takes no skip beyond 2^63).
                return Ok((Vec::new(), total));
            }
            let mut find = collection
                .find(filter)
                .skip(skip)
                .limit(i64::try_from(limit).unwrap_or(i64::MAX));
            if !sort.is_empty() {
                find = find.sort(sort);
            }
            let mut cursor = find.await?;
            let mut devices = Vec::new();
            while cursor.advance().await? {
                devices.push(
                    Document::try_from(cursor.current())
                        .map_err(|e| StoreError::Corrupt(e.into()))?,
                );
            }
            Ok((devices, total))
        })
        .await
    }

    /// One device as stored (it may not fit the schema).
    pub async fn get_document(
        &self,
        trace: &RequestTrace,
        id: DeviceId,
    ) -> Result<Document, StoreError> {
        self.traced(trace, "findOne", async {
            self.collection()
                .await?
                .clone_with_type::<Document>()
                .find_one(doc! {"_id": id.0})
                .await?
                .ok_or(StoreError::NotFound)
        })
        .await
    }

    /// One device, to change it: it must fit the schema.
    pub async fn get(
        &self,
        trace: &RequestTrace,
        id: DeviceId,
    ) -> Result<StoredDevice, StoreError> {
        let document = self.get_document(trace, id).await?;
        bson::from_document(document).map_err(|e| StoreError::Corrupt(e.into()))
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

    /// Inserts all documents or none, as far as MongoDB allows without
    /// transactions: if the insert fails part-way, what this request stored is
    /// removed again (retried for [`ROLLBACK_FOR`]); other readers may see the
    /// devices in between.
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
        let inserted = self
            .traced(trace, "insert", async {
                let collection = self.collection().await?;
                self.ensure_unique_names(&collection).await?;
                // In order, stopping at the first failure: what came before it is stored.
                collection
                    .insert_many(&stored)
                    .ordered(true)
                    .await
                    .map_err(|error| match failed_index(&error) {
                        Some(index) => write_error(error, &stored[index].name, index),
                        None => error.into(),
                    })
            })
            .await;
        let Err(cause) = inserted else {
            return Ok(stored);
        };
        // Unknown how far it got unless a document was refused: remove them all.
        let possibly_stored = match &cause {
            StoreError::Duplicate { index, .. } => &stored[..*index],
            _ => &stored[..],
        };
        if possibly_stored.is_empty() {
            return Err(cause);
        }
        let ids: Vec<Bson> = possibly_stored
            .iter()
            .map(|d| Bson::ObjectId(d.id))
            .collect();
        match self.roll_back(trace, ids).await {
            Ok(()) => Err(cause),
            Err(left) => {
                tracing::error!(error = %cause, left = left.len(), "a list insert failed part-way and could not be undone");
                Err(StoreError::Partial {
                    cause: Box::new(cause),
                    left,
                })
            }
        }
    }

    /// Removes `ids`, trying again until MongoDB answers or [`ROLLBACK_FOR`]
    /// passes; what could not be removed otherwise, as hex ids.
    async fn roll_back(&self, trace: &RequestTrace, ids: Vec<Bson>) -> Result<(), Vec<String>> {
        let give_up = tokio::time::Instant::now() + ROLLBACK_FOR;
        loop {
            let removed = self
                .traced(trace, "delete", async {
                    let collection = self.collection().await?;
                    collection
                        .delete_many(doc! {"_id": {"$in": ids.clone()}})
                        .await?;
                    Ok(())
                })
                .await;
            match removed {
                Ok(()) => return Ok(()),
                Err(error) if tokio::time::Instant::now() >= give_up => {
                    tracing::error!(%error, "giving up removing a partial list insert");
                    return Err(ids
                        .iter()
                        .filter_map(|id| id.as_object_id().map(|o| o.to_hex()))
                        .collect());
                }
                Err(error) => {
                    tracing::warn!(%error, "removing a partial list insert, trying again");
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
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
            let collection = self.collection().await?;
            self.ensure_unique_names(&collection).await?;
            let replaced = collection
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
