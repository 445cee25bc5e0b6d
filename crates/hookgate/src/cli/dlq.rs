//! `hookgate dlq list|show|replay`: a subscription's dead letters.

use super::table::Table;
use super::{Common, Ctx, Output, Paging, finish, opt, raw};
use crate::client::ClientError;
use crate::client::{encode, printable};
use clap::{ArgGroup, Args, Subcommand};
use hookgate_admin::api::{DeadLetterFilter, DeadLetterView, ReplayRequest, ReplayResult};
use std::process::ExitCode;

/// `hookgate dlq ...`.
#[derive(Args, Debug)]
pub struct DlqArgs {
    #[command(subcommand)]
    command: DlqCommand,
}

/// Which dead letters (list query or replay filter).
#[derive(Args, Debug, Clone, Default)]
struct Filter {
    /// Glob on the normalized type (`*` spans dots), e.g. 'stripe.charge.*'.
    #[arg(long = "type", value_name = "GLOB")]
    ty: Option<String>,
    /// Prefix of the reason, e.g. 'status 4' or 'max_attempts'.
    #[arg(long, value_name = "PREFIX")]
    reason: Option<String>,
    /// Only dead letters of events from this source id.
    #[arg(long, value_name = "ID")]
    source: Option<String>,
    /// Dead at or after this RFC 3339 time.
    #[arg(long, value_name = "RFC3339")]
    since: Option<String>,
    /// Dead at or before this RFC 3339 time.
    #[arg(long, value_name = "RFC3339")]
    until: Option<String>,
}

impl Filter {
    fn to_api(&self) -> DeadLetterFilter {
        DeadLetterFilter {
            ty: self.ty.clone(),
            reason: self.reason.clone(),
            source: self.source.clone(),
            since: self.since.clone(),
            until: self.until.clone(),
        }
    }
}

#[derive(Subcommand, Debug)]
enum DlqCommand {
    /// A subscription's dead letters, oldest death first.
    List {
        /// The subscription id (may be left out when there is only one).
        #[arg(long, value_name = "ID")]
        subscription: Option<String>,
        #[command(flatten)]
        filter: Filter,
        #[command(flatten)]
        paging: Paging,
    },
    /// A dead event: its fields, payload, deliveries and attempts.
    Show {
        /// The event id (from `dlq list`).
        event_id: String,
    },
    /// Send dead letters again (same event ids, fresh attempt budget).
    ///
    /// Name them with --event-id, or select them with a filter
    /// (--type/--reason/--source/--since/--until). Try --dry-run first.
    #[command(group(
        ArgGroup::new("selection")
            .required(true)
            .multiple(true)
            .args(["event_ids", "ty", "reason", "source", "since", "until"])
    ))]
    Replay {
        /// The subscription id (may be left out when there is only one).
        #[arg(long, value_name = "ID")]
        subscription: Option<String>,
        /// Replay this dead letter (repeat, or give several after one flag).
        #[arg(
            long = "event-id",
            value_name = "ID",
            num_args = 1..,
            conflicts_with_all = ["ty", "reason", "source", "since", "until"]
        )]
        event_ids: Vec<String>,
        #[command(flatten)]
        filter: Filter,
        /// Only count what would be replayed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `hookgate dlq ...`.
pub fn run(common: &Common, args: DlqArgs) -> ExitCode {
    super::run(common, |ctx| async move {
        match args.command {
            DlqCommand::List {
                subscription,
                filter,
                paging,
            } => list(&ctx, subscription, &filter, &paging).await,
            DlqCommand::Show { event_id } => super::events::show(&ctx, &event_id).await,
            DlqCommand::Replay {
                subscription,
                event_ids,
                filter,
                dry_run,
            } => replay(&ctx, subscription, event_ids, &filter, dry_run).await,
        }
    })
}

/// `hookgate dlq list`: a table of the subscription's dead letters.
async fn list(
    ctx: &Ctx,
    subscription: Option<String>,
    filter: &Filter,
    paging: &Paging,
) -> Result<Output, ClientError> {
    let subscription = super::subscription_or_only(ctx, subscription).await?;
    let path = format!(
        "/admin/v1/subscriptions/{}/dead-letters",
        encode(&subscription)
    );
    let params = [
        ("type", filter.ty.as_deref()),
        ("reason", filter.reason.as_deref()),
        ("source", filter.source.as_deref()),
        ("since", filter.since.as_deref()),
        ("until", filter.until.as_deref()),
    ];
    let listing = super::list::<DeadLetterView>(ctx, &path, &params, paging).await?;
    let mut t = Table::new(&[
        "EVENT_ID", "TYPE", "REASON", "STATUS", "ATTEMPTS", "DEAD_AT", "SOURCE",
    ]);
    for d in &listing.items {
        t.row([
            d.event_id.clone(),
            opt(&d.ty),
            opt(&d.reason),
            opt(&d.last_status_code),
            d.attempts.to_string(),
            opt(&d.dead_at),
            d.source.clone(),
        ]);
    }
    let empty = format!(
        "no dead letters in subscription {} match",
        printable(&subscription)
    );
    Ok(finish(ctx, listing, &t, &empty))
}

/// `hookgate dlq replay`: named dead letters or a filter's, or a dry run.
async fn replay(
    ctx: &Ctx,
    subscription: Option<String>,
    event_ids: Vec<String>,
    filter: &Filter,
    dry_run: bool,
) -> Result<Output, ClientError> {
    let subscription = super::subscription_or_only(ctx, subscription).await?;
    let req = if event_ids.is_empty() {
        ReplayRequest {
            event_ids: None,
            filter: Some(filter.to_api()),
            dry_run,
        }
    } else {
        ReplayRequest {
            event_ids: Some(event_ids),
            filter: None,
            dry_run,
        }
    };
    let path = format!(
        "/admin/v1/subscriptions/{}/dead-letters/replay",
        encode(&subscription)
    );
    let body = ctx.client.post(&path, &req).await?;
    if ctx.json {
        return Ok(raw(&body).into());
    }
    let r: ReplayResult = ctx.client.parse(&path, &body)?;
    let sub = printable(&subscription);
    let text = if dry_run {
        format!(
            "dry run: matched {}, replayed 0 — nothing was sent; run again \
                 without --dry-run to replay them to {sub}\n",
            r.matched
        )
    } else if r.replayed < r.matched {
        format!(
            "matched {}, replayed {} to {sub} ({} were already replayed by \
                 another call)\n",
            r.matched,
            r.replayed,
            r.matched - r.replayed
        )
    } else {
        format!("matched {}, replayed {} to {sub}\n", r.matched, r.replayed)
    };
    Ok(text.into())
}
