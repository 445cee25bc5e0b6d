//! Fault tests: the real binary, a real store (the embedded SQLite file;
//! Redis for the tests about Redis), real sockets, and something
//! going wrong on purpose — a gateway killed or stopped under load, two
//! gateways sharing a store, sick subscribers next to a healthy one, a
//! breaker opening and closing, one provider failing or flooding next to
//! another, Redis coming back empty, an HTTPS subscriber with and without
//! its CA. Every wait is bounded; assertions are about order and counts,
//! never about how fast something was.

#[path = "faults_crash.rs"]
mod crash;
#[path = "faults_isolation.rs"]
mod isolation;
#[path = "faults_ordering.rs"]
mod ordering;
#[path = "faults_store.rs"]
mod store;
#[path = "faults_support.rs"]
mod support;
#[path = "faults_tls.rs"]
mod tls;
