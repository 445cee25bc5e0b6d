//! `hookgate subscriptions list|pause|resume`.

use super::table::Table;
use super::{Common, Paging, finish, opt, raw};
use crate::client::{encode, printable};
use clap::{Args, Subcommand};
use hookgate_admin::api::{RouteView, SubscriptionView};
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
        }
    })
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
        }
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
