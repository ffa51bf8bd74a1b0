//! Reporting (reference §3.8), generated from the simulator's own settled state: report
//! downloads — the Payment Batch Detail report as CSV and the Transaction Request report as
//! XML — and the on-demand JSON views purchase-refund details and net funding.
//!
//! A daily report for day D is fetched with `reportDate` = D + 1 (its end date) and exists
//! once that date has come. The sandbox's fee schedule, for funding figures: 2.90 % + 0.30
//! per purchase, nothing on refunds.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use axum::Extension;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};

use super::ledger::{Kind, Transaction};
use super::wire::{hal, now_utc, utc};
use super::{CybersourceSandbox, Merchant};

/// A report subscription: the name merchants download it by, and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportSubscription {
    pub name: String,
    /// `PaymentBatchDetailClass` (CSV) or `TransactionRequestClass` (XML).
    pub definition: String,
}

pub fn default_subscriptions() -> Vec<ReportSubscription> {
    vec![
        ReportSubscription {
            name: "PaymentBatchDetailReport".into(),
            definition: "PaymentBatchDetailClass".into(),
        },
        ReportSubscription {
            name: "TransactionRequestReport".into(),
            definition: "TransactionRequestClass".into(),
        },
    ]
}

/// A refusal in the reporting API's shape: `details` (required on a 400) names each field at
/// fault with its reason.
fn problem(status: StatusCode, reason: &str, message: &str, fields: &[&str]) -> Response {
    let details: Vec<serde_json::Value> = fields
        .iter()
        .map(|field| json!({"field": field, "reason": reason}))
        .collect();
    hal(
        status,
        json!({"submitTimeUtc": now_utc(), "reason": reason, "message": message, "details": details}),
    )
}

/// A CSV field: quoted when it holds a comma, a quote or a line break; quotes doubled.
fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

fn xml_escape(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ymd(date: Date) -> String {
    date.format(format_description!("[year]-[month]-[day]"))
        .unwrap_or_default()
}

/// Settled money movements (captures, sales, refunds, credits) in a settlement-date range.
fn settled(
    transactions: &[Transaction],
    merchant_id: &str,
    from: Date,
    to_exclusive: Date,
) -> Vec<Transaction> {
    transactions
        .iter()
        .filter(|t| t.merchant_id == merchant_id && !t.voided)
        .filter(|t| {
            t.batch_date
                .as_deref()
                .and_then(|d| Date::parse(d, format_description!("[year]-[month]-[day]")).ok())
                .is_some_and(|d| d >= from && d < to_exclusive)
        })
        .cloned()
        .collect()
}

/// The Payment Batch Detail report (CSV, CRLF): what went out for settlement on `day`.
pub fn payment_batch_detail(transactions: &[Transaction], merchant_id: &str, day: Date) -> String {
    let mut out = String::new();
    let span = ymd(day);
    let _ = write!(
        out,
        "Payment Batch Detail Report,1.0,{span} to {span},,,,,,,\r\n"
    );
    out.push_str("batch_id,merchant_id,batch_date,request_id,merchant_ref_number,trans_ref_no,payment_method,currency,amount,transaction_type\r\n");
    for t in settled(
        transactions,
        merchant_id,
        day,
        day.next_day().unwrap_or(day),
    ) {
        let (amount, kind) = match t.kind {
            Kind::Authorization if t.sale => (t.captured, "ics_bill"),
            Kind::Authorization => continue,
            Kind::Capture => (t.amount, "ics_bill"),
            Kind::Refund | Kind::Credit => (-t.amount, "ics_credit"),
            Kind::Reversal | Kind::Void => continue,
        };
        let fields = [
            t.batch_id.clone().unwrap_or_default(),
            t.merchant_id.clone(),
            t.batch_date.clone().unwrap_or_default(),
            t.id.clone(),
            t.merchant_reference.clone(),
            t.reconciliation_id.clone(),
            super::cards::card_name(t.card_type.as_deref()).to_string(),
            t.currency.clone(),
            amount.to_string(),
            kind.to_string(),
        ];
        let row: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&row.join(","));
        out.push_str("\r\n");
    }
    out
}

