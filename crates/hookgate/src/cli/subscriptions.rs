//! `hookgate subscriptions list|pause|resume|blocked`.

use super::table::Table;
use super::{Common, Paging, finish, opt, raw, subscription_or_only};
use crate::client::{encode, printable};
use clap::{Args, Subcommand};
use hookgate_admin::api::{BlockedKeyView, RouteView, SubscriptionView};
use std::process::ExitCode;

/// `hookgate subscriptions ...`.
#[derive(Args, Debug)]
pub struct SubscriptionsArgs {
    #[command(subcommand)]
    command: SubscriptionsCommand,
}

#[derive(Subcommand, Debug)]
enum SubscriptionsCommand {
    /// Every subscription this token sees, with backlog, dead letters and
    /// breakers, in config order (every page unless --limit is given).
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Stop sending to a subscription; its deliveries wait (no attempt is
    /// used) until resumed.
    Pause {
        /// The subscription id.
        id: String,
    },
    /// Start sending to a paused subscription again.
    Resume {
        /// The subscription id.
        id: String,
    },
    /// A subscription's blocked ordering keys, oldest blocked first: keys
    /// whose first delivery failed and holds the key's later events back.
    Blocked {
        /// The subscription id (may be left out when there is only one).
        #[arg(long, value_name = "ID")]
        subscription: Option<String>,
        /// Only the keys of events from this source id.
        #[arg(long, value_name = "ID")]
        source: Option<String>,
        /// At most N keys (1..=500; default 50).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=500))]
        limit: Option<u32>,
    },
}

/// Runs `hookgate subscriptions ...`.
pub fn run(common: &Common, args: SubscriptionsArgs) -> ExitCode {
    super::run(common, |ctx| async move {
        match args.command {
            SubscriptionsCommand::List { paging } => {
                // Every subscription by default, as before the API paged
                // them; --limit alone reads one page.
                let paging = Paging {
                    all: paging.all || paging.limit.is_none(),
                    ..paging
                };
                let listing =
                    super::list::<SubscriptionView>(&ctx, "/admin/v1/subscriptions", &[], &paging)
                        .await?;
                let mut t =
                    Table::new(&["ID", "TENANT", "PAUSED", "QUEUE", "DLQ", "BREAKERS", "URL"]);
                for s in &listing.items {
                    t.row([
                        s.id.clone(),
                        opt(&s.tenant),
                        if s.paused { "yes" } else { "no" }.to_owned(),
                        s.queue_depth.to_string(),
                        s.dlq_depth.to_string(),
                        breakers(&s.routes),
                        s.url.clone(),
                    ]);
                }
                Ok(finish(
                    &ctx,
                    listing,
                    &t,
                    "no subscriptions visible to this token",
                ))
            }
            SubscriptionsCommand::Pause { id } => {
                let path = format!("/admin/v1/subscriptions/{}/pause", encode(&id));
                let body = ctx.client.post(&path, &serde_json::json!({})).await?;
                if ctx.json {
                    return Ok(raw(&body).into());
                }
                let id = printable(&id);
                Ok(format!(
                    "subscription {id} paused: deliveries wait in its queue until \
                     `hookgate subscriptions resume {id}`\n"
                )
                .into())
            }
            SubscriptionsCommand::Resume { id } => {
                let path = format!("/admin/v1/subscriptions/{}/resume", encode(&id));
                let body = ctx.client.post(&path, &serde_json::json!({})).await?;
                if ctx.json {
                    return Ok(raw(&body).into());
                }
                Ok(format!(
                    "subscription {} resumed: its queue drains now\n",
                    printable(&id)
                )
                .into())
            }
            SubscriptionsCommand::Blocked {
                subscription,
                source,
                limit,
            } => {
                let id = subscription_or_only(&ctx, subscription).await?;
                let path = format!("/admin/v1/subscriptions/{}/ordering", encode(&id));
                let paging = Paging { limit, all: false };
                let listing = super::list::<BlockedKeyView>(
                    &ctx,
                    &path,
                    &[("source", source.as_deref())],
                    &paging,
                )
                .await?;
                let mut t = Table::new(&[
                    "SOURCE",
                    "KEY",
                    "HEAD EVENT",
                    "ATTEMPTS",
                    "LAST",
                    "BLOCKED SINCE",
                    "WAITING",
                ]);
                for k in &listing.items {
                    t.row([
                        k.source.clone(),
                        k.key.clone(),
                        k.head.event_id.clone(),
                        k.head.attempts.to_string(),
                        last_outcome(k),
                        k.head.since.clone(),
                        k.waiting.to_string(),
                    ]);
                }
                let empty = format!("no blocked ordering keys for {}", printable(&id));
                Ok(finish(&ctx, listing, &t, &empty))
            }
        }
    })
}

/// A blocked head's last attempt: `status 503`, the error, both, or `-`.
fn last_outcome(k: &BlockedKeyView) -> String {
    match (k.head.last_status_code, &k.head.last_error) {
        (Some(code), Some(e)) => format!("status {code}: {e}"),
        (Some(code), None) => format!("status {code}"),
        (None, Some(e)) => e.clone(),
        (None, None) => "-".to_owned(),
    }
}

/// `closed` when every route's breaker is closed, else the routes that are
/// not, e.g. `stripe:open acme:half_open`.
fn breakers(routes: &[RouteView]) -> String {
    let not_closed: Vec<String> = routes
        .iter()
        .filter(|r| r.breaker != "closed")
        .map(|r| format!("{}:{}", r.source, r.breaker))
        .collect();
    if not_closed.is_empty() {
        "closed".to_owned()
    } else {
        not_closed.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(source: &str, breaker: &str) -> RouteView {
        RouteView {
            source: source.into(),
            queue_depth: 0,
            breaker: breaker.into(),
            held: 0,
            blocked_keys: 0,
        }
    }

    #[test]
    fn a_blocked_heads_last_outcome_reads_as_one_cell() {
        let key = |code: Option<u16>, error: Option<&str>| BlockedKeyView {
            source: "stripe".into(),
            key: "pi_1".into(),
            head: hookgate_admin::api::BlockedHeadView {
                event_id: "evt".into(),
                attempts: 3,
                last_status_code: code,
                last_error: error.map(str::to_owned),
                since: "2026-12-07T03:00:00.000Z".into(),
            },
            waiting: 2,
        };
        assert_eq!(last_outcome(&key(Some(503), None)), "status 503");
        assert_eq!(last_outcome(&key(None, Some("timeout"))), "timeout");
        assert_eq!(
            last_outcome(&key(Some(500), Some("boom"))),
            "status 500: boom"
        );
        assert_eq!(last_outcome(&key(None, None)), "-");
    }

    #[test]
    fn breakers_summarise_the_routes_that_are_not_closed() {
        assert_eq!(breakers(&[]), "closed");
        assert_eq!(breakers(&[route("a", "closed")]), "closed");
        assert_eq!(
            breakers(&[
                route("a", "open"),
                route("b", "closed"),
                route("c", "half_open")
            ]),
            "a:open c:half_open"
        );
    }
}
