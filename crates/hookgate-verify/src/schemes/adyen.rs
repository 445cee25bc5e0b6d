//! `scheme = "adyen"`: Adyen standard notification webhooks (payments),
//! byte-exact with Adyen's official libraries' `HMACValidator`
//! (Adyen/adyen-java-api-library `util/HMACValidator.java`,
//! Adyen/adyen-node-api-library `src/utils/hmacValidator.ts`,
//! Adyen/adyen-go-api-library `src/hmacvalidator/hmacvalidator.go`,
//! Adyen/adyen-ruby-api-library `lib/adyen/utils/hmac_validator.rb`).
//!
//! The body is a batch, `{"live":"false","notificationItems":[{"NotificationRequestItem":{...}}, ...]}`,
//! and every item carries its own signature in
//! `additionalData.hmacSignature`: standard base64 of HMAC-SHA256, keyed
//! with the HMAC key from the Customer Area (configured as HEX, decoded at
//! start), over the item's fields joined by `:` in this order:
//! `pspReference`, `originalReference`, `merchantAccountCode`,
//! `merchantReference`, `amount.value`, `amount.currency`, `eventCode`,
//! `success`. Absent (or `null`) string fields sign as empty strings. No
//! escaping: the libraries escape `\` and `:` only in the *other* data-to-sign
//! form (sorted key/value maps, for hosted payment pages), never in
//! notification items.
//!
//! The batch is all or nothing (docs/ingest.md): every item is verified and the
//! worst item decides, by the fixed precedence `missing` > `malformed` >
//! `mismatch`. There is no timestamp (Adyen signs none), so never `stale`.
//!
//! Where the libraries disagree the stricter verdict wins (docs/schemes.md); each
//! case is one Adyen never produces, so no real notification is refused:
//! - no `amount` object: node throws, Java signs `::`, Go signs `0:`.
//!   `malformed`. An `amount` without `value`: Java and node sign an empty
//!   string, Go `0`. `malformed`.
//! - `amount.value` must be a JSON integer that every library formats the
//!   same way: Go and Java refuse fractions (`1130.0`, `1e3`) and strings,
//!   node's number formatting changes past 2^53. Otherwise `malformed`.
//! - `success` must be the string `"true"` or `"false"`: Java parses it to a
//!   boolean (`"TRUE"` and `"yes"` re-sign as `true`/`false`, absent as
//!   `false`), node and Go sign it verbatim (absent as empty), Go refuses a
//!   JSON boolean. Otherwise `malformed`.
//! - the other signed fields must be strings when present (Java would turn
//!   a number into its text, Go refuses it). Otherwise `malformed`.
//! - the signature is compared as the exact base64 string (Java, Go, Ruby;
//!   node compares the decoded bytes after a length check, so it would take
//!   a variant with different padding bits). A value that is not our base64
//!   simply mismatches; no library treats it as an error.
//! - a signed field given twice in one object (`"success"` twice) is
//!   `malformed`: the libraries keep the last one, a subscriber's parser
//!   might keep the first and act on a value nobody verified.
//!
//! Body-level faults: not JSON (or not UTF-8, or not an object) is
//! `malformed`; `notificationItems` absent, `null` or empty is `missing`
//! (nothing is signed); an entry without a `NotificationRequestItem` object
//! is `malformed`; an item without `additionalData.hmacSignature` (or with
//! an empty one) is `missing`, as the libraries' "Missing hmacSignature".
//!
//! Extraction: each item is one event. `provider_event_id` =
//! `{pspReference}:{eventCode}:{success}` (docs/ingest.md), `provider_type` =
//! `eventCode`, `time` = `eventDate` (verbatim when RFC 3339), `subject` =
//! `pspReference` — Adyen's id of the payment or modification; the
//! merchant's own `merchantReference` stays in the data — and the data is
//! the `NotificationRequestItem` object exactly as sent. The answer is the
//! `[accepted]` body Adyen requires.

