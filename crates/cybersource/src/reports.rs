//! Reporting (reference §3.8): report downloads parsed into typed rows — the Payment Batch
//! Detail report (CSV) and the Transaction Request report (XML) — and the on-demand
//! purchase-refund details and net funding. Reconciliation joins these with Zoho on the request
//! id (the transaction id) and the merchant reference.

use std::collections::HashMap;

use http::Method;
use quick_xml::Reader;
use quick_xml::events::Event;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::client::Client;
use crate::error::Error;

/// Why a report could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportError {
    #[error("the report has no {0:?} column")]
    MissingColumn(&'static str),
    #[error("line {line}: {problem}")]
    BadRow { line: usize, problem: String },
    #[error("the report is not well-formed: {0}")]
    Malformed(String),
}

/// Splits CSV text into records (RFC 4180: quoted fields, doubled quotes, CRLF or LF).
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, ReportError> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut line = 1;
    while let Some(ch) = chars.next() {
        if in_quotes {
            match ch {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                other => {
                    if other == '\n' {
                        line += 1;
                    }
                    field.push(other);
                }
            }
            continue;
        }
        match ch {
            '"' if field.is_empty() => in_quotes = true,
            ',' => record.push(std::mem::take(&mut field)),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
                line += 1;
            }
            other => field.push(other),
        }
    }
    if in_quotes {
        return Err(ReportError::BadRow {
            line,
            problem: "a quoted field is not closed".into(),
        });
    }
    if !field.is_empty() || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// A row of the Payment Batch Detail report: one capture, sale or credit sent for settlement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchDetailRow {
    pub batch_id: String,
    pub merchant_id: String,
    pub batch_date: String,
    /// The transaction id.
    pub request_id: String,
    pub merchant_ref_number: String,
    /// The reconciliation id, matched by the processor and the bank.
    pub trans_ref_no: String,
    pub payment_method: String,
    pub currency: String,
    /// Negative for credits (money back to the customer).
    pub amount: Decimal,
    /// `ics_bill` or `ics_credit`.
    pub transaction_type: String,
}

/// Parses the Payment Batch Detail CSV: a title line, a header line, then rows. Columns are
/// found by name, so added or reordered columns do no harm.
pub fn parse_payment_batch_detail(text: &str) -> Result<Vec<BatchDetailRow>, ReportError> {
    let records = parse_csv(text.trim_start_matches('\u{feff}'))?;
    let header_at = records
        .iter()
        .position(|r| r.iter().any(|f| f == "request_id"))
        .ok_or(ReportError::MissingColumn("request_id"))?;
    let columns: HashMap<&str, usize> = records[header_at]
        .iter()
        .enumerate()
        .map(|(i, name)| (name.as_str(), i))
        .collect();
    let column = |name: &'static str| {
        columns
            .get(name)
            .copied()
            .ok_or(ReportError::MissingColumn(name))
    };
    let (
        batch_id,
        merchant_id,
        batch_date,
        request_id,
        mrn,
        trans_ref,
        method,
        currency,
        amount,
        kind,
    ) = (
        column("batch_id")?,
        column("merchant_id")?,
        column("batch_date")?,
        column("request_id")?,
        column("merchant_ref_number")?,
        column("trans_ref_no")?,
        column("payment_method")?,
        column("currency")?,
        column("amount")?,
        column("transaction_type")?,
    );
    let mut rows = Vec::new();
    for (offset, record) in records.iter().enumerate().skip(header_at + 1) {
        if record.iter().all(|f| f.is_empty()) {
            continue;
        }
        let line = offset + 1;
        let get = |i: usize| {
            record.get(i).cloned().ok_or_else(|| ReportError::BadRow {
                line,
                problem: "too few fields".into(),
            })
        };
        let raw_amount = get(amount)?;
        rows.push(BatchDetailRow {
            batch_id: get(batch_id)?,
            merchant_id: get(merchant_id)?,
            batch_date: get(batch_date)?,
            request_id: get(request_id)?,
            merchant_ref_number: get(mrn)?,
            trans_ref_no: get(trans_ref)?,
            payment_method: get(method)?,
            currency: get(currency)?,
            amount: raw_amount.trim().parse().map_err(|_| ReportError::BadRow {
                line,
                problem: format!("amount {raw_amount:?} is not a decimal"),
            })?,
            transaction_type: get(kind)?,
        });
    }
    Ok(rows)
}

