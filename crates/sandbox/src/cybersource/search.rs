//! Transaction Search Service: `GET /tss/v2/transactions/{id}`, `POST /tss/v2/searches`,
//! `GET /tss/v2/searches/{searchId}` (reference §3.5).
//!
//! The query language is the subset the reference suggests: `field:value` terms joined by
//! `AND`, on `id`, `rootId`, `merchantId`, `clientReferenceInformation.code`,
//! `clientReferenceInformation.transactionId` and `submitTimeUtc` — the last also as a range
//! `[from TO to}` (`[`/`]` inclusive, `{`/`}` exclusive) of ISO times or `NOW` expressions
//! (`NOW/DAY-7DAYS`, `NOW+1HOUR`, …).

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, Time};

use super::ledger::{Kind, Transaction};
use super::wire::{Refusal, hal, now_utc};
use super::{CybersourceSandbox, Merchant};

/// A search term.
#[derive(Debug, Clone, PartialEq)]
enum Term {
    Equals(String, String),
    TimeRange {
        from: i64,
        from_inclusive: bool,
        to: i64,
        to_inclusive: bool,
    },
}

fn parse_instant(text: &str, now: OffsetDateTime) -> Option<i64> {
    let text = text.trim().trim_matches('"');
    if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(at.unix_timestamp());
    }
    let rest = text.strip_prefix("NOW")?;
    let mut at = now;
    let mut rest = rest;
    if let Some(after) = rest.strip_prefix("/DAY") {
        at = at.replace_time(Time::MIDNIGHT);
        rest = after;
    }
    while !rest.is_empty() {
        let sign: i64 = match rest.as_bytes()[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let digits: String = rest[1..].chars().take_while(char::is_ascii_digit).collect();
        let n: i64 = digits.parse().ok()?;
        let after_digits = &rest[1 + digits.len()..];
        let unit: String = after_digits
            .chars()
            .take_while(char::is_ascii_alphabetic)
            .collect();
        let step = match unit.as_str() {
            "DAY" | "DAYS" => Duration::days(n),
            "HOUR" | "HOURS" => Duration::hours(n),
            "MINUTE" | "MINUTES" => Duration::minutes(n),
            "SECOND" | "SECONDS" => Duration::seconds(n),
            _ => return None,
        };
        at = if sign > 0 { at + step } else { at - step };
        rest = &after_digits[unit.len()..];
    }
    Some(at.unix_timestamp())
}

fn parse_query(query: &str, now: OffsetDateTime) -> Result<Vec<Term>, String> {
    let mut terms = Vec::new();
    for part in query.split(" AND ") {
        let part = part.trim();
        let (field, value) = part
            .split_once(':')
            .ok_or_else(|| format!("{part:?} is not field:value"))?;
        let value = value.trim();
        if field == "submitTimeUtc" && (value.starts_with('[') || value.starts_with('{')) {
            let from_inclusive = value.starts_with('[');
            let to_inclusive = value.ends_with(']');
            let inner = &value[1..value.len().saturating_sub(1)];
            let (from, to) = inner
                .split_once(" TO ")
                .ok_or_else(|| format!("{value:?} is not a range"))?;
            let from = parse_instant(from, now).ok_or_else(|| format!("{from:?} is not a time"))?;
            let to = parse_instant(to, now).ok_or_else(|| format!("{to:?} is not a time"))?;
            terms.push(Term::TimeRange {
                from,
                from_inclusive,
                to,
                to_inclusive,
            });
        } else {
            match field {
                "id"
                | "rootId"
                | "merchantId"
                | "clientReferenceInformation.code"
                | "clientReferenceInformation.transactionId" => {
                    terms.push(Term::Equals(
                        field.to_string(),
                        value.trim_matches('"').to_string(),
                    ));
                }
                other => return Err(format!("searching by {other} is not supported")),
            }
        }
    }
    Ok(terms)
}

