//! Follow-on transactions (reference §3.1, §3.4, §4.3): captures, refunds, credits, voids and
//! reversals, including the timeout reversal and timeout void that find their target by the
//! merchant's `clientReferenceInformation.transactionId`.

use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::ledger::{FollowOn, Kind, Transaction};
use super::payments::luhn;
use super::wire::{FieldCheck, Refusal, hal, text, utc};
use super::{CybersourceSandbox, Merchant};
use crate::ids;

const FOLLOW_ON_LIMITS: &[(&str, usize)] = &[
    ("clientReferenceInformation.code", 50),
    ("clientReferenceInformation.transactionId", 30),
];

/// Reads the common fields; `amount_path` is where this request carries its amount.
fn follow_on(
    merchant: &Merchant,
    body: &Bytes,
    amount_path: Option<&str>,
) -> Result<(Value, FollowOn), Refusal> {
    let request: Value = if body.is_empty() {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|_| Refusal::new("INVALID_DATA"))?
    };
    let mut check = FieldCheck::default();
    check.max_lengths(&request, FOLLOW_ON_LIMITS);
    let amount = amount_path.and_then(|path| check.amount(&request, path, false));
    let currency_path = amount_path.map(|p| p.replace("totalAmount", "currency"));
    let currency = currency_path.and_then(|path| check.currency(&request, &path, false));
    if let Some(refusal) = check.refusal() {
        return Err(refusal);
    }
    let follow_on = FollowOn {
        merchant_id: merchant.0.clone(),
        merchant_reference: text(&request, "clientReferenceInformation.code").map(str::to_string),
        transaction_id: text(&request, "clientReferenceInformation.transactionId")
            .map(str::to_string),
        amount,
        currency,
    };
    Ok((request, follow_on))
}

fn client_reference(t: &Transaction) -> Value {
    let mut reference = json!({"code": t.merchant_reference});
    if let Some(tid) = &t.transaction_id {
        reference["transactionId"] = json!(tid);
    }
    reference
}

fn link(method: &str, href: String) -> Value {
    json!({"method": method, "href": href})
}

/// The 201 body of a follow-on, in the shape its kind has (§3.4).
fn answer(t: &Transaction) -> Value {
    let id = &t.id;
    let amount = t.amount.to_string();
    let mut body = json!({
        "clientReferenceInformation": client_reference(t),
        "id": id,
        "status": t.status,
        "submitTimeUtc": t.submit_time_utc,
    });
    match t.kind {
        Kind::Capture => {
            body["_links"] = json!({"self": link("GET", format!("/pts/v2/captures/{id}")),
                                    "void": link("POST", format!("/pts/v2/captures/{id}/voids")),
                                    "refund": link("POST", format!("/pts/v2/captures/{id}/refunds"))});
            body["orderInformation"] =
                json!({"amountDetails": {"totalAmount": amount, "currency": t.currency}});
            body["reconciliationId"] = json!(t.reconciliation_id);
        }
        Kind::Refund => {
            body["_links"] = json!({"self": link("GET", format!("/pts/v2/refunds/{id}")),
                                    "void": link("POST", format!("/pts/v2/refunds/{id}/voids"))});
            body["refundAmountDetails"] = json!({"refundAmount": amount, "currency": t.currency});
            body["processorInformation"] =
                json!({"transactionId": "123456789619999", "responseCode": "100"});
            body["reconciliationId"] = json!(t.reconciliation_id);
        }
        Kind::Credit => {
            body["_links"] = json!({"self": link("GET", format!("/pts/v2/credits/{id}")),
                                    "void": link("POST", format!("/pts/v2/credits/{id}/voids"))});
            body["creditAmountDetails"] = json!({"creditAmount": amount, "currency": t.currency});
            body["processorInformation"] =
                json!({"transactionId": "123456789619999", "responseCode": "100"});
            body["reconciliationId"] = json!(t.reconciliation_id);
        }
        Kind::Reversal => {
            body["_links"] = json!({"self": link("GET", format!("/pts/v2/reversals/{id}"))});
            body["reversalAmountDetails"] =
                json!({"reversedAmount": amount, "currency": t.currency});
            body["processorInformation"] =
                json!({"transactionId": "123456789619999", "responseCode": "100"});
        }
        Kind::Void => {
            body["_links"] = json!({"self": link("GET", format!("/pts/v2/voids/{id}"))});
            body["voidAmountDetails"] = json!({"voidAmount": amount, "currency": t.currency});
        }
        Kind::Authorization => {}
    }
    body
}

impl CybersourceSandbox {
    pub(super) fn new_id(&self) -> String {
        ids::cybersource_transaction_id(&self.inner.sequence)
    }

