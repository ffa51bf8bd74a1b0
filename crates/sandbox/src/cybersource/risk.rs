//! Decision Manager (reference §3.7): decisions (`POST /risk/v1/decisions`), case actions and
//! comments, and the reviewer's decision — made here through the control API, as a reviewer
//! would in the Business Center — which sends `risk.casemanagement.decision.accept|reject`.
//!
//! Outcomes follow the billing e-mail, as for payments: `dm-review…` → `PENDING_REVIEW`,
//! `dm-reject…` → `REJECTED`, anything else `ACCEPTED`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::{Extension, Json};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::ledger::{FollowOn, Kind, Transaction};
use super::wire::{FieldCheck, Refusal, hal, now_utc, text};
use super::{CybersourceSandbox, Merchant};
use crate::ids;

/// A case awaiting (or having had) a reviewer's decision.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// The decision's (or the reviewed payment's) id.
    pub id: String,
    pub merchant_id: String,
    pub merchant_reference: String,
    /// `PENDING_REVIEW`, then `ACCEPTED` or `REJECTED`.
    pub status: String,
    pub score: u32,
    pub notes: Vec<Value>,
    /// Set when the case is about a payment (an authorization held for review).
    pub payment_id: Option<String>,
}

/// Decision Manager's verdict for a billing e-mail.
fn verdict(email: &str) -> (&'static str, Option<&'static str>, u32, &'static str) {
    let email = email.to_ascii_lowercase();
    if email.starts_with("dm-review") {
        (
            "PENDING_REVIEW",
            Some("DECISION_PROFILE_REVIEW"),
            75,
            "REVIEW",
        )
    } else if email.starts_with("dm-reject") {
        ("REJECTED", Some("DECISION_PROFILE_REJECT"), 95, "REJECT")
    } else {
        ("ACCEPTED", None, 12, "ACCEPT")
    }
}

pub(super) fn risk_block(decision: &str, score: u32) -> Value {
    json!({
        "profile": {"name": "Standard mid-market profile", "selectorRule": "Default Active Profile", "desinationQueue": "Review Queue"},
        "rules": [
            {"name": "Velocity: more than 3 orders in 1 hour", "decision": decision},
            {"name": "Billing and shipping country differ", "decision": "IGNORE"}
        ],
        "infoCodes": {"velocity": ["VEL-ADDR"], "internet": ["FREE-EM"], "address": ["MM-A"]},
        "score": {"result": score.to_string(), "factorCodes": ["V", "F"], "modelUsed": "default"},
        "casePriority": 3,
        "localTime": "12:00:00"
    })
}

impl CybersourceSandbox {
    /// Opens a review case for a payment Decision Manager held.
    pub(super) fn open_case(&self, t: &Transaction, score: u32) {
        self.cases().insert(
            t.id.clone(),
            Case {
                id: t.id.clone(),
                merchant_id: t.merchant_id.clone(),
                merchant_reference: t.merchant_reference.clone(),
                status: "PENDING_REVIEW".into(),
                score,
                notes: Vec::new(),
                payment_id: Some(t.id.clone()),
            },
        );
    }

    /// The reviewer decides (control API): the case closes and Decision Manager's webhook goes
    /// out. The payment itself is left to the merchant to capture or reverse.
    pub fn decide_case(&self, case_id: &str, accept: bool, comments: &str) -> Option<Case> {
        let case = {
            let mut cases = self.cases();
            let case = cases
                .get_mut(case_id)
                .filter(|c| c.status == "PENDING_REVIEW")?;
            case.status = if accept { "ACCEPTED" } else { "REJECTED" }.into();
            case.notes
                .push(json!({"date": now_utc(), "addedBy": "reviewer", "comments": comments}));
            case.clone()
        };
        let event = if accept {
            "risk.casemanagement.decision.accept"
        } else {
            "risk.casemanagement.decision.reject"
        };
        let mut data = json!({
            "id": case.id,
            "type": "casemanagement",
            "version": "1.0",
            "referenceNumber": case.merchant_reference,
            "decision": if accept { "ACCEPT" } else { "REJECT" },
            "notes": case.notes,
            "_links": {"transactionDetails": {"href": format!("/tss/v2/transactions/{}", case.id)}}
        });
        if let Some(payment) = &case.payment_id {
            data["_embedded"] = json!({"capture": {"href": format!("/pts/v2/payments/{payment}/captures"), "method": "POST"}});
        }
        self.emit(&case.merchant_id, "decisionManager", event, data);
        Some(case)
    }
}