use super::common;
use crate::{Ack, PayloadError, ProviderEvent, RawRequest, Rejection, Scheme, SchemeError};
use base64::Engine as _;
use hookgate_config::SourceConfig;
use hookgate_core::Secret;
use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::time::Duration;

/// The scheme's name in the config.
pub const NAME: &str = "adyen";
/// Adyen retries for up to 30 days; the window outlasts that (docs/ingest.md).
pub const DEFAULT_DEDUP_WINDOW: Duration = Duration::from_secs(35 * 24 * 3600);
/// The acknowledgement Adyen requires (otherwise it retries the batch).
pub const ACK: Ack = Ack::Fixed {
    content_type: "text/plain",
    body: "[accepted]",
};

/// The largest integer every library formats the same way (node's numbers
/// are IEEE doubles: `Number.MAX_SAFE_INTEGER`).
const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// An Adyen source, checked at start.
#[derive(Debug)]
pub struct Params {
    /// Decoded HMAC keys; several during a rotation.
    keys: Vec<Secret>,
}

impl Params {
    /// Builds from the source's config: every secret must be a HEX HMAC key
    /// (the error names `secrets[i]`, never the value).
    pub fn from_source(source: &SourceConfig) -> Result<Self, SchemeError> {
        common::reject_unused_keys(source, NAME)?;
        Ok(Params {
            keys: decode_keys(source, NAME)?,
        })
    }
}

/// The source's secrets as Adyen HMAC keys: hex (either case) of a
/// non-empty key, as in the Customer Area. Shared with
/// `adyen-hmac-header`, which uses the same keys.
pub(crate) fn decode_keys(source: &SourceConfig, scheme: &str) -> Result<Vec<Secret>, SchemeError> {
    let secrets = common::require_secrets(source, scheme)?;
    let mut keys = Vec::with_capacity(secrets.len());
    for (i, secret) in secrets.iter().enumerate() {
        let key = decode_key(secret.expose()).ok_or_else(|| {
            common::scheme_error(
                source,
                format!("secrets[{i}]"),
                "not an Adyen HMAC key: expected the key's hex digits as shown in the Customer Area",
            )
        })?;
        keys.push(key);
    }
    Ok(keys)
}

/// Hex (upper or lower case, even length) → the key; `None` otherwise.
/// Java's `Hex.decodeHex` refuses odd lengths and non-hex digits; node's
/// `Buffer.from(hex)` silently truncates there, which would verify with a
/// different key than the one configured, so it fails closed here.
pub fn decode_key(raw: &[u8]) -> Option<Secret> {
    let key = hex::decode(raw).ok()?;
    (!key.is_empty()).then(|| Secret::new(key))
}

impl Scheme for Params {
    fn verify(&self, req: &RawRequest<'_>, _now_unix: i64) -> Result<(), Rejection> {
        verify(self, req)
    }

    fn extract<'a>(&self, req: &RawRequest<'a>) -> Result<Vec<ProviderEvent<'a>>, PayloadError> {
        extract(req)
    }

    fn ack(&self) -> Ack {
        ACK
    }

    fn default_dedup_window(&self) -> Duration {
        DEFAULT_DEDUP_WINDOW
    }
}

// === the body ===

/// The batch, with each entry kept as its raw JSON text.
#[derive(Deserialize)]
struct Batch<'a> {
    #[serde(rename = "notificationItems", borrow, default)]
    items: Option<Vec<&'a RawValue>>,
}

/// One `notificationItems` entry.
#[derive(Deserialize)]
struct Entry<'a> {
    #[serde(rename = "NotificationRequestItem", borrow, default)]
    item: Option<&'a RawValue>,
}