/// The Transaction Request report (XML): every request submitted on `day`.
pub fn transaction_request_report(
    transactions: &[Transaction],
    merchant_id: &str,
    day: Date,
) -> String {
    let start = OffsetDateTime::new_utc(day, Time::MIDNIGHT);
    let end = start + time::Duration::days(1);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?>\r\n");
    let _ = write!(
        out,
        "<Report Name=\"Transaction Request\" Version=\"1.0\" xmlns=\"https://ebc.cybersource.com/ebc/reports/dtd/tdr_1_17.dtd\" MerchantID=\"{}\" ReportStartDate=\"{}\" ReportEndDate=\"{}\">\r\n<Requests>\r\n",
        xml_escape(merchant_id),
        utc(start),
        utc(end)
    );
    for t in transactions.iter().filter(|t| {
        t.merchant_id == merchant_id
            && t.submitted_at >= start.unix_timestamp()
            && t.submitted_at < end.unix_timestamp()
    }) {
        let ok = t.reason.is_none();
        let _ = write!(
            out,
            "<Request RequestID=\"{}\" RequestDate=\"{}\" MerchantReferenceNumber=\"{}\" TransactionReferenceNumber=\"{}\">\r\n",
            t.id,
            t.submit_time_utc,
            xml_escape(&t.merchant_reference),
            t.reconciliation_id
        );
        if let Some(bill_to) = &t.bill_to {
            out.push_str("<BillTo>");
            for (element, field) in [
                ("FirstName", "firstName"),
                ("LastName", "lastName"),
                ("Address1", "address1"),
                ("City", "locality"),
                ("State", "administrativeArea"),
                ("Zip", "postalCode"),
                ("Country", "country"),
                ("Email", "email"),
            ] {
                if let Some(value) = bill_to[field].as_str() {
                    let _ = write!(out, "<{element}>{}</{element}>", xml_escape(value));
                }
            }
            out.push_str("</BillTo>\r\n");
        }
        if let Some(suffix) = &t.card_suffix {
            let _ = write!(
                out,
                "<PaymentMethod><Card><AccountSuffix>{suffix}</AccountSuffix><CardType>{}</CardType></Card></PaymentMethod>\r\n",
                super::cards::card_name(t.card_type.as_deref())
            );
        }
        out.push_str("<ApplicationReplies>");
        let mut applications = vec![t.kind.application()];
        if t.kind == Kind::Authorization && t.sale {
            applications.push("ics_bill");
        }
        for name in applications {
            let _ = write!(
                out,
                "<ApplicationReply Name=\"{name}\"><RCode>{}</RCode><RFlag>{}</RFlag><RMsg>{}</RMsg></ApplicationReply>",
                if ok { "1" } else { "0" },
                if ok { "SOK" } else { "DCARDREFUSED" },
                if ok {
                    "Request was processed successfully."
                } else {
                    "The request was declined."
                }
            );
        }
        out.push_str("</ApplicationReplies>\r\n");
        let _ = write!(
            out,
            "<PaymentData><PaymentRequestID>{}</PaymentRequestID><PaymentProcessor>smartfdc</PaymentProcessor><Amount>{}</Amount><CurrencyCode>{}</CurrencyCode><AuthorizationCode>{}</AuthorizationCode></PaymentData>\r\n",
            t.root_id,
            t.amount,
            t.currency,
            if ok && t.kind == Kind::Authorization {
                "888888"
            } else {
                ""
            }
        );
        out.push_str("</Request>\r\n");
    }
    out.push_str("</Requests>\r\n</Report>\r\n");
    out
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct DownloadQuery {
    report_date: Option<String>,
    report_name: Option<String>,
    organization_id: Option<String>,
}

pub(super) async fn download(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Query(query): Query<DownloadQuery>,
) -> Response {
    let (Some(date), Some(name)) = (query.report_date.as_deref(), query.report_name.as_deref())
    else {
        let missing: Vec<&str> = [
            ("reportDate", &query.report_date),
            ("reportName", &query.report_name),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_none())
        .map(|(name, _)| name)
        .collect();
        return problem(
            StatusCode::BAD_REQUEST,
            "MISSING_FIELD",
            "reportDate and reportName are required",
            &missing,
        );
    };
    if query
        .organization_id
        .as_deref()
        .is_some_and(|org| org != merchant.0)
    {
        return problem(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "organizationId is not this merchant",
            &["organizationId"],
        );
    }
    let Ok(end) = Date::parse(date, format_description!("[year]-[month]-[day]")) else {
        return problem(
            StatusCode::BAD_REQUEST,
            "INVALID_DATA",
            "reportDate must be yyyy-mm-dd",
            &["reportDate"],
        );
    };
    let Some(subscription) = sandbox
        .inner
        .config
        .report_subscriptions
        .iter()
        .find(|s| s.name == name)
        .cloned()
    else {
        return problem(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "No report subscription with this name",
            &[],
        );
    };
    let today = OffsetDateTime::now_utc().date();
    let ready_until = if sandbox.inner.config.reports_ready_same_day {
        today.next_day().unwrap_or(today)
    } else {
        today
    };
    if end > ready_until {
        return problem(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "The report for this date has not been generated yet",
            &[],
        );
    }
    let day = end.previous_day().unwrap_or(end);
    let transactions = sandbox.ledger().all().to_vec();
    let (body, content_type) = if subscription.definition == "TransactionRequestClass" {
        (
            transaction_request_report(&transactions, &merchant.0, day),
            "application/xml",
        )
    } else {
        (
            payment_batch_detail(&transactions, &merchant.0, day),
            "text/csv",
        )
    };
    let mut response = (StatusCode::OK, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RangeQuery {
    start_time: Option<String>,
    end_time: Option<String>,
    offset: Option<usize>,
    limit: Option<usize>,
}

/// The `startTime`/`endTime` window, or why it is not one.
/// Why a report query was refused: the reason, the message and the field at fault.
type Refused = (&'static str, String, &'static str);

fn range(query: &RangeQuery) -> Result<(OffsetDateTime, OffsetDateTime), Refused> {
    let parse = |v: &Option<String>, name: &'static str| match v.as_deref() {
        None => Err(("MISSING_FIELD", format!("{name} is required"), name)),
        Some(v) => OffsetDateTime::parse(v, &Rfc3339).map_err(|_| {
            (
                "INVALID_DATA",
                format!("{name} must be an ISO 8601 time"),
                name,
            )
        }),
    };
    Ok((
        parse(&query.start_time, "startTime")?,
        parse(&query.end_time, "endTime")?,
    ))
}

fn fee(amount: Decimal) -> Decimal {
    (amount * Decimal::new(29, 3) + Decimal::new(30, 2))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero)
}

/// Settled money movements submitted in a time range, with the amount they moved (negative
/// for money back to the customer).
fn movements(
    transactions: &[Transaction],
    merchant_id: &str,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> Vec<(Transaction, Decimal)> {
    transactions
        .iter()
        .filter(|t| t.merchant_id == merchant_id && t.batch_id.is_some() && !t.voided)
        .filter(|t| t.submitted_at >= from.unix_timestamp() && t.submitted_at < to.unix_timestamp())
        .filter_map(|t| match t.kind {
            Kind::Authorization if t.sale => Some((t.clone(), t.captured)),
            Kind::Authorization => None,
            Kind::Capture => Some((t.clone(), t.amount)),
            Kind::Refund | Kind::Credit => Some((t.clone(), -t.amount)),
            Kind::Reversal | Kind::Void => None,
        })
        .collect()
}

pub(super) async fn purchase_refund_details(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Query(query): Query<RangeQuery>,
) -> Response {
    let (from, to) = match range(&query) {
        Ok(r) => r,
        Err((reason, message, field)) => {
            return problem(StatusCode::BAD_REQUEST, reason, &message, &[field]);
        }
    };
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(2000).clamp(1, 2000);
    let all = movements(sandbox.ledger().all(), &merchant.0, from, to);
    let page: Vec<&(Transaction, Decimal)> = all.iter().skip(offset).take(limit).collect();
    let mut request_details = Vec::new();
    let mut settlements = Vec::new();
    let mut fees = Vec::new();
    let mut statuses = Vec::new();
    for (t, amount) in &page {
        request_details.push(json!({"requestId": t.id, "cybersourceMerchantId": t.merchant_id, "processorMerchantId": "000111222",
                                    "groupName": t.merchant_id, "transactionReferenceNumber": t.reconciliation_id,
                                    "merchantReferenceNumber": t.merchant_reference}));
        settlements.push(json!({"requestId": t.id, "transactionType": if *amount < Decimal::ZERO { "Refund" } else { "Purchase" },
                                "submissionTime": t.submit_time_utc, "amount": amount.abs().to_string(), "currencyCode": t.currency,
                                "paymentMethod": super::cards::card_name(t.card_type.as_deref()), "walletType": "", "paymentType": "Credit Card",
                                "accountSuffix": t.card_suffix, "cybersourceBatchTime": format!("{}T23:59:59Z", t.batch_date.clone().unwrap_or_default()),
                                "cybersourceBatchId": t.batch_id, "cardType": super::cards::card_name(t.card_type.as_deref()), "debitNetwork": ""}));
        let charged = if *amount > Decimal::ZERO {
            fee(*amount)
        } else {
            Decimal::ZERO
        };
        fees.push(json!({"requestId": t.id, "interchangePerItemFee": "0.00", "interchangeDescription": "sandbox schedule",
                         "interchangePercentage": "0.00", "interchangePercentageAmount": "0.00",
                         "discountPercentage": "2.90", "discountAmount": charged.to_string(), "discountPerItemFee": "0.30",
                         "totalFee": charged.to_string(), "feeCurrency": t.currency, "duesAssessments": "0.00",
                         "fundingAmount": (*amount - charged).to_string(), "fundingCurrency": t.currency}));
        statuses.push(json!({"requestId": t.id, "status": "Settled", "settlementTime": format!("{}T23:59:59Z", t.batch_date.clone().unwrap_or_default()),
                             "reasonCode": "100", "errorText": ""}));
    }
    hal(
        StatusCode::OK,
        json!({"offset": offset, "limit": limit, "pageResults": page.len(), "requestDetails": request_details, "settlements": settlements,
               "authorizations": [], "feeAndFundingDetails": fees, "others": [], "settlementStatuses": statuses}),
    )
}

pub(super) async fn net_fundings(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Query(query): Query<RangeQuery>,
) -> Response {
    let (from, to) = match range(&query) {
        Ok(r) => r,
        Err((reason, message, field)) => {
            return problem(StatusCode::BAD_REQUEST, reason, &message, &[field]);
        }
    };
    #[derive(Default)]
    struct Totals {
        purchases: Decimal,
        purchase_count: i64,
        refunds: Decimal,
        refund_count: i64,
        fees: Decimal,
    }
    let mut by_currency: BTreeMap<String, Totals> = BTreeMap::new();
    for (t, amount) in movements(sandbox.ledger().all(), &merchant.0, from, to) {
        let totals = by_currency.entry(t.currency.clone()).or_default();
        if amount > Decimal::ZERO {
            totals.purchases += amount;
            totals.purchase_count += 1;
            totals.fees += fee(amount);
        } else {
            totals.refunds += -amount;
            totals.refund_count += 1;
        }
    }
    let each = |f: &dyn Fn(&Totals) -> Decimal| -> Vec<Value> {
        by_currency
            .iter()
            .map(|(c, t)| json!({"currency": c, "value": f(t).to_string()}))
            .collect()
    };
    let mut summaries = Vec::new();
    for (currency, t) in &by_currency {
        summaries.push(json!({"type": "Purchases", "paymentSubType": "VI", "conveyedCount": t.purchase_count, "conveyedAmount": t.purchases.to_string(),
                              "settledCount": t.purchase_count, "fundedCount": t.purchase_count, "fundedAmount": (t.purchases - t.fees).to_string(), "currencyCode": currency}));
        summaries.push(json!({"type": "Refunds", "paymentSubType": "VI", "conveyedCount": t.refund_count, "conveyedAmount": t.refunds.to_string(),
                              "settledCount": t.refund_count, "fundedCount": t.refund_count, "fundedAmount": (-t.refunds).to_string(), "currencyCode": currency}));
    }
    hal(
        StatusCode::OK,
        json!({
            "startTime": utc(from), "endTime": utc(to),
            "netFundingSummaries": summaries,
            "totalPurchases": each(&|t| t.purchases),
            "totalRefunds": each(&|t| t.refunds),
            "totalFees": each(&|t| t.fees),
            "totalChargebacks": each(&|_| Decimal::ZERO),
            "netTotal": each(&|t| t.purchases - t.refunds - t.fees),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_only_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }

    #[test]
    fn fees_follow_the_sandbox_schedule() {
        assert_eq!(fee(Decimal::new(10000, 2)), Decimal::new(320, 2));
        assert_eq!(fee(Decimal::new(1000, 2)), Decimal::new(59, 2));
    }
}
