//! Store errors, classified by what the caller should do about them.

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
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
}

impl StoreError {
    /// Classifies a redis-rs error.
    pub(crate) fn from_redis(err: redis::RedisError) -> Self {
        let text = err.to_string();
        if text.contains("OOM") {
            StoreError::OutOfMemory
        } else if err.is_io_error()
            || err.is_timeout()
            || err.is_connection_dropped()
            || err.is_connection_refusal()
            || text.contains("LOADING")
            || text.contains("MASTERDOWN")
            || text.contains("BUSY")
        {
            StoreError::Unavailable(text)
        } else {
            // Anything else (script errors included) is treated as the store
            // being unusable for this call: the caller answers 503 and
            // retries, never 2xx.
            StoreError::Unavailable(text)
        }
    }
}