/// The fields of an item this scheme reads. A derived struct refuses a
/// field given twice, which is what keeps duplicated signed fields out.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    #[serde(borrow, default)]
    additional_data: Option<&'a RawValue>,
    #[serde(default)]
    psp_reference: Option<Value>,
    #[serde(default)]
    original_reference: Option<Value>,
    #[serde(default)]
    merchant_account_code: Option<Value>,
    #[serde(default)]
    merchant_reference: Option<Value>,
    #[serde(borrow, default)]
    amount: Option<&'a RawValue>,
    #[serde(default)]
    event_code: Option<Value>,
    #[serde(default)]
    success: Option<Value>,
}

#[derive(Deserialize)]
struct AdditionalData {
    #[serde(rename = "hmacSignature", default)]
    hmac_signature: Option<Value>,
}

#[derive(Deserialize)]
struct Amount {
    #[serde(default)]
    value: Option<Value>,
    #[serde(default)]
    currency: Option<Value>,
}

/// Parses a JSON *object* into `T`. serde's derived structs also accept
/// arrays (fields by position); Adyen never sends those, and a positional
/// `amount` would be forwarded in a shape nobody signed.
fn object<'a, T: Deserialize<'a>>(raw: &'a RawValue) -> Option<T> {
    if !raw.get().trim_start().starts_with('{') {
        return None;
    }
    serde_json::from_str(raw.get()).ok()
}

/// The raw entries of the batch (`None`: the body is not a JSON object
/// with a well-formed `notificationItems`).
fn entries(body: &[u8]) -> Option<Vec<&RawValue>> {
    let top: &RawValue = serde_json::from_slice(body).ok()?;
    let batch: Batch<'_> = object(top)?;
    Some(batch.items.unwrap_or_default())
}

/// The raw items of the batch; body-level faults as rejections.
fn items(body: &[u8]) -> Result<Vec<&RawValue>, Rejection> {
    let entries = entries(body).ok_or(Rejection::Malformed)?;
    if entries.is_empty() {
        return Err(Rejection::Missing);
    }
    entries
        .into_iter()
        .map(|raw| {
            object::<Entry<'_>>(raw)
                .and_then(|e| e.item)
                .filter(|item| item.get().starts_with('{'))
                .ok_or(Rejection::Malformed)
        })
        .collect()
}

// === verification ===

/// A signed string field: absent or `null` signs as `""`.
fn string_field(value: Option<&Value>) -> Result<&str, Rejection> {
    match value {
        None | Some(Value::Null) => Ok(""),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(Rejection::Malformed),
    }
}

/// The data-to-sign of an item (see the module docs for what is refused).
fn data_to_sign(item: &Item<'_>) -> Result<String, Rejection> {
    let amount: Amount = item.amount.and_then(object).ok_or(Rejection::Malformed)?;
    let value = match amount.value.as_ref().and_then(Value::as_i64) {
        Some(v) if (-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&v) => v.to_string(),
        _ => return Err(Rejection::Malformed),
    };
    let success = match item.success.as_ref() {
        Some(Value::String(s)) if s == "true" || s == "false" => s.as_str(),
        _ => return Err(Rejection::Malformed),
    };
    let parts = [
        string_field(item.psp_reference.as_ref())?,
        string_field(item.original_reference.as_ref())?,
        string_field(item.merchant_account_code.as_ref())?,
        string_field(item.merchant_reference.as_ref())?,
        &value,
        string_field(amount.currency.as_ref())?,
        string_field(item.event_code.as_ref())?,
        success,
    ];
    Ok(parts.join(":"))
}

/// The base64 HMAC-SHA256 of `data_to_sign` under the decoded `key`.
/// Public so test kits and benches sign exactly as the verifier checks.
pub fn sign(key: &[u8], data_to_sign: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(common::hmac_sha256(key, &[data_to_sign.as_bytes()]))
}

/// The `hmacSignature` of one `NotificationRequestItem` object under the
/// decoded `key`, or `None` when its fields cannot be signed unambiguously
/// (module docs). Public for test kits and benches.
pub fn sign_item(key: &[u8], item: &Value) -> Option<String> {
    let text = serde_json::to_string(item).ok()?;
    let raw: &RawValue = serde_json::from_str(&text).ok()?;
    let item: Item<'_> = object(raw)?;
    Some(sign(key, &data_to_sign(&item).ok()?))
}