    fn check_transaction_id(&self, request: &FollowOn) -> Result<(), Refusal> {
        match &request.transaction_id {
            Some(tid)
                if self.inner.config.unique_transaction_ids
                    && self
                        .ledger()
                        .transaction_id_taken(&request.merchant_id, tid) =>
            {
                Err(Refusal::new("INVALID_DATA")
                    .field("clientReferenceInformation.transactionId", "INVALID_DATA"))
            }
            _ => Ok(()),
        }
    }

    fn created(&self, transaction: &Transaction) -> Response {
        self.count_payment(
            &format!("{:?}:{}", transaction.kind, transaction.status).to_ascii_uppercase(),
        );
        // Follow-ons are notified like payments: `payments.refund.status.accepted`, … (§5.4).
        self.emit_transaction(transaction);
        hal(StatusCode::CREATED, answer(transaction))
    }

    fn respond(&self, result: Result<Transaction, Refusal>) -> Response {
        match result {
            Ok(transaction) => self.created(&transaction),
            Err(refusal) => self.refuse(&refusal),
        }
    }
}

macro_rules! attempt {
    ($sandbox:expr, $e:expr) => {
        match $e {
            Ok(value) => value,
            Err(refusal) => return $sandbox.refuse(&refusal),
        }
    };
}

pub(super) async fn capture(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (_, request) = attempt!(
        sandbox,
        follow_on(
            &merchant,
            &body,
            Some("orderInformation.amountDetails.totalAmount")
        )
    );
    attempt!(sandbox, sandbox.check_transaction_id(&request));
    let result = {
        let mut ledger = sandbox.ledger();
        ledger.check_capture(&id, &request).map(|auth_index| {
            let auth = ledger.all()[auth_index].clone();
            let amount = request.amount.unwrap_or_else(|| auth.capturable());
            let capture = Transaction::following(
                &auth,
                Kind::Capture,
                &request,
                amount,
                "PENDING",
                sandbox.new_id(),
            );
            ledger.record_capture(auth_index, capture)
        })
    };
    sandbox.respond(result)
}

async fn refund(
    sandbox: CybersourceSandbox,
    merchant: Merchant,
    id: String,
    of_capture: bool,
    body: Bytes,
) -> Response {
    let (_, request) = attempt!(
        sandbox,
        follow_on(
            &merchant,
            &body,
            Some("orderInformation.amountDetails.totalAmount")
        )
    );
    attempt!(sandbox, sandbox.check_transaction_id(&request));
    let result = {
        let mut ledger = sandbox.ledger();
        ledger
            .check_refund(&id, of_capture, &request)
            .map(|(target, root)| {
                let parent = ledger.all()[target].clone();
                let amount = request.amount.unwrap_or_default();
                let refund = Transaction::following(
                    &parent,
                    Kind::Refund,
                    &request,
                    amount,
                    "PENDING",
                    sandbox.new_id(),
                );
                ledger.record_refund(target, root, refund)
            })
    };
    sandbox.respond(result)
}

pub(super) async fn refund_payment(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    refund(sandbox, merchant, id, false, body).await
}

pub(super) async fn refund_capture(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    refund(sandbox, merchant, id, true, body).await
}

async fn void(
    sandbox: CybersourceSandbox,
    merchant: Merchant,
    id: String,
    kind: Kind,
    body: Bytes,
) -> Response {
    let (_, request) = attempt!(sandbox, follow_on(&merchant, &body, None));
    attempt!(sandbox, sandbox.check_transaction_id(&request));
    let result = {
        let mut ledger = sandbox.ledger();
        ledger.check_void(&id, kind, &merchant.0).map(|index| {
            let target = ledger.all()[index].clone();
            let amount = if kind == Kind::Authorization {
                target.captured
            } else {
                target.amount
            };
            let void = Transaction::following(
                &target,
                Kind::Void,
                &request,
                amount,
                "VOIDED",
                sandbox.new_id(),
            );
            ledger.record_void(index, void)
        })
    };
    sandbox.respond(result)
}

pub(super) async fn void_payment(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    void(sandbox, merchant, id, Kind::Authorization, body).await
}

pub(super) async fn void_capture(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    void(sandbox, merchant, id, Kind::Capture, body).await
}

pub(super) async fn void_refund(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    void(sandbox, merchant, id, Kind::Refund, body).await
}

pub(super) async fn void_credit(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    void(sandbox, merchant, id, Kind::Credit, body).await
}