pub(super) async fn create_decision(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    let mut check = FieldCheck::default();
    let mrn = check
        .text(&request, "clientReferenceInformation.code", true)
        .unwrap_or_default();
    check.amount(&request, "orderInformation.amountDetails.totalAmount", true);
    check.currency(&request, "orderInformation.amountDetails.currency", true);
    let email = check
        .text(&request, "orderInformation.billTo.email", true)
        .unwrap_or_default();
    check.max_lengths(&request, &[("clientReferenceInformation.code", 50)]);
    if let Some(refusal) = check.refusal() {
        return sandbox.refuse(&refusal);
    }
    let (status, reason, score, rule) = verdict(&email);
    let id = ids::cybersource_transaction_id(&sandbox.inner.sequence);
    if status == "PENDING_REVIEW" {
        sandbox.cases().insert(
            id.clone(),
            Case {
                id: id.clone(),
                merchant_id: merchant.0,
                merchant_reference: mrn.clone(),
                status: status.into(),
                score,
                notes: Vec::new(),
                payment_id: None,
            },
        );
    }
    let mut body = json!({
        "_links": {"self": {"href": format!("/risk/v1/decisions/{id}"), "method": "GET"}},
        "clientReferenceInformation": {"code": mrn},
        "id": id,
        "riskInformation": risk_block(rule, score),
        "status": status,
        "submitTimeUtc": now_utc(),
    });
    if let Some(reason) = reason {
        body["errorInformation"] =
            json!({"reason": reason, "message": "Decision Manager flagged the order."});
    }
    hal(StatusCode::CREATED, body)
}

/// `POST /risk/v1/decisions/{id}/actions`: a merchant's own decision on a case, optionally
/// capturing (with ACCEPT) or reversing (with REJECT) the reviewed payment.
pub(super) async fn case_action(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA"));
    };
    let decision = text(&request, "decisionInformation.decision")
        .unwrap_or_default()
        .to_string();
    let actions: Vec<String> = request
        .pointer("/processingInformation/actionList")
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let accept = match decision.as_str() {
        "ACCEPT" => true,
        "REJECT" => false,
        "" => {
            return sandbox.refuse(
                &Refusal::new("MISSING_FIELD")
                    .field("decisionInformation.decision", "MISSING_FIELD"),
            );
        }
        _ => {
            return sandbox.refuse(
                &Refusal::new("INVALID_DATA").field("decisionInformation.decision", "INVALID_DATA"),
            );
        }
    };
    // CAPTURE only goes with ACCEPT, REVERSE only with REJECT (§3.7).
    if actions.iter().any(|a| {
        (a == "CAPTURE" && !accept)
            || (a == "REVERSE" && accept)
            || (a != "CAPTURE" && a != "REVERSE")
    }) {
        return sandbox.refuse(
            &Refusal::new("INVALID_DATA").field("processingInformation.actionList", "INVALID_DATA"),
        );
    }
    let case = sandbox
        .cases()
        .get(&id)
        .filter(|c| c.merchant_id == merchant.0)
        .cloned();
    let Some(case) = case else {
        return sandbox.refuse(&Refusal::new("INVALID_DATA").field("id", "INVALID_DATA"));
    };
    if case.status != "PENDING_REVIEW" {
        return sandbox.refuse(&Refusal::with_message(
            "INVALID_DATA",
            "Declined - The case has already been decided.",
        ));
    }
    let comments = text(&request, "decisionInformation.comments").unwrap_or_default();
    let mut follow_on = None;
    if let Some(payment_id) = &case.payment_id
        && !actions.is_empty()
    {
        let request = FollowOn {
            merchant_id: merchant.0.clone(),
            merchant_reference: None,
            transaction_id: None,
            amount: None,
            currency: None,
        };
        let result = {
            let mut ledger = sandbox.ledger();
            if accept {
                ledger.check_capture(payment_id, &request).map(|index| {
                    let auth = ledger.all()[index].clone();
                    let capture = Transaction::following(
                        &auth,
                        Kind::Capture,
                        &request,
                        auth.capturable(),
                        "PENDING",
                        sandbox.new_id(),
                    );
                    ledger.record_capture(index, capture)
                })
            } else {
                let amount = ledger
                    .get(&merchant.0, payment_id)
                    .map(|t| t.authorized - t.reversed)
                    .unwrap_or(Decimal::ZERO);
                let request = FollowOn {
                    amount: Some(amount),
                    ..request
                };
                ledger.check_reversal(payment_id, &request).map(|index| {
                    let auth = ledger.all()[index].clone();
                    let reversal = Transaction::following(
                        &auth,
                        Kind::Reversal,
                        &request,
                        amount,
                        "REVERSED",
                        sandbox.new_id(),
                    );
                    ledger.record_reversal(index, reversal)
                })
            }
        };
        match result {
            Ok(t) => {
                sandbox.emit_transaction(&t);
                follow_on = Some(t);
            }
            Err(refusal) => return sandbox.refuse(&refusal),
        }
    }
    let decided = sandbox.decide_case(&id, accept, comments);
    let mut body = json!({
        "id": ids::cybersource_transaction_id(&sandbox.inner.sequence),
        "submitTimeUtc": now_utc(),
        "status": decided.map_or_else(|| "DECLINED".to_string(), |c| c.status),
        "clientReferenceInformation": {"code": case.merchant_reference},
        "_links": {"self": {"href": format!("/risk/v1/decisions/{id}"), "method": "GET"}},
    });
    // What the decision did, as the SDK's model reads it: the capture or reversal with its
    // status and link.
    if let Some(t) = follow_on {
        let (name, path) = match t.kind {
            Kind::Capture => ("capture", "captures"),
            _ => ("reversal", "reversals"),
        };
        body["_embedded"] = json!({name: {
            "status": t.status,
            "_links": {"self": {"href": format!("/pts/v2/{path}/{}", t.id), "method": "GET"}},
        }});
    }
    hal(StatusCode::CREATED, body)
}