/// Checks one item against every key.
fn verify_item(keys: &[Secret], raw: &RawValue) -> Result<(), Rejection> {
    let item: Item<'_> = object(raw).ok_or(Rejection::Malformed)?;
    let additional: Option<AdditionalData> = match item.additional_data {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) => Some(object(raw).ok_or(Rejection::Malformed)?),
    };
    let signature = match additional.as_ref().map(|a| &a.hmac_signature) {
        None | Some(None | Some(Value::Null)) => return Err(Rejection::Missing),
        Some(Some(Value::String(s))) if s.is_empty() => return Err(Rejection::Missing),
        Some(Some(Value::String(s))) => s,
        Some(Some(_)) => return Err(Rejection::Malformed),
    };
    let data = data_to_sign(&item)?;
    let expected = keys.iter().map(|key| sign(key.expose(), &data));
    if common::matches_any(expected, signature.as_bytes()) {
        Ok(())
    } else {
        Err(Rejection::Mismatch)
    }
}

/// Precedence rank: the lower, the more it wins.
fn rank(r: Rejection) -> u8 {
    match r {
        Rejection::Missing => 0,
        Rejection::Malformed => 1,
        Rejection::Mismatch => 2,
        Rejection::Stale => 3,
    }
}

/// Verifies every item of the batch; the worst item decides (docs/ingest.md, docs/schemes.md).
pub fn verify(params: &Params, req: &RawRequest<'_>) -> Result<(), Rejection> {
    let items = items(req.body)?;
    let mut worst: Option<Rejection> = None;
    // Every item is checked, even after a failure, so the reason follows
    // the precedence rather than the item order.
    for raw in items {
        if let Err(r) = verify_item(&params.keys, raw) {
            worst = Some(match worst {
                Some(w) if rank(w) <= rank(r) => w,
                _ => r,
            });
        }
    }
    worst.map_or(Ok(()), Err)
}

// === extraction ===

