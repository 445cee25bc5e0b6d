//! The operators' CLI over the admin API (docs/admin-api.md): `hookgate dlq`,
//! `hookgate events`, `hookgate subscriptions`, `hookgate audit`.
//!
//! Every command takes `--admin-url` (or `HOOKGATE_ADMIN_URL`) and `--json`,
//! before or after the subcommand, and reads the token from `HOOKGATE_TOKEN`
//! only — never a flag, never printed. Output is
//! an aligned table for a human by default; `--json` prints the API's JSON
//! unchanged, one document per command (with `--all`, the pages merged into
//! one `{"items":[...],"next_cursor":null}`). Failures go to stderr as one
//! readable sentence with exit code 1; clap's usage errors exit 2.

pub mod audit;
pub mod dlq;
pub mod events;
pub mod subscriptions;
pub mod table;

use crate::client::{AdminClient, ClientError, DEFAULT_ADMIN_URL, with_query};
use clap::Args;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::future::Future;
use std::io::Write;
use std::process::ExitCode;

/// The largest page the API serves (used as the page size of `--all`).
const MAX_PAGE: u32 = 1000;

/// Options of the CLI commands: global, so they are taken before the
/// subcommand (`hookgate --admin-url URL dlq list ...`) or anywhere after it.
#[derive(Args, Debug, Clone)]
pub struct Common {
    /// CLI commands: print the admin API's JSON unchanged instead of a table
    /// (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// CLI commands: the gateway's admin listener. The token is read from
    /// HOOKGATE_TOKEN.
    #[arg(
        long,
        global = true,
        env = "HOOKGATE_ADMIN_URL",
        default_value = DEFAULT_ADMIN_URL,
        value_name = "URL"
    )]
    pub admin_url: String,
}

/// `--limit` and `--all` of a list.
#[derive(Args, Debug, Clone)]
pub struct Paging {
    /// At most N items (1..=1000; default 50). With --all: the page size.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub limit: Option<u32>,
    /// Follow next_cursor until the end and show every item.
    #[arg(long)]
    pub all: bool,
}

/// What a command works with.
pub struct Ctx {
    /// The admin API.
    pub client: AdminClient,
    /// `--json`.
    pub json: bool,
}

