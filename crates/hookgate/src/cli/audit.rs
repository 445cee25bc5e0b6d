//! `hookgate audit`: the append-only log of mutating admin calls (admin
//! tokens only).

use super::table::Table;
use super::{Common, Paging, finish};
use clap::Args;
use hookgate_admin::api::AuditView;
use serde_json::Value;
use std::process::ExitCode;

/// `hookgate audit [--limit N] [--all]`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    #[command(flatten)]
    paging: Paging,
}

/// Runs `hookgate audit`.
pub fn run(common: &Common, args: AuditArgs) -> ExitCode {
    super::run(common, |ctx| async move {
        let listing = super::list::<AuditView>(&ctx, "/admin/v1/audit", &[], &args.paging).await?;
        let mut t = Table::new(&[
            "AT",
            "ACTOR",
            "ROLE",
            "ACTION",
            "TARGET",
            "COUNT",
            "REQUEST_ID",
            "FILTER",
        ]);
        for r in &listing.items {
            t.row([
                r.at.clone(),
                r.actor.clone(),
                r.role.clone(),
                r.action.clone(),
                r.target.clone(),
                r.count.to_string(),
                r.request_id.clone(),
                compact(&r.filter),
            ]);
        }
        Ok(finish(&ctx, listing, &t, "the audit log is empty"))
    })
}

/// The filter as one line of JSON without its null fields.
fn compact(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Object(m) => {
            let kept: serde_json::Map<String, Value> = m
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            if kept.is_empty() {
                String::new()
            } else {
                Value::Object(kept).to_string()
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::compact;
    use serde_json::json;

    #[test]
    fn filters_drop_nulls() {
        assert_eq!(compact(&json!(null)), "");
        assert_eq!(
            compact(&json!({"event_ids": null, "filter": {"type": "a.*"}})),
            r#"{"filter":{"type":"a.*"}}"#
        );
        assert_eq!(compact(&json!({"event_ids": null})), "");
    }
}
