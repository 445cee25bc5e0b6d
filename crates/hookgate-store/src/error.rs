//! Store errors, classified by what the caller should do about them.
//!
//! Texts never carry a secret: a Redis URL (which may hold a password) is
//! never quoted, and neither is any stored payload.

/// Why a store call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// Redis could not be reached or did not answer within `store_timeout`:
    /// answer 503 and let the provider retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Redis refused the write for lack of memory (`noeviction` at its
    /// limit): answer 503 fast.
    #[error("store out of memory")]
    OutOfMemory,
    /// Redis evicts keys and `allow_eviction` is false: writes are refused
    /// because an evicted dedup marker or event would be a silent loss.
    #[error(
        "store refuses writes: maxmemory-policy is {0:?} (set noeviction, or allow_eviction = true)"
    )]
    EvictingPolicy(String),
    /// A reply did not have the expected shape (a bug or a foreign writer).
    #[error("unexpected store reply: {0}")]
    Protocol(String),
    /// The disk that holds the embedded store is full: answer 503; writes
    /// resume by themselves once space returns.
    #[error("store disk full")]
    DiskFull,
    /// The embedded store's file is held by another gateway process.
    #[error("{0}")]
    InUse(String),
    /// Refused as asked (the caller's mistake, e.g. a backup onto an
    /// existing file): nothing was done.
    #[error("{0}")]
    Refused(String),
    /// The operation does not exist on this backend.
    #[error("{0}")]
    Unsupported(String),
    /// The embedded store's file cannot be used by this version: written
    /// by a newer one, or not a Hookgate store at all.
    #[error("{0}")]
    Incompatible(String),
}

impl StoreError {
    /// Classifies a redis-rs error.
    pub(crate) fn from_redis(err: redis::RedisError) -> Self {
        let text = err.to_string();
        if text.contains("OOM") {
            StoreError::OutOfMemory
        } else {
            // Connection loss, timeouts, LOADING, script errors: the store is
            // unusable for this call. The caller answers 503 (or retries the
            // loop) and never acknowledges what it could not write.
            StoreError::Unavailable(text)
        }
    }
}