/// Runs one CLI command: builds the client (token from the environment),
/// runs `f` on a small runtime, prints its output or its error.
pub fn run<F, Fut>(common: &Common, f: F) -> ExitCode
where
    F: FnOnce(Ctx) -> Fut,
    Fut: Future<Output = Result<Output, ClientError>>,
{
    let client = match AdminClient::from_env(&common.admin_url) {
        Ok(c) => c,
        Err(e) => return fail(&e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let ctx = Ctx {
        client,
        json: common.json,
    };
    match runtime.block_on(f(ctx)) {
        Ok(out) => {
            // A closed pipe (`| head`) is not an error worth a panic.
            let mut stdout = std::io::stdout().lock();
            let _ = stdout.write_all(out.text.as_bytes());
            let _ = stdout.flush();
            if let Some(note) = out.note {
                eprintln!("{note}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e),
    }
}

fn fail(e: &ClientError) -> ExitCode {
    eprintln!("error: {e}");
    ExitCode::FAILURE
}

/// What a command prints: `text` on stdout, then `note` on stderr.
pub struct Output {
    /// The table or JSON document.
    pub text: String,
    /// A hint for the human (e.g. "more exist").
    pub note: Option<String>,
}

impl From<String> for Output {
    fn from(text: String) -> Self {
        Output { text, note: None }
    }
}

/// A raw JSON body as one output document.
pub fn raw(body: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(body).trim_end().to_owned();
    s.push('\n');
    s
}

/// A list read from the API: its items (typed and as sent) and where it
/// stopped.
pub struct Listing<T> {
    /// Typed items, for tables.
    pub items: Vec<T>,
    /// `--json` output: the single page's body unchanged, or the merged
    /// pages of `--all`.
    pub json: String,
    /// Set when more items exist than were read.
    pub next_cursor: Option<String>,
}

/// Reads a list at `path` with `params`: one page, or with `all` every page.
pub async fn list<T: DeserializeOwned>(
    ctx: &Ctx,
    path: &str,
    params: &[(&str, Option<&str>)],
    paging: &Paging,
) -> Result<Listing<T>, ClientError> {
    let limit = paging
        .limit
        .or(paging.all.then_some(MAX_PAGE))
        .map(|n| n.to_string());
    let mut raw_items: Vec<Value> = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut q: Vec<(&str, Option<&str>)> = params.to_vec();
        q.push(("limit", limit.as_deref()));
        q.push(("cursor", cursor.as_deref()));
        let url = with_query(path, &q);
        let body = ctx.client.get(&url).await?;
        let page: hookgate_admin::api::Page<Value> = ctx.client.parse(&url, &body)?;
        let next = page.next_cursor;
        if !paging.all {
            let items = typed(ctx, &url, page.items)?;
            return Ok(Listing {
                items,
                json: raw(&body),
                next_cursor: next,
            });
        }
        raw_items.extend(page.items);
        match next {
            None => break,
            Some(c) if cursor.as_deref() == Some(c.as_str()) => {
                return Err(ClientError::BadAnswer {
                    url: format!("{}{url}", ctx.client.base()),
                    detail: "the same next_cursor twice".to_owned(),
                });
            }
            Some(c) => cursor = Some(c),
        }
    }
    let json = serde_json::json!({ "items": raw_items, "next_cursor": null });
    let items = typed(ctx, path, raw_items)?;
    Ok(Listing {
        items,
        json: format!("{json}\n"),
        next_cursor: None,
    })
}

fn typed<T: DeserializeOwned>(
    ctx: &Ctx,
    url: &str,
    items: Vec<Value>,
) -> Result<Vec<T>, ClientError> {
    items
        .into_iter()
        .map(|v| {
            serde_json::from_value(v).map_err(|e| ClientError::BadAnswer {
                url: format!("{}{url}", ctx.client.base()),
                detail: format!("an item is not the expected JSON: {e}"),
            })
        })
        .collect()
}

/// A list's output: `--json` as read, else the table (or `empty` when it
/// has no row) with a hint on stderr when more items exist.
pub fn finish<T>(ctx: &Ctx, listing: Listing<T>, t: &table::Table, empty: &str) -> Output {
    if ctx.json {
        return listing.json.into();
    }
    let text = if t.is_empty() {
        format!("{empty}\n")
    } else {
        t.render()
    };
    let note = listing.next_cursor.is_some().then(|| {
        format!(
            "({} shown; more exist: add --all to read every page)",
            listing.items.len()
        )
    });
    Output { text, note }
}

/// An optional value for a cell (`-` when absent).
pub fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "-".to_owned(), ToString::to_string)
}

/// How many subscription ids a "--subscription is required" error names.
const NAMED: usize = 10;

/// `--subscription` as given, or the only subscription this token sees
/// (a one-subscription deployment need not name it); otherwise an error
/// naming the ones it sees.
pub async fn subscription_or_only(ctx: &Ctx, given: Option<String>) -> Result<String, ClientError> {
    if let Some(id) = given {
        return Ok(id);
    }
    let url = format!("/admin/v1/subscriptions?limit={NAMED}");
    let body = ctx.client.get(&url).await?;
    let page: hookgate_admin::api::Page<hookgate_admin::api::SubscriptionView> =
        ctx.client.parse(&url, &body)?;
    let mut seen: Vec<String> = page.items.into_iter().map(|s| s.id).collect();
    if seen.len() == 1 && page.next_cursor.is_none() {
        return Ok(seen.remove(0));
    }
    Err(ClientError::NeedSubscription {
        seen,
        more: page.next_cursor.is_some(),
    })
}
