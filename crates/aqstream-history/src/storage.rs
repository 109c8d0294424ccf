//! Where the history lives: one `object_store` code path for a local directory,
//! S3-compatible object storage and an in-memory store.

use crate::HistoryError;
use crate::layout::{HistoryTable, parse_partition_dir, partition_dir};
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStore};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Configuration of the history location (`[history]` in the TOML file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// The history root: a local directory (`./aqstream-data/history`, `file:///srv/history`),
    /// `s3://bucket/prefix` for S3-compatible object storage, or `memory://` (an empty
    /// in-process store, for tests).
    pub url: String,
    /// Options of `s3://` URLs. Credentials are never read from the file: they come from
    /// the standard `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` / `AWS_SESSION_TOKEN`
    /// environment variables (or the instance's role).
    pub s3: S3Config,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            url: "./aqstream-data/history".into(),
            s3: S3Config::default(),
        }
    }
}

/// Options of S3-compatible object storage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S3Config {
    /// Endpoint of an S3-compatible service (MinIO, Ceph, Garage…); unset for AWS.
    pub endpoint: Option<String>,
    /// Region (most S3-compatible services accept any).
    pub region: String,
    /// Allow an `http://` endpoint (a service on the local network).
    pub allow_http: bool,
    /// Address buckets as `bucket.endpoint` instead of `endpoint/bucket`.
    pub virtual_hosted_style: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        S3Config {
            endpoint: None,
            region: "us-east-1".into(),
            allow_http: false,
            virtual_hosted_style: false,
        }
    }
}

/// One date partition of a table and its finished files.
#[derive(Debug, Clone)]
pub struct Partition {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// The Parquet files (temporary files excluded), sorted by path.
    pub files: Vec<ObjectMeta>,
}

/// An opened history location.
#[derive(Debug, Clone)]
pub struct HistoryStore {
    store: Arc<dyn ObjectStore>,
    /// `scheme://authority` of the store, e.g. `file://`, `s3://bucket`, `memory://`.
    store_url: String,
    /// The history root inside the store.
    root: Path,
}

impl HistoryStore {
    /// Opens the location of `config`.
    pub fn open(config: &StorageConfig) -> Result<HistoryStore, HistoryError> {
        let url = config.url.trim();
        if let Some(rest) = url.strip_prefix("s3://") {
            return open_s3(rest, &config.s3);
        }
        if let Some(rest) = url.strip_prefix("memory://") {
            return Ok(HistoryStore::from_store(
                Arc::new(InMemory::new()),
                "memory://",
                rest.trim_matches('/'),
            ));
        }
        if let Some(rest) = url.strip_prefix("file://") {
            return HistoryStore::local(std::path::Path::new(rest));
        }
        if url.contains("://") {
            return Err(HistoryError::Config(format!(
                "unsupported history URL `{url}` (a directory, file://, s3:// or memory://)"
            )));
        }
        HistoryStore::local(std::path::Path::new(url))
    }