/// One application reply of a request (`ics_auth`, `ics_bill`, …).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplicationReply {
    pub name: String,
    pub r_code: String,
    pub r_flag: String,
}

/// A request of the Transaction Request report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRow {
    pub request_id: String,
    pub request_date: String,
    pub merchant_reference_number: String,
    pub transaction_reference_number: String,
    pub account_suffix: Option<String>,
    pub card_type: Option<String>,
    pub applications: Vec<ApplicationReply>,
    pub payment_request_id: Option<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
}

impl RequestRow {
    /// Whether an application of this name ran and succeeded.
    pub fn succeeded(&self, application: &str) -> bool {
        self.applications
            .iter()
            .any(|a| a.name == application && a.r_code == "1")
    }
}

fn attribute(start: &quick_xml::events::BytesStart<'_>, name: &str) -> Option<String> {
    start
        .attributes()
        .flatten()
        .find(|a| a.key.as_ref() == name)
        .and_then(|a| {
            a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .ok()
                .map(|v| v.into_owned())
        })
}

/// Parses the Transaction Request report's `<Request>` elements.
pub fn parse_transaction_request_report(text: &str) -> Result<Vec<RequestRow>, ReportError> {
    let mut reader = Reader::from_str(text);
    let mut rows = Vec::new();
    let mut current: Option<RequestRow> = None;
    let mut value = String::new();
    loop {
        match reader
            .read_event()
            .map_err(|e| ReportError::Malformed(e.to_string()))?
        {
            Event::Start(start) => {
                let name = start.local_name().as_ref().to_string();
                match name.as_str() {
                    "Request" => {
                        current = Some(RequestRow {
                            request_id: attribute(&start, "RequestID").unwrap_or_default(),
                            request_date: attribute(&start, "RequestDate").unwrap_or_default(),
                            merchant_reference_number: attribute(&start, "MerchantReferenceNumber")
                                .unwrap_or_default(),
                            transaction_reference_number: attribute(
                                &start,
                                "TransactionReferenceNumber",
                            )
                            .unwrap_or_default(),
                            ..RequestRow::default()
                        });
                    }
                    "ApplicationReply" => {
                        if let Some(row) = current.as_mut() {
                            row.applications.push(ApplicationReply {
                                name: attribute(&start, "Name").unwrap_or_default(),
                                ..ApplicationReply::default()
                            });
                        }
                    }
                    _ => {}
                }
                value.clear();
            }
            Event::Text(text) => value.push_str(&text.xml10_content()),
            Event::GeneralRef(reference) => {
                let entity = format!("&{};", reference.xml10_content());
                value.push_str(
                    &quick_xml::escape::unescape(&entity)
                        .map(|v| v.into_owned())
                        .unwrap_or(entity),
                );
            }
            Event::End(end) => {
                let name = end.local_name().as_ref().to_string();
                if let Some(row) = current.as_mut() {
                    let text = value.trim().to_string();
                    match name.as_str() {
                        "AccountSuffix" => row.account_suffix = Some(text),
                        "CardType" => row.card_type = Some(text),
                        "PaymentRequestID" => row.payment_request_id = Some(text),
                        "CurrencyCode" => row.currency = Some(text),
                        "Amount" => {
                            row.amount = Some(text.parse().map_err(|_| {
                                ReportError::Malformed(format!(
                                    "amount {text:?} of {}",
                                    row.request_id
                                ))
                            })?);
                        }
                        "RCode" => {
                            if let Some(reply) = row.applications.last_mut() {
                                reply.r_code = text;
                            }
                        }
                        "RFlag" => {
                            if let Some(reply) = row.applications.last_mut() {
                                reply.r_flag = text;
                            }
                        }
                        "Request" => rows.extend(current.take()),
                        _ => {}
                    }
                }
                value.clear();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    Ok(rows)
}

/// `GET /reporting/v3/purchase-refund-details` (the parts reconciliation reads).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PurchaseRefundDetails {
    #[serde(default)]
    pub offset: u32,
    #[serde(default)]
    pub limit: u32,
    #[serde(default)]
    pub page_results: u32,
    #[serde(default)]
    pub request_details: Vec<RequestDetail>,
    #[serde(default)]
    pub settlements: Vec<Settlement>,
    #[serde(default)]
    pub fee_and_funding_details: Vec<FeeAndFunding>,
    #[serde(default)]
    pub settlement_statuses: Vec<SettlementStatus>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestDetail {
    pub request_id: String,
    #[serde(default)]
    pub transaction_reference_number: Option<String>,
    #[serde(default)]
    pub merchant_reference_number: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settlement {
    pub request_id: String,
    #[serde(default)]
    pub transaction_type: Option<String>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub amount: Option<Decimal>,
    #[serde(default)]
    pub currency_code: Option<String>,
    #[serde(default)]
    pub account_suffix: Option<String>,
    #[serde(default)]
    pub cybersource_batch_id: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeeAndFunding {
    pub request_id: String,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub total_fee: Option<Decimal>,
    #[serde(default)]
    pub fee_currency: Option<String>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub funding_amount: Option<Decimal>,
    #[serde(default)]
    pub funding_currency: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SettlementStatus {
    pub request_id: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason_code: Option<String>,
}

/// `GET /reporting/v3/net-fundings`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetFunding {
    #[serde(default)]
    pub net_funding_summaries: Vec<NetFundingSummary>,
    #[serde(default)]
    pub total_purchases: Vec<CurrencyAmount>,
    #[serde(default)]
    pub total_refunds: Vec<CurrencyAmount>,
    #[serde(default)]
    pub total_fees: Vec<CurrencyAmount>,
    #[serde(default)]
    pub total_chargebacks: Vec<CurrencyAmount>,
    #[serde(default)]
    pub net_total: Vec<CurrencyAmount>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetFundingSummary {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub conveyed_count: u64,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub conveyed_amount: Option<Decimal>,
    #[serde(default)]
    pub funded_count: u64,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    pub funded_amount: Option<Decimal>,
    #[serde(default)]
    pub currency_code: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct CurrencyAmount {
    pub currency: String,
    #[serde(with = "rust_decimal::serde::str")]
    pub value: Decimal,
}

fn iso(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap_or_default()
}

impl Client {
    /// A report file as it is (`reportDate` is the report's end date, `yyyy-mm-dd`).
    pub async fn download_report(
        &self,
        report_date: &str,
        report_name: &str,
    ) -> Result<Vec<u8>, Error> {
        let answer = self
            .send_with(
                Method::GET,
                "/reporting/v3/report-downloads",
                &[("reportDate", report_date), ("reportName", report_name)],
                None,
                &[("accept", "application/xml, text/csv".to_string())],
            )
            .await?;
        Ok(answer.body.to_vec())
    }

    /// A Payment Batch Detail report, parsed.
    pub async fn payment_batch_detail(
        &self,
        report_date: &str,
        report_name: &str,
    ) -> Result<Vec<BatchDetailRow>, Error> {
        let bytes = self.download_report(report_date, report_name).await?;
        parse_payment_batch_detail(&String::from_utf8_lossy(&bytes)).map_err(|e| {
            Error::UnexpectedResponse {
                status: 200,
                problem: e.to_string(),
                excerpt: crate::client::excerpt(&bytes),
                write: false,
            }
        })
    }

    /// A Transaction Request report, parsed.
    pub async fn transaction_requests(
        &self,
        report_date: &str,
        report_name: &str,
    ) -> Result<Vec<RequestRow>, Error> {
        let bytes = self.download_report(report_date, report_name).await?;
        parse_transaction_request_report(&String::from_utf8_lossy(&bytes)).map_err(|e| {
            Error::UnexpectedResponse {
                status: 200,
                problem: e.to_string(),
                excerpt: crate::client::excerpt(&bytes),
                write: false,
            }
        })
    }

    pub async fn purchase_refund_details(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<PurchaseRefundDetails, Error> {
        let (from, to) = (iso(from), iso(to));
        Ok(self
            .get_json(
                "/reporting/v3/purchase-refund-details",
                &[("startTime", &from), ("endTime", &to)],
            )
            .await?
            .0)
    }

    pub async fn net_fundings(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> Result<NetFunding, Error> {
        let (from, to) = (iso(from), iso(to));
        Ok(self
            .get_json(
                "/reporting/v3/net-fundings",
                &[("startTime", &from), ("endTime", &to)],
            )
            .await?
            .0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_documented_batch_detail_example_parses() {
        let csv = "Payment Batch Detail Report,1.0,2003-05-01 to 2003-05-01,,,,,,,\r\nbatch_id,merchant_id,batch_date,request_id,merchant_ref_number,trans_ref_no,payment_method,currency,amount,transaction_type\r\n123456,CyberSource,2003-05-01,0004172180000167905139,45CBBDE3378A553,5652882910,Visa,USD,100.00,ics_bill\r\n123456,CyberSource,2003-05-01,0004172180000167905140,\"REF, WITH COMMA\",5652882911,Visa,USD,-20.00,ics_credit\r\n";
        let rows = parse_payment_batch_detail(csv).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].request_id, "0004172180000167905139");
        assert_eq!(rows[0].amount, Decimal::new(10000, 2));
        assert_eq!(rows[1].merchant_ref_number, "REF, WITH COMMA");
        assert_eq!(rows[1].amount, Decimal::new(-2000, 2));
        assert_eq!(
            parse_payment_batch_detail("a,b\r\n1,2\r\n"),
            Err(ReportError::MissingColumn("request_id"))
        );
    }

    #[test]
    fn transaction_request_xml_parses() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<Report Name="Transaction Request" Version="1.0" xmlns="https://ebc.cybersource.com/ebc/reports/dtd/tdr_1_17.dtd" MerchantID="m">
<Requests>
<Request RequestID="1" RequestDate="2026-11-24T10:00:00Z" MerchantReferenceNumber="A &amp; B" TransactionReferenceNumber="R1">
<BillTo><FirstName>Ada</FirstName></BillTo>
<PaymentMethod><Card><AccountSuffix>1111</AccountSuffix><CardType>Visa</CardType></Card></PaymentMethod>
<ApplicationReplies><ApplicationReply Name="ics_auth"><RCode>1</RCode><RFlag>SOK</RFlag><RMsg>ok</RMsg></ApplicationReply><ApplicationReply Name="ics_bill"><RCode>1</RCode><RFlag>SOK</RFlag></ApplicationReply></ApplicationReplies>
<PaymentData><PaymentRequestID>1</PaymentRequestID><Amount>102.21</Amount><CurrencyCode>USD</CurrencyCode></PaymentData>
</Request>
</Requests>
</Report>"#;
        let rows = parse_transaction_request_report(xml).unwrap();
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.merchant_reference_number, "A & B");
        assert!(row.succeeded("ics_auth") && row.succeeded("ics_bill"));
        assert_eq!(row.amount, Some(Decimal::new(10221, 2)));
        assert_eq!(row.account_suffix.as_deref(), Some("1111"));
        // A bad amount inside a request is an error, not a silent zero.
        assert!(parse_transaction_request_report("<Report><Requests><Request RequestID=\"1\"><Amount>x</Amount></Request></Requests></Report>").is_err());
    }

    fn quote(field: &str) -> String {
        if field.contains([',', '"', '\r', '\n']) {
            format!("\"{}\"", field.replace('"', "\"\""))
        } else {
            field.to_string()
        }
    }

    proptest! {
        #[test]
        fn csv_records_round_trip(records in proptest::collection::vec(proptest::collection::vec("[ -~\r\n]{0,12}", 1..6), 1..8)) {
            let text: String = records.iter().map(|r| r.iter().map(|f| quote(f)).collect::<Vec<_>>().join(",") + "\r\n").collect();
            let parsed = parse_csv(&text).unwrap();
            // A record of one empty field is written as an empty line, which reads back the same.
            prop_assert_eq!(parsed, records);
        }

        #[test]
        fn the_csv_parser_never_panics(text in "\\PC{0,300}") {
            let _ = parse_csv(&text);
            let _ = parse_payment_batch_detail(&text);
        }

        #[test]
        fn the_xml_parser_never_panics(text in "\\PC{0,300}") {
            let _ = parse_transaction_request_report(&text);
        }
    }
}
