//! `hookgate events list|show|redeliver`.

use super::table::{Table, fields};
use super::{Common, Ctx, Output, Paging, finish, opt, raw};
use crate::client::{ClientError, encode};
use clap::{Args, Subcommand};
use hookgate_admin::api::{EventDetail, EventSummary, RedeliverRequest};
use std::process::ExitCode;

/// `hookgate events ...`.
#[derive(Args, Debug)]
pub struct EventsArgs {
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Subcommand, Debug)]
enum EventsCommand {
    /// Stored events, newest first by receive time.
    List {
        /// Only events from this source id.
        #[arg(long, value_name = "ID")]
        source: Option<String>,
        /// Glob on the normalized type (`*` spans dots), e.g. 'stripe.charge.*'.
        #[arg(long = "type", value_name = "GLOB")]
        ty: Option<String>,
        /// Received at or after this RFC 3339 time.
        #[arg(long, value_name = "RFC3339")]
        since: Option<String>,
        /// Received at or before this RFC 3339 time.
        #[arg(long, value_name = "RFC3339")]
        until: Option<String>,
        /// Oldest first instead.
        #[arg(long)]
        oldest_first: bool,
        #[command(flatten)]
        paging: Paging,
    },
    /// One event: its fields, payload and every delivery with its attempts.
    Show {
        /// The event id (from `events list` or `dlq list`).
        event_id: String,
    },
    /// Deliver an event to a subscription again (same event id).
    Redeliver {
        /// The event id.
        event_id: String,
        /// The subscription to deliver it to (may be left out when there is
        /// only one).
        #[arg(long, value_name = "ID")]
        subscription: Option<String>,
    },
}

/// Runs `hookgate events ...`.
pub fn run(common: &Common, args: EventsArgs) -> ExitCode {
    super::run(common, |ctx| async move {
        match args.command {
            EventsCommand::List {
                source,
                ty,
                since,
                until,
                oldest_first,
                paging,
            } => {
                let params = [
                    ("source", source.as_deref()),
                    ("type", ty.as_deref()),
                    ("since", since.as_deref()),
                    ("until", until.as_deref()),
                    (
                        "order",
                        Some(if oldest_first { "oldest" } else { "newest" }),
                    ),
                ];
                let listing =
                    super::list::<EventSummary>(&ctx, "/admin/v1/events", &params, &paging).await?;
                let mut t = Table::new(&["ID", "SOURCE", "TYPE", "SUBJECT", "RECEIVED_AT"]);
                for e in &listing.items {
                    t.row([
                        e.id.clone(),
                        e.source.clone(),
                        e.ty.clone(),
                        opt(&e.subject),
                        e.received_at.clone(),
                    ]);
                }
                Ok(finish(&ctx, listing, &t, "no events match"))
            }
            EventsCommand::Show { event_id } => show(&ctx, &event_id).await,
            EventsCommand::Redeliver {
                event_id,
                subscription,
            } => {
                let subscription = super::subscription_or_only(&ctx, subscription).await?;
                let path = format!("/admin/v1/events/{}/redeliver", encode(&event_id));
                let body = ctx
                    .client
                    .post(
                        &path,
                        &RedeliverRequest {
                            subscription: subscription.clone(),
                        },
                    )
                    .await?;
                if ctx.json {
                    return Ok(raw(&body).into());
                }
                let answer: serde_json::Value = ctx.client.parse(&path, &body)?;
                let status = answer["status"].as_str().unwrap_or("pending");
                Ok(format!(
                    "event {} queued for redelivery to subscription {} (status: {})\n",
                    crate::client::printable(&event_id),
                    crate::client::printable(&subscription),
                    crate::client::printable(status),
                )
                .into())
            }
        }
    })
}

/// `GET /admin/v1/events/{id}` as JSON or as a readable report (shared
/// with `hookgate dlq show`).
pub async fn show(ctx: &Ctx, event_id: &str) -> Result<Output, ClientError> {
    let path = format!("/admin/v1/events/{}", encode(event_id));
    let body = ctx.client.get(&path).await?;
    if ctx.json {
        return Ok(raw(&body).into());
    }
    let ev: EventDetail = ctx.client.parse(&path, &body)?;
    Ok(render_event(&ev).into())
}

/// The event, its deliveries, its attempts, then its payload.
fn render_event(ev: &EventDetail) -> String {
    let mut out = fields(&[
        ("id", ev.id.clone()),
        ("source", ev.source.clone()),
        ("type", ev.ty.clone()),
        ("subject", opt(&ev.subject)),
        ("time", opt(&ev.time)),
        ("received_at", ev.received_at.clone()),
    ]);
    out.push('\n');
    if ev.deliveries.is_empty() {
        out.push_str("deliveries: none (no subscription this token sees wants this type)\n");
    } else {
        let mut d = Table::new(&[
            "SUBSCRIPTION",
            "STATUS",
            "REASON",
            "ATTEMPTS",
            "LAST_STATUS",
            "LAST_AT",
        ]);
        let mut a = Table::new(&["SUBSCRIPTION", "N", "AT", "STATUS", "MS", "ERROR"]);
        for dv in &ev.deliveries {
            let last = dv.attempts.last();
            d.row([
                dv.subscription.clone(),
                dv.status.clone(),
                opt(&dv.reason),
                dv.attempts.len().to_string(),
                last.map_or("-".to_owned(), |l| opt(&l.status_code)),
                last.map_or("-".to_owned(), |l| l.at.clone()),
            ]);
            for at in &dv.attempts {
                a.row([
                    dv.subscription.clone(),
                    at.n.to_string(),
                    at.at.clone(),
                    opt(&at.status_code),
                    at.duration_ms.to_string(),
                    opt(&at.error),
                ]);
            }
        }
        out.push_str("DELIVERIES\n");
        out.push_str(&d.render());
        if !a.is_empty() {
            out.push_str("\nATTEMPTS\n");
            out.push_str(&a.render());
        }
    }
    out.push_str("\ndata:\n");
    // serde_json escapes C0 controls inside strings; DEL and C1 are not.
    let pretty = serde_json::to_string_pretty(&ev.data).unwrap_or_default();
    out.extend(
        pretty
            .chars()
            .map(|c| if c.is_control() && c != '\n' { '?' } else { c }),
    );
    out.push('\n');
    out
}