    /// A local directory (need not exist yet: it reads as an empty history).
    pub fn local(dir: &std::path::Path) -> Result<HistoryStore, HistoryError> {
        let abs = if dir.is_absolute() {
            dir.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| HistoryError::Config(format!("current directory: {e}")))?
                .join(dir)
        };
        // `./history` or `a/../b`: object-store paths have no `.` or `..` segments
        let abs: std::path::PathBuf =
            abs.components()
                .fold(std::path::PathBuf::new(), |mut p, c| {
                    match c {
                        std::path::Component::CurDir => {}
                        std::path::Component::ParentDir => {
                            p.pop();
                        }
                        other => p.push(other),
                    }
                    p
                });
        let text = abs.to_str().ok_or_else(|| {
            HistoryError::Config(format!("history path {} is not UTF-8", abs.display()))
        })?;
        let root = Path::parse(text.trim_start_matches('/'))
            .map_err(|e| HistoryError::Config(format!("history path {text}: {e}")))?;
        Ok(HistoryStore::from_store(
            Arc::new(LocalFileSystem::new()),
            "file://",
            root.as_ref(),
        ))
    }

    /// Wraps an existing store: `store_url` is its `scheme://authority` (as registered with
    /// DataFusion), `root` the history root inside it.
    pub fn from_store(store: Arc<dyn ObjectStore>, store_url: &str, root: &str) -> HistoryStore {
        HistoryStore {
            store,
            store_url: if store_url.ends_with("://") {
                store_url.to_string()
            } else {
                store_url.trim_end_matches('/').to_string()
            },
            root: Path::from(root.trim_matches('/')),
        }
    }

    /// The object store.
    pub fn object_store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// `scheme://authority` of the store (the key under which DataFusion finds it).
    pub fn store_url(&self) -> &str {
        &self.store_url
    }

    /// The history root inside the store.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The directory of a table inside the store.
    pub fn table_prefix(&self, table: HistoryTable) -> Path {
        self.root.clone().join(table.name())
    }

    /// The directory of one partition inside the store.
    pub fn partition_prefix(&self, table: HistoryTable, date: &str) -> Path {
        self.table_prefix(table).join(partition_dir(date))
    }

    /// The URL of a table's directory, with a trailing slash (what a DataFusion listing
    /// table is built on), e.g. `file:///srv/history/readings/`.
    pub fn table_url(&self, table: HistoryTable) -> String {
        let prefix = self.table_prefix(table);
        format!("{}/{}/", self.store_url, prefix.as_ref())
    }

    /// The partitions of a table that hold at least one finished file, oldest first.
    pub async fn partitions(&self, table: HistoryTable) -> Result<Vec<Partition>, HistoryError> {
        let prefix = self.table_prefix(table);
        let metas: Vec<ObjectMeta> = match self.store.list(Some(&prefix)).try_collect().await {
            Ok(m) => m,
            Err(object_store::Error::NotFound { .. }) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let mut by_date: std::collections::BTreeMap<String, Vec<ObjectMeta>> = Default::default();
        for meta in metas {
            let Some(rel) = meta.location.prefix_match(&prefix) else {
                continue;
            };
            let parts: Vec<_> = rel.collect();
            if parts.len() != 2 || !crate::layout::is_history_file(parts[1].as_ref()) {
                continue;
            }
            if let Some(date) = parse_partition_dir(parts[0].as_ref()) {
                by_date.entry(date.to_string()).or_default().push(meta);
            }
        }
        Ok(by_date
            .into_iter()
            .map(|(date, mut files)| {
                files.sort_by(|a, b| a.location.cmp(&b.location));
                Partition { date, files }
            })
            .collect())
    }
}

#[cfg(feature = "s3")]
fn open_s3(rest: &str, cfg: &S3Config) -> Result<HistoryStore, HistoryError> {
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(HistoryError::Config(format!(
            "s3://{rest}: the URL names no bucket"
        )));
    }
    let mut builder = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(bucket)
        .with_region(&cfg.region)
        .with_allow_http(cfg.allow_http)
        .with_virtual_hosted_style_request(cfg.virtual_hosted_style);
    if let Some(endpoint) = &cfg.endpoint {
        builder = builder.with_endpoint(endpoint);
    }
    let store = builder.build()?;
    Ok(HistoryStore::from_store(
        Arc::new(store),
        &format!("s3://{bucket}"),
        prefix,
    ))
}

#[cfg(not(feature = "s3"))]
fn open_s3(rest: &str, _cfg: &S3Config) -> Result<HistoryStore, HistoryError> {
    Err(HistoryError::Config(format!(
        "s3://{rest}: this build has no S3 support (enable the `s3` feature of aqstream-history)"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_of_local_and_memory_stores() {
        let dotted = HistoryStore::local(std::path::Path::new("/srv/./x/../history")).unwrap();
        assert_eq!(
            dotted.table_url(HistoryTable::Readings),
            "file:///srv/history/readings/"
        );
        let s = HistoryStore::local(std::path::Path::new("/srv/history")).unwrap();
        assert_eq!(s.store_url(), "file://");
        assert_eq!(
            s.table_url(HistoryTable::Readings),
            "file:///srv/history/readings/"
        );
        assert_eq!(
            s.partition_prefix(HistoryTable::Alerts, "2026-11-22")
                .as_ref(),
            "srv/history/alerts/date=2026-11-22"
        );
        let m = HistoryStore::open(&StorageConfig {
            url: "memory://".into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            m.table_url(HistoryTable::Aggregates),
            "memory:///aggregates/"
        );
        let e = HistoryStore::open(&StorageConfig {
            url: "ftp://x/y".into(),
            ..Default::default()
        })
        .unwrap_err();
        assert!(e.to_string().contains("unsupported history URL"), "{e}");
    }

    #[tokio::test]
    async fn a_missing_directory_is_an_empty_history() {
        let dir = tempfile::tempdir().unwrap();
        let s = HistoryStore::local(&dir.path().join("nothing-here")).unwrap();
        assert!(
            s.partitions(HistoryTable::Readings)
                .await
                .unwrap()
                .is_empty()
        );
    }
}