fn matches(t: &Transaction, terms: &[Term]) -> bool {
    terms.iter().all(|term| match term {
        Term::Equals(field, value) => match field.as_str() {
            "id" => &t.id == value,
            "rootId" => &t.root_id == value,
            "merchantId" => &t.merchant_id == value,
            "clientReferenceInformation.code" => &t.merchant_reference == value,
            _ => t.transaction_id.as_deref() == Some(value.as_str()),
        },
        Term::TimeRange {
            from,
            from_inclusive,
            to,
            to_inclusive,
        } => {
            let at = t.submitted_at;
            (if *from_inclusive {
                at >= *from
            } else {
                at > *from
            }) && (if *to_inclusive { at <= *to } else { at < *to })
        }
    })
}

/// The legacy reason code of a transaction's outcome.
fn reason_code(t: &Transaction) -> &'static str {
    match t.reason.as_deref() {
        None => "100",
        Some("INSUFFICIENT_FUND") => "204",
        Some("EXPIRED_CARD") => "202",
        Some("STOLEN_LOST_CARD") => "205",
        Some("CONTACT_PROCESSOR") => "201",
        Some("INVALID_ACCOUNT") => "231",
        Some("INVALID_MERCHANT_CONFIGURATION") => "234",
        Some("DECISION_PROFILE_REVIEW") => "480",
        Some("DECISION_PROFILE_REJECT") => "481",
        Some(_) => "203",
    }
}

fn application(name: &str, ok: bool, code: &str, reconciliation_id: &str) -> Value {
    json!({"name": name, "reasonCode": code, "rCode": if ok { "1" } else { "0" },
           "rFlag": if ok { "SOK" } else { "DCARDREFUSED" },
           "reconciliationId": reconciliation_id,
           "rMessage": if ok { "Request was processed successfully." } else { "The request was declined." },
           "returnCode": if ok { "1010000" } else { "1020000" }})
}

/// The status Transaction Search reports: a sale (authorized and captured in one request) is
/// reported by its capture's status — `PENDING` until it is batched, `TRANSMITTED` after
/// (reference §3.4's capture statuses; observed for sales found after a lost answer) — never
/// `AUTHORIZED`. A client that reads only `AUTHORIZED` as approved would call a charged sale a
/// decline.
fn searched_status(t: &Transaction) -> &str {
    if t.kind == Kind::Authorization && t.sale && t.status == "AUTHORIZED" && !t.voided {
        if t.batch_id.is_some() {
            "TRANSMITTED"
        } else {
            "PENDING"
        }
    } else {
        &t.status
    }
}

/// `applicationInformation` as TSS reports it, with the legacy ICS application names.
fn application_information(t: &Transaction) -> Value {
    let code = reason_code(t);
    let ok =
        code == "100" || t.status.starts_with("AUTHORIZED") || t.status == "PARTIAL_AUTHORIZED";
    let mut applications = Vec::new();
    if t.risk.is_some() {
        let flag = if t.status == "AUTHORIZED_PENDING_REVIEW" {
            "DREVIEW"
        } else {
            "DREJECT"
        };
        applications.push(
            json!({"name": "ics_decision", "reasonCode": code, "rCode": "0", "rFlag": flag,
                                 "rMessage": "Decision Manager flagged the order."}),
        );
    }
    applications.push(application(
        t.kind.application(),
        ok,
        code,
        &t.reconciliation_id,
    ));
    if t.kind == Kind::Authorization && t.parent_id.is_none() && t.sale {
        applications.push(application("ics_bill", true, "100", &t.reconciliation_id));
    }
    json!({"status": searched_status(t), "reasonCode": code, "rCode": if ok { "1" } else { "0" },
           "rFlag": if ok { "SOK" } else { "DCARDREFUSED" }, "applications": applications})
}

fn card(t: &Transaction) -> Value {
    let mut card = json!({"suffix": t.card_suffix, "type": t.card_type});
    if let Some((month, year)) = &t.card_expiration {
        card["expirationMonth"] = json!(month);
        card["expirationYear"] = json!(year);
    }
    card
}

fn amount_details(t: &Transaction) -> Value {
    let mut details = json!({"totalAmount": t.amount.to_string(), "currency": t.currency});
    if t.kind == Kind::Authorization {
        details["authorizedAmount"] = json!(t.authorized.to_string());
    }
    details
}