/// One event per item (module docs).
pub fn extract<'a>(req: &RawRequest<'a>) -> Result<Vec<ProviderEvent<'a>>, PayloadError> {
    let entries = entries(req.body).ok_or_else(|| {
        PayloadError(
            "body is not an Adyen notification (a JSON object with `notificationItems`)".into(),
        )
    })?;
    if entries.is_empty() {
        return Err(PayloadError(
            "field `notificationItems` is missing or empty".into(),
        ));
    }
    let mut events = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let raw = object::<Entry<'a>>(entry)
            .and_then(|e| e.item)
            .ok_or_else(|| {
                PayloadError(format!(
                    "notificationItems[{i}]: field `NotificationRequestItem` is missing"
                ))
            })?;
        let at = |e: PayloadError| PayloadError(format!("notificationItems[{i}]: {}", e.0));
        let obj = common::json_object(raw.get().as_bytes()).map_err(at)?;
        let psp = common::required_str(&obj, "pspReference").map_err(at)?;
        let event_code = common::required_str(&obj, "eventCode").map_err(at)?;
        let success = common::required_str(&obj, "success").map_err(at)?;
        let provider_event_id = common::event_id(
            format!("{psp}:{event_code}:{success}"),
            "pspReference:eventCode:success",
        )
        .map_err(at)?;
        events.push(ProviderEvent {
            provider_event_id,
            provider_type: event_code,
            time: common::rfc3339_or_none(obj.get("eventDate")),
            subject: Some(psp),
            data_json: Cow::Borrowed(raw.get().as_bytes()),
        });
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schemes::common::testing::{run_vectors, source};
    use serde_json::json;

    const KEY: &str = "DFB1EB5485895CFA84146406857104ABB4CBCABDC8AAF103A624C8F6A3EAAB00";

    /// The data-to-sign of an item given as a JSON value.
    fn data_of(item: &Value) -> Result<String, Rejection> {
        let text = item.to_string();
        let raw: &RawValue = serde_json::from_str(&text).unwrap();
        data_to_sign(&object::<Item<'_>>(raw).unwrap())
    }

    /// The libraries' published vectors as whole notifications; see the
    /// file's `source`.
    #[test]
    fn library_vectors() {
        run_vectors(
            NAME,
            include_str!("../../tests/vectors/adyen/adyen_libraries.json"),
        );
    }

    /// The data-to-sign and signatures the libraries' tests pin.
    #[test]
    fn sign_matches_published_vectors() {
        let key = decode_key(KEY.as_bytes()).unwrap();
        // adyen-go-api-library hmacvalidator_test.go "Get correct data to
        // sign" / "Get Valid HMAC".
        let go = json!({
            "pspReference": "pspReference", "originalReference": "originalReference",
            "merchantAccountCode": "merchantAccount", "merchantReference": "reference",
            "amount": {"value": 1000, "currency": "EUR"}, "eventCode": "EVENT",
            "success": "true", "eventDate": "1970-01-01T00:00:00Z", "reason": "reason",
            "paymentMethod": "VISA"
        });
        assert_eq!(
            data_of(&go).unwrap(),
            "pspReference:originalReference:merchantAccount:reference:1000:EUR:EVENT:true"
        );
        assert_eq!(
            sign_item(key.expose(), &go).unwrap(),
            "ipnxGCaUZ4l8TUW75a71/ghd2Fe5ffvX0pV4TLTntIc="
        );
        // adyen-php-api-library HmacSignatureTest (no originalReference).
        let php = json!({
            "pspReference": "7914073381342284", "merchantAccountCode": "TestMerchant",
            "merchantReference": "TestPayment-1407325143704",
            "amount": {"value": 1130, "currency": "EUR"}, "eventCode": "AUTHORISATION",
            "success": "true"
        });
        assert_eq!(
            data_of(&php).unwrap(),
            "7914073381342284::TestMerchant:TestPayment-1407325143704:1130:EUR:AUTHORISATION:true"
        );
        assert_eq!(
            sign_item(key.expose(), &php).unwrap(),
            "Ny9gS2veKo5E4w8/OL6xz1/wvT/hYkAXy1xNc/QvO4I="
        );
        // adyen-ruby-api-library hmac_validator_spec.rb, other key.
        let ruby = decode_key(b"44782DEF547AAA06C910C43932B1EB0C71FC68D9D0C057550C48EC2ACF6BA056")
            .unwrap();
        assert_eq!(
            sign_item(ruby.expose(), &php).unwrap(),
            "coqCmt/IZ4E3CzPvMY8zTjQVL5hYJUiBRg8UU+iCWo0="
        );
    }

    #[test]
    fn no_escaping_in_notification_items() {
        // Colons and backslashes are signed as they are (Java/node/Go/Ruby).
        let item = json!({
            "pspReference": "a:b", "merchantAccountCode": "Test:\\Merchant",
            "amount": {"value": 0, "currency": "EUR"}, "eventCode": "X", "success": "false"
        });
        assert_eq!(
            data_of(&item).unwrap(),
            "a:b::Test:\\Merchant::0:EUR:X:false"
        );
    }

    #[test]
    fn refused_shapes_are_malformed() {
        let base = json!({
            "pspReference": "p", "amount": {"value": 1, "currency": "EUR"},
            "eventCode": "E", "success": "true"
        });
        let with = |path: &[&str], v: Value| {
            let mut item = base.clone();
            let mut at = &mut item;
            for p in &path[..path.len() - 1] {
                at = at.get_mut(*p).unwrap();
            }
            match v {
                Value::Null => {
                    at.as_object_mut().unwrap().remove(path[path.len() - 1]);
                }
                v => at[path[path.len() - 1]] = v,
            }
            data_of(&item)
        };
        assert!(with(&["pspReference"], json!("q")).is_ok());
        assert!(with(&["originalReference"], Value::Null).is_ok());
        assert_eq!(
            with(&["amount", "currency"], Value::Null).unwrap(),
            "p::::1::E:true"
        );
        for (path, v) in [
            (&["amount"][..], Value::Null),
            (&["amount", "value"][..], Value::Null),
            (&["amount", "value"][..], json!(1.5)),
            (&["amount", "value"][..], json!(1130.0)),
            (&["amount", "value"][..], json!("1130")),
            (&["amount", "value"][..], json!(1_i64 << 53)),
            (&["success"][..], Value::Null),
            (&["success"][..], json!(true)),
            (&["success"][..], json!("TRUE")),
            (&["success"][..], json!("yes")),
            (&["pspReference"][..], json!(7)),
            (&["eventCode"][..], json!(["E"])),
            (&["amount"][..], json!([1, "EUR"])),
        ] {
            assert_eq!(
                with(path, v.clone()),
                Err(Rejection::Malformed),
                "{path:?} = {v}"
            );
        }
    }

    #[test]
    fn key_decoding() {
        assert_eq!(decode_key(b"0aFF").unwrap().expose(), &[0x0a, 0xff]);
        for bad in [&b""[..], b"abc", b"zz", b"0a ff", b"0aff\n"] {
            assert!(decode_key(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn build_fails_closed_without_echoing_the_secret() {
        let err = Params::from_source(&source(NAME, &[])).unwrap_err();
        assert_eq!(err.key, "secrets");
        let err = Params::from_source(&source(NAME, &[KEY, "not-hex-sekrit"])).unwrap_err();
        assert_eq!(err.key, "secrets[1]");
        assert!(!err.to_string().contains("sekrit"), "{err}");
        let mut src = source(NAME, &[KEY]);
        src.params.insert("header".into(), "x".into());
        assert_eq!(Params::from_source(&src).unwrap_err().key, "header");
    }

    #[test]
    fn debug_never_shows_a_key() {
        let params = Params::from_source(&source(NAME, &[KEY])).unwrap();
        let debug = format!("{params:?}");
        assert!(!debug.contains("DFB1"), "{debug}");
        assert!(!debug.contains("223"), "{debug}");
        assert!(debug.contains("REDACTED"));
    }

    #[test]
    fn extraction() {
        let body = br#"{"live":"false","notificationItems":[{"NotificationRequestItem":{"pspReference":"psp1","merchantReference":"m1","eventCode":"AUTHORISATION","success":"true","eventDate":"2019-06-28T18:03:50+01:00","amount":{"value":1,"currency":"EUR"}}},{"NotificationRequestItem":{"pspReference":"psp2","eventCode":"REFUND","success":"false","eventDate":"28/06/2019"}}]}"#;
        let headers = http::HeaderMap::new();
        let req = RawRequest {
            method: "POST",
            path_and_query: "/ingest/adyen",
            headers: &headers,
            body,
        };
        let events = extract(&req).unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].provider_event_id, "psp1:AUTHORISATION:true");
        assert_eq!(events[0].provider_type, "AUTHORISATION");
        assert_eq!(events[0].time.as_deref(), Some("2019-06-28T18:03:50+01:00"));
        assert_eq!(events[0].subject.as_deref(), Some("psp1"));
        assert!(
            events[0]
                .data_json
                .starts_with(br#"{"pspReference":"psp1""#)
        );
        assert!(events[0].data_json.ends_with(br#""currency":"EUR"}}"#));
        assert!(matches!(events[0].data_json, Cow::Borrowed(_)));
        assert_eq!(events[1].provider_event_id, "psp2:REFUND:false");
        assert_eq!(events[1].time, None);
        assert_eq!(
            Params::from_source(&source(NAME, &[KEY])).unwrap().ack(),
            ACK
        );
    }
}
