//! One module per admin resource.

pub(crate) mod audit;
pub(crate) mod dlq;
pub(crate) mod events;
pub(crate) mod ordering;
pub(crate) mod subscriptions;