fn detail(t: &Transaction, chain: &[&Transaction]) -> Value {
    let mut reference = json!({"code": t.merchant_reference});
    if let Some(tid) = &t.transaction_id {
        reference["transactionId"] = json!(tid);
    }
    let related: Vec<Value> = chain
        .iter()
        .filter(|other| other.id != t.id)
        .map(|other| json!({"href": format!("/tss/v2/transactions/{}", other.id), "method": "GET"}))
        .collect();
    // A review payment was authorized: its details keep the approval. A decline carries the
    // processor's own code, as its payment answer did.
    let approved = if t.kind == Kind::Authorization {
        t.authorized > rust_decimal::Decimal::ZERO
    } else {
        t.reason.is_none()
    };
    let response_code = match &t.processor_code {
        Some(code) => code.as_str(),
        None if approved => "100",
        None => "005",
    };
    let mut body = json!({
        "id": t.id,
        "rootId": t.root_id,
        "reconciliationId": t.reconciliation_id,
        "merchantId": t.merchant_id,
        "status": searched_status(t),
        "submitTimeUTC": t.submit_time_utc,
        "applicationInformation": application_information(t),
        "clientReferenceInformation": reference,
        "orderInformation": {"amountDetails": amount_details(t), "billTo": t.bill_to.clone().unwrap_or_else(|| json!({}))},
        "paymentInformation": {"card": card(t), "paymentType": {"name": "smartpay", "type": "credit card"}},
        "processingInformation": {"commerceIndicator": "internet"},
        "processorInformation": {"processor": {"name": "smartfdc"}, "transactionId": "123456789619999",
                                 "approvalCode": if approved { "888888" } else { "" },
                                 "responseCode": response_code},
        "_links": {"self": {"href": format!("/tss/v2/transactions/{}", t.id), "method": "GET"}, "relatedTransactions": related},
    });
    if let Some(risk) = &t.risk {
        body["riskInformation"] = risk.clone();
    }
    if let Some(reason) = &t.reason {
        body["errorInformation"] = json!({"reason": reason});
    }
    body
}

fn summary(t: &Transaction) -> Value {
    let bill_to = t.bill_to.clone().unwrap_or_else(|| json!({}));
    json!({
        "id": t.id,
        "submitTimeUtc": t.submit_time_utc,
        "merchantId": t.merchant_id,
        "applicationInformation": application_information(t),
        "clientReferenceInformation": {"code": t.merchant_reference, "applicationName": "REST API"},
        "orderInformation": {"amountDetails": amount_details(t),
                             "billTo": {"firstName": bill_to["firstName"], "lastName": bill_to["lastName"], "email": bill_to["email"]}},
        "paymentInformation": {"card": card(t), "paymentType": {"name": "smartpay", "type": "credit card"}},
        "processorInformation": {"processor": {"name": "smartfdc"}},
        "pointOfSaleInformation": {"terminalId": "111111"},
        "_links": {"transactionDetail": {"href": format!("/tss/v2/transactions/{}", t.id), "method": "GET"}},
    })
}

pub(super) async fn transaction(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
) -> Response {
    let ledger = sandbox.ledger();
    let Some(t) = ledger.get(&merchant.0, &id) else {
        drop(ledger);
        return hal(
            StatusCode::NOT_FOUND,
            json!({"submitTimeUtc": now_utc(), "status": "NOT_FOUND", "reason": "NOT_FOUND",
                   "message": "The requested resource does not exist"}),
        );
    };
    let body = detail(t, &ledger.chain(&t.root_id));
    drop(ledger);
    hal(StatusCode::OK, body)
}

