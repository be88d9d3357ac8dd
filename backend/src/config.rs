//! A backend's settings, from the environment.

use shared::config::{self, ConfigError, ServerConfig, Source};

use crate::faults::FaultSettings;

/// A backend's settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    /// `MONGODB_URI`: where the `device` collection lives.
    pub mongodb_uri: String,
    /// `MONGO_DBNAME`: the database; by default the service's name, so aleph
    /// and beth (and every version of one service) keep their own data.
    pub mongo_dbname: Option<String>,
    /// `FAULT_*`: the fault knobs' settings at start.
    pub faults: FaultSettings,
}

impl Config {
    /// A backend on `server` whose devices live in `database` at
    /// `mongodb_uri`, with no fault injected (tests, and code that embeds it).
    pub fn with_database(server: ServerConfig, mongodb_uri: &str, database: &str) -> Self {
        Self {
            server,
            mongodb_uri: mongodb_uri.to_string(),
            mongo_dbname: Some(database.to_string()),
            faults: FaultSettings::default(),
        }
    }

    pub fn from_source(source: &dyn Source) -> Result<Self, ConfigError> {
        Ok(Self {
            server: ServerConfig::from_source(source)?,
            mongodb_uri: config::read(
                source,
                "MONGODB_URI",
                "mongodb://mongo:27017".to_string(),
                "a mongodb:// URI such as mongodb://mongo:27017",
                |s| {
                    mongodb::options::ConnectionString::parse(s)
                        .is_ok()
                        .then(|| s.to_string())
                },
            )?,
            mongo_dbname: config::read(
                source,
                "MONGO_DBNAME",
                None,
                "a database name: letters, digits, '_' or '-', at most 63",
                |s| {
                    let valid = s.len() <= 63
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                    valid.then(|| Some(s.to_string()))
                },
            )?,
            faults: FaultSettings::from_source(source)?,
        })
    }
}