pub(super) async fn reverse(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (_, request) = attempt!(
        sandbox,
        follow_on(
            &merchant,
            &body,
            Some("reversalInformation.amountDetails.totalAmount")
        )
    );
    attempt!(sandbox, sandbox.check_transaction_id(&request));
    let result = {
        let mut ledger = sandbox.ledger();
        ledger.check_reversal(&id, &request).map(|auth_index| {
            let auth = ledger.all()[auth_index].clone();
            let amount = request.amount.unwrap_or_default();
            let reversal = Transaction::following(
                &auth,
                Kind::Reversal,
                &request,
                amount,
                "REVERSED",
                sandbox.new_id(),
            );
            ledger.record_reversal(auth_index, reversal)
        })
    };
    sandbox.respond(result)
}

/// `POST /pts/v2/reversals`: reverses the authorization sent with this merchant transaction id
/// when its answer never came (§4.3). If no such authorization exists, there is nothing to
/// reverse and the answer says so with the original amount.
pub(super) async fn timeout_reversal(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let (request_body, mut request) = attempt!(
        sandbox,
        follow_on(
            &merchant,
            &body,
            Some("reversalInformation.amountDetails.totalAmount")
        )
    );
    let Some(tid) = request.transaction_id.take() else {
        return sandbox.refuse(
            &Refusal::new("MISSING_FIELD")
                .field("clientReferenceInformation.transactionId", "MISSING_FIELD"),
        );
    };
    let Some(amount) = request.amount else {
        return sandbox.refuse(&Refusal::new("MISSING_FIELD").field(
            "reversalInformation.amountDetails.totalAmount",
            "MISSING_FIELD",
        ));
    };
    let original = sandbox
        .ledger()
        .by_transaction_id(&merchant.0, &tid)
        .filter(|t| t.kind == Kind::Authorization)
        .cloned();
    match original {
        Some(auth) => {
            if auth.captured > Decimal::ZERO {
                return sandbox.refuse(&Refusal::with_message(
                    "NOT_SUPPORTED",
                    "Declined - The authorization was captured; send a timeout void instead.",
                ));
            }
            let result = {
                let mut ledger = sandbox.ledger();
                ledger.check_reversal(&auth.id, &request).map(|auth_index| {
                    let reversal = Transaction::following(
                        &auth,
                        Kind::Reversal,
                        &request,
                        amount,
                        "REVERSED",
                        sandbox.new_id(),
                    );
                    ledger.record_reversal(auth_index, reversal)
                })
            };
            sandbox.respond(result)
        }
        None => {
            let currency = request.currency.clone().unwrap_or_default();
            let code = text(&request_body, "clientReferenceInformation.code").unwrap_or_default();
            // One id, in the body and in its own link.
            let id = sandbox.new_id();
            hal(
                StatusCode::CREATED,
                json!({
                    "_links": {"self": link("GET", format!("/pts/v2/reversals/{id}"))},
                    "clientReferenceInformation": {"code": code, "transactionId": tid},
                    "id": id,
                    "reversalAmountDetails": {"originalTransactionAmount": amount.to_string(), "currency": currency},
                    "processorInformation": {"responseCode": "100"},
                    "status": "REVERSED",
                    "submitTimeUtc": utc(OffsetDateTime::now_utc()),
                }),
            )
        }
    }
}

/// `POST /pts/v2/voids`: voids the sale, capture, refund or credit sent with this merchant
/// transaction id when its answer never came (§4.3).
pub(super) async fn timeout_void(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let (_, mut request) = attempt!(sandbox, follow_on(&merchant, &body, None));
    let Some(tid) = request.transaction_id.take() else {
        return sandbox.refuse(
            &Refusal::new("MISSING_FIELD")
                .field("clientReferenceInformation.transactionId", "MISSING_FIELD"),
        );
    };
    let target = sandbox
        .ledger()
        .by_transaction_id(&merchant.0, &tid)
        .cloned();
    match target {
        Some(t)
            if matches!(
                t.kind,
                Kind::Authorization | Kind::Capture | Kind::Refund | Kind::Credit
            ) =>
        {
            void(sandbox, merchant, t.id, t.kind, Bytes::new()).await
        }
        _ => {
            let refusal = Refusal::new("INVALID_DATA")
                .field("clientReferenceInformation.transactionId", "INVALID_DATA");
            let mut body = refusal.body();
            body["id"] = json!(sandbox.new_id());
            sandbox.count_error(refusal.reason);
            hal(StatusCode::BAD_REQUEST, body)
        }
    }
}