pub(super) async fn create_search(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    let query = request["query"]
        .as_str()
        .unwrap_or_default()
        .trim()
        .to_string();
    if query.is_empty() {
        return sandbox.refuse(&Refusal::new("MISSING_FIELD").field("query", "MISSING_FIELD"));
    }
    let terms = match parse_query(&query, OffsetDateTime::now_utc()) {
        Ok(terms) => terms,
        Err(problem) => {
            return sandbox.refuse(
                &Refusal::with_message("INVALID_DATA", format!("Declined - {problem}"))
                    .field("query", "INVALID_DATA"),
            );
        }
    };
    let offset = usize::try_from(request["offset"].as_u64().unwrap_or(0)).unwrap_or(0);
    let limit = usize::try_from(request["limit"].as_u64().unwrap_or(20)).unwrap_or(20);
    if !(1..=2500).contains(&limit) {
        return sandbox.refuse(&Refusal::new("INVALID_DATA").field("limit", "INVALID_DATA"));
    }
    let sort = request["sort"]
        .as_str()
        .unwrap_or("submitTimeUtc:desc")
        .to_string();
    let mut found: Vec<Transaction> = sandbox
        .ledger()
        .all()
        .iter()
        .filter(|t| t.merchant_id == merchant.0 && matches(t, &terms))
        .cloned()
        .collect();
    for key in sort.split(',').rev() {
        let (field, direction) = key.split_once(':').unwrap_or((key, "asc"));
        let descending = direction.trim().eq_ignore_ascii_case("desc");
        match field.trim() {
            "id" => found.sort_by(|a, b| a.id.cmp(&b.id)),
            _ => found.sort_by_key(|t| t.submitted_at),
        }
        if descending {
            found.reverse();
        }
    }
    let total = found.len();
    let page: Vec<Value> = found.iter().skip(offset).take(limit).map(summary).collect();
    let search_id = uuid::Uuid::new_v4().to_string();
    let answer = json!({
        "searchId": search_id,
        "save": request["save"].as_bool().unwrap_or(false),
        "name": request["name"].as_str().unwrap_or_default(),
        "timezone": request["timezone"].as_str().unwrap_or("UTC"),
        "query": query,
        "offset": offset,
        "limit": limit,
        "sort": sort,
        "count": page.len(),
        "totalCount": total,
        "status": "COMPLETED",
        "submitTimeUtc": now_utc(),
        "_embedded": {"transactionSummaries": page},
        "_links": {"self": {"href": format!("/tss/v2/searches/{search_id}"), "method": "GET"}},
    });
    sandbox.remember_search(&merchant.0, &search_id, answer.clone());
    hal(StatusCode::CREATED, answer)
}

pub(super) async fn get_search(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(search_id): Path<String>,
) -> Response {
    match sandbox.search(&merchant.0, &search_id) {
        Some(answer) => hal(StatusCode::OK, answer),
        None => hal(
            StatusCode::NOT_FOUND,
            json!({"submitTimeUtc": now_utc(), "status": "NOT_FOUND", "reason": "NOT_FOUND",
                   "message": "The requested search does not exist"}),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn now_expressions_do_date_math() {
        let now = datetime!(2026-11-25 15:30:00 UTC);
        assert_eq!(parse_instant("NOW", now), Some(now.unix_timestamp()));
        assert_eq!(
            parse_instant("NOW/DAY", now),
            Some(datetime!(2026-11-25 0:00 UTC).unix_timestamp())
        );
        assert_eq!(
            parse_instant("NOW/DAY-7DAYS", now),
            Some(datetime!(2026-11-18 0:00 UTC).unix_timestamp())
        );
        assert_eq!(
            parse_instant("NOW/DAY+1DAY", now),
            Some(datetime!(2026-11-26 0:00 UTC).unix_timestamp())
        );
        assert_eq!(
            parse_instant("NOW-2HOURS", now),
            Some(datetime!(2026-11-25 13:30 UTC).unix_timestamp())
        );
        assert_eq!(
            parse_instant("2026-11-01T00:00:00Z", now),
            Some(datetime!(2026-11-01 0:00 UTC).unix_timestamp())
        );
        assert_eq!(parse_instant("yesterday", now), None);
    }

    #[test]
    fn queries_parse_terms_and_ranges() {
        let now = datetime!(2026-11-25 15:30:00 UTC);
        let terms = parse_query("clientReferenceInformation.code:TC50171_3 AND submitTimeUtc:[NOW/DAY-7DAYS TO NOW/DAY+1DAY}", now).unwrap();
        assert_eq!(
            terms[0],
            Term::Equals("clientReferenceInformation.code".into(), "TC50171_3".into())
        );
        assert!(matches!(
            terms[1],
            Term::TimeRange {
                from_inclusive: true,
                to_inclusive: false,
                ..
            }
        ));
        assert!(parse_query("orderInformation.billTo.email:x", now).is_err());
    }
}
