//! The scheme registry. (Under construction.)

use crate::{Scheme, SchemeError};
use hookgate_config::SourceConfig;

/// Builds the scheme named by `source.scheme`, or fails closed.
pub fn build(source: &SourceConfig) -> Result<Box<dyn Scheme>, SchemeError> {
    Err(SchemeError {
        source_id: source.id.clone(),
        key: "scheme".into(),
        message: format!("unknown scheme {:?}", source.scheme),
    })
}
