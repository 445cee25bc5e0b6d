//! End-to-end tests: the real `hookgate` binary as a child process, its own
//! store per test (an SQLite file in a temp dir, the default; a throwaway
//! `redis-server` or Redis Cluster where the test is about Redis: stopping,
//! pausing, emptying or reconfiguring it, TLS to it, several gateways on
//! it), a scripted local subscriber, real HTTP on loopback. What the gateway
//! stored is read through its admin API, never a backend's layout. Modules by kind: `e2e_*` for the flows that must work,
//! `hostile_*` for what a hostile or unlucky caller does, `config` for the
//! operator's first contact.

mod browser;
mod cli;
mod common;
mod config;
mod e2e_admin;
mod e2e_adyen;
mod e2e_cluster;
mod e2e_console;
mod e2e_delivery;
mod e2e_ingest;
mod e2e_metrics;
mod e2e_ordering;
mod e2e_store;
mod e2e_trace;
mod faults;
mod hostile_ingest;
mod hostile_store;
mod verify_cmd;