pub(super) async fn comment(
    State(sandbox): State<CybersourceSandbox>,
    Extension(merchant): Extension<Merchant>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let comments = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|v| v["comments"].as_str().map(str::to_string));
    let Some(comments) = comments.filter(|c| !c.trim().is_empty()) else {
        return sandbox.refuse(&Refusal::new("MISSING_FIELD").field("comments", "MISSING_FIELD"));
    };
    let mut cases = sandbox.cases();
    let Some(case) = cases.get_mut(&id).filter(|c| c.merchant_id == merchant.0) else {
        drop(cases);
        return sandbox.refuse(&Refusal::new("INVALID_DATA").field("id", "INVALID_DATA"));
    };
    let note = json!({"date": now_utc(), "addedBy": "merchant", "comments": comments});
    case.notes.push(note.clone());
    let case_id = case.id.clone();
    let merchant_id = case.merchant_id.clone();
    drop(cases);
    sandbox.emit(
        &merchant_id,
        "fraudManagementEssentials",
        "risk.casemanagement.addnote",
        json!({"id": case_id, "note": note}),
    );
    hal(
        StatusCode::CREATED,
        json!({"id": case_id, "status": "ADDED", "submitTimeUtc": now_utc(), "comments": comments}),
    )
}

#[derive(Debug, Deserialize)]
pub(super) struct Decide {
    decision: String,
    #[serde(default)]
    comments: String,
}

/// `POST /__sandbox/cases/{id}/decide`: the reviewer's decision.
pub(super) async fn control_decide(
    State(sandbox): State<CybersourceSandbox>,
    Path(id): Path<String>,
    Json(decide): Json<Decide>,
) -> Response {
    let accept = decide.decision.eq_ignore_ascii_case("ACCEPT");
    if !accept && !decide.decision.eq_ignore_ascii_case("REJECT") {
        return hal(
            StatusCode::BAD_REQUEST,
            json!({"message": "decision is ACCEPT or REJECT"}),
        );
    }
    match sandbox.decide_case(&id, accept, &decide.comments) {
        Some(case) => hal(
            StatusCode::OK,
            serde_json::to_value(case).unwrap_or(Value::Null),
        ),
        None => hal(
            StatusCode::NOT_FOUND,
            json!({"message": "no open case with this id"}),
        ),
    }
}

pub(super) async fn control_cases(State(sandbox): State<CybersourceSandbox>) -> Json<Vec<Case>> {
    let mut cases: Vec<Case> = sandbox.cases().values().cloned().collect();
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    Json(cases)
}