/// `POST /pts/v2/credits`: money to a card without an earlier payment.
pub(super) async fn credit(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    let mut check = FieldCheck::default();
    check.max_lengths(&request, FOLLOW_ON_LIMITS);
    let mrn = check
        .text(&request, "clientReferenceInformation.code", true)
        .unwrap_or_default();
    let amount = check
        .amount(&request, "orderInformation.amountDetails.totalAmount", true)
        .unwrap_or_default();
    let currency = check
        .currency(&request, "orderInformation.amountDetails.currency", true)
        .unwrap_or_default();
    let number = check
        .text(&request, "paymentInformation.card.number", true)
        .unwrap_or_default();
    if !number.is_empty()
        && (!(12..=19).contains(&number.len())
            || !number.bytes().all(|b| b.is_ascii_digit())
            || !luhn(&number))
    {
        check.invalid.push("paymentInformation.card.number".into());
    }
    check.text(&request, "paymentInformation.card.expirationMonth", true);
    check.text(&request, "paymentInformation.card.expirationYear", true);
    if let Some(refusal) = check.refusal() {
        return sandbox.refuse(&refusal);
    }
    let request_fields = FollowOn {
        merchant_id: merchant.0.clone(),
        merchant_reference: Some(mrn.clone()),
        transaction_id: text(&request, "clientReferenceInformation.transactionId")
            .map(str::to_string),
        amount: Some(amount),
        currency: Some(currency.clone()),
    };
    attempt!(sandbox, sandbox.check_transaction_id(&request_fields));
    let now = OffsetDateTime::now_utc();
    let id = sandbox.new_id();
    let credit = Transaction {
        id: id.clone(),
        kind: Kind::Credit,
        merchant_id: merchant.0.clone(),
        merchant_reference: mrn,
        transaction_id: request_fields.transaction_id.clone(),
        parent_id: None,
        root_id: id,
        amount,
        authorized: Decimal::ZERO,
        currency,
        status: "PENDING".into(),
        reason: None,
        processor_code: None,
        submit_time_utc: utc(now),
        submitted_at: now.unix_timestamp(),
        reconciliation_id: ids::reconciliation_id(),
        card_type: None,
        card_suffix: Some(number[number.len().saturating_sub(4)..].to_string()),
        card_expiration: None,
        bill_to: request.pointer("/orderInformation/billTo").cloned(),
        risk: None,
        sale: false,
        captured: Decimal::ZERO,
        refunded: Decimal::ZERO,
        reversed: Decimal::ZERO,
        voided: false,
        batch_id: None,
        batch_date: None,
    };
    let credit = sandbox.ledger().insert(credit);
    sandbox.created(&credit)
}

/// `PATCH /pts/v2/payments/{id}`: an incremental authorization — more money on an authorization
/// not yet captured (`orderInformation.amountDetails.additionalAmount`). The original
/// authorization's amount grows, so one capture can take all of it; the increment is a
/// transaction of its own in the chain, answered with the amount it added.
pub(super) async fn increment(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (request_body, mut request) = attempt!(sandbox, follow_on(&merchant, &body, None));
    let mut check = FieldCheck::default();
    let additional = check.amount(
        &request_body,
        "orderInformation.amountDetails.additionalAmount",
        true,
    );
    request.currency = check.currency(
        &request_body,
        "orderInformation.amountDetails.currency",
        false,
    );
    if let Some(refusal) = check.refusal() {
        return sandbox.refuse(&refusal);
    }
    let Some(additional) = additional.filter(|a| *a > Decimal::ZERO) else {
        return sandbox.refuse(&Refusal::new("INVALID_AMOUNT").field(
            "orderInformation.amountDetails.additionalAmount",
            "INVALID_DATA",
        ));
    };
    attempt!(sandbox, sandbox.check_transaction_id(&request));
    let result = {
        let mut ledger = sandbox.ledger();
        ledger.check_increment(&id, &request).map(|index| {
            let auth = ledger.all()[index].clone();
            let mut increment = Transaction::following(
                &auth,
                Kind::Authorization,
                &request,
                additional,
                "AUTHORIZED",
                sandbox.new_id(),
            );
            increment.card_type = auth.card_type.clone();
            increment.card_suffix = auth.card_suffix.clone();
            ledger.record_increment(index, increment)
        })
    };
    match result {
        Ok(t) => {
            sandbox.count_payment("INCREMENT:AUTHORIZED");
            let mut reference = json!({"code": t.merchant_reference});
            if let Some(tid) = &t.transaction_id {
                reference["transactionId"] = json!(tid);
            }
            hal(
                StatusCode::CREATED,
                json!({
                    "_links": {"self": link("GET", format!("/pts/v2/payments/{}", t.id))},
                    "id": t.id,
                    "submitTimeUtc": t.submit_time_utc,
                    "status": "AUTHORIZED",
                    "reconciliationId": t.reconciliation_id,
                    "clientReferenceInformation": reference,
                    "processorInformation": {"approvalCode": "888888", "responseCode": "100",
                                             "transactionId": "123456789619999"},
                    "orderInformation": {"amountDetails": {
                        "authorizedAmount": additional.to_string(), "currency": t.currency}},
                }),
            )
        }
        Err(refusal) => sandbox.refuse(&refusal),
    }
}
