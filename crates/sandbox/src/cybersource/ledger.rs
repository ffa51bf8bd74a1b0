//! What the simulated gateway remembers: every transaction and the rules between them
//! (reference §3.4): captures up to the authorized amount (partial and multiple), refunds up to
//! what was captured, voids only before settlement, reversals only of uncaptured authorizations,
//! and merchant transaction ids unique per merchant.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;

use super::wire::{Refusal, utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An authorization, or a sale (`capture: true`) when `captured` is positive from the start.
    Authorization,
    Capture,
    Refund,
    Credit,
    Reversal,
    Void,
}

impl Kind {
    /// The legacy ICS application name TSS reports.
    pub fn application(self) -> &'static str {
        match self {
            Kind::Authorization => "ics_auth",
            Kind::Capture => "ics_bill",
            Kind::Refund | Kind::Credit => "ics_credit",
            Kind::Reversal => "ics_auth_reversal",
            Kind::Void => "ics_void",
        }
    }

    /// The path segment of the resource (`/pts/v2/{segment}/{id}`).
    pub fn segment(self) -> &'static str {
        match self {
            Kind::Authorization => "payments",
            Kind::Capture => "captures",
            Kind::Refund => "refunds",
            Kind::Credit => "credits",
            Kind::Reversal => "reversals",
            Kind::Void => "voids",
        }
    }
}

/// One transaction as the simulator remembers it (the control API shows these).
#[derive(Debug, Clone, Serialize)]
pub struct Transaction {
    pub id: String,
    pub kind: Kind,
    pub merchant_id: String,
    /// `clientReferenceInformation.code`.
    pub merchant_reference: String,
    /// `clientReferenceInformation.transactionId`.
    pub transaction_id: Option<String>,
    /// The transaction this one acts on (a capture's authorization, a refund's capture, …).
    pub parent_id: Option<String>,
    /// The first transaction of the chain.
    pub root_id: String,
    /// The transaction's amount as requested (an authorization's total, a capture's, …).
    #[serde(with = "rust_decimal::serde::str")]
    pub amount: Decimal,
    /// Authorizations: what the issuer approved (less than `amount` when partial, zero when
    /// declined).
    #[serde(with = "rust_decimal::serde::str")]
    pub authorized: Decimal,
    pub currency: String,
    pub status: String,
    pub reason: Option<String>,
    /// Declined authorizations: the processor's response code (`"51"`), the same in the
    /// payment's answer and in its details.
    #[serde(skip)]
    pub processor_code: Option<String>,
    pub submit_time_utc: String,
    #[serde(skip)]
    pub submitted_at: i64,
    pub reconciliation_id: String,
    pub card_type: Option<String>,
    pub card_suffix: Option<String>,
    #[serde(skip)]
    pub card_expiration: Option<(String, String)>,
    #[serde(skip)]
    pub bill_to: Option<Value>,
    #[serde(skip)]
    pub risk: Option<Value>,
    /// Authorizations: captured with the authorization itself (`capture: true`).
    pub sale: bool,
    /// Authorizations and sales: amount captured so far (a sale's whole amount).
    #[serde(with = "rust_decimal::serde::str")]
    pub captured: Decimal,
    /// Authorizations, sales and captures: amount refunded so far.
    #[serde(with = "rust_decimal::serde::str")]
    pub refunded: Decimal,
    /// Authorizations: amount reversed so far.
    #[serde(with = "rust_decimal::serde::str")]
    pub reversed: Decimal,
    pub voided: bool,
    /// Set when the transaction went out in a settlement batch.
    pub batch_id: Option<String>,
    pub batch_date: Option<String>,
}

impl Transaction {
    /// An authorization that stands (a risk-declined one is to be reversed, not captured).
    pub fn is_approved_authorization(&self) -> bool {
        self.kind == Kind::Authorization
            && matches!(
                self.status.as_str(),
                "AUTHORIZED" | "PARTIAL_AUTHORIZED" | "AUTHORIZED_PENDING_REVIEW"
            )
    }

    pub fn fully_reversed(&self) -> bool {
        self.reversed > Decimal::ZERO && self.reversed >= self.authorized
    }

    /// What may still be captured.
    pub fn capturable(&self) -> Decimal {
        self.authorized - self.reversed - self.captured
    }

    /// A new transaction acting on `parent` (a capture of an authorization, a refund of a
    /// capture, …), in its chain.
    pub fn following(
        parent: &Transaction,
        kind: Kind,
        request: &FollowOn,
        amount: Decimal,
        status: &str,
        id: String,
    ) -> Transaction {
        let now = OffsetDateTime::now_utc();
        Transaction {
            id,
            kind,
            merchant_id: parent.merchant_id.clone(),
            merchant_reference: request
                .merchant_reference
                .clone()
                .unwrap_or_else(|| parent.merchant_reference.clone()),
            transaction_id: request.transaction_id.clone(),
            parent_id: Some(parent.id.clone()),
            root_id: parent.root_id.clone(),
            amount,
            authorized: Decimal::ZERO,
            currency: parent.currency.clone(),
            status: status.into(),
            reason: None,
            processor_code: None,
            submit_time_utc: utc(now),
            submitted_at: now.unix_timestamp(),
            reconciliation_id: crate::ids::reconciliation_id(),
            card_type: parent.card_type.clone(),
            card_suffix: parent.card_suffix.clone(),
            card_expiration: parent.card_expiration.clone(),
            bill_to: parent.bill_to.clone(),
            risk: None,
            sale: false,
            captured: Decimal::ZERO,
            refunded: Decimal::ZERO,
            reversed: Decimal::ZERO,
            voided: false,
            batch_id: None,
            batch_date: None,
        }
    }

    pub fn is_settled(&self) -> bool {
        self.batch_id.is_some()
    }
}

/// A settlement batch (what the Payment Batch Detail report lists).
#[derive(Debug, Clone, Serialize)]
pub struct Batch {
    pub batch_id: String,
    pub batch_date: String,
    pub transaction_ids: Vec<String>,
}

/// Who asks, and the fields common to every follow-on request.
#[derive(Debug, Clone)]
pub struct FollowOn {
    pub merchant_id: String,
    pub merchant_reference: Option<String>,
    pub transaction_id: Option<String>,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
}

#[derive(Debug, Default)]
pub struct Ledger {
    transactions: Vec<Transaction>,
    by_id: HashMap<String, usize>,
    by_transaction_id: HashMap<(String, String), usize>,
    batches: Vec<Batch>,
}

pub enum Lookup {
    Found(usize),
    Missing,
}

impl Ledger {
    pub fn all(&self) -> &[Transaction] {
        &self.transactions
    }

    pub fn batches(&self) -> &[Batch] {
        &self.batches
    }

    pub fn get(&self, merchant_id: &str, id: &str) -> Option<&Transaction> {
        self.by_id
            .get(id)
            .map(|&i| &self.transactions[i])
            .filter(|t| t.merchant_id == merchant_id)
    }

    /// Whether a merchant transaction id was used before (it must be unique per merchant).
    pub fn transaction_id_taken(&self, merchant_id: &str, transaction_id: &str) -> bool {
        self.by_transaction_id
            .contains_key(&(merchant_id.to_string(), transaction_id.to_string()))
    }

    /// The transaction a merchant transaction id names, of one of `kinds`.
    pub fn by_transaction_id(
        &self,
        merchant_id: &str,
        transaction_id: &str,
    ) -> Option<&Transaction> {
        self.by_transaction_id
            .get(&(merchant_id.to_string(), transaction_id.to_string()))
            .map(|&i| &self.transactions[i])
    }

    pub fn insert(&mut self, transaction: Transaction) -> Transaction {
        let index = self.transactions.len();
        self.by_id.insert(transaction.id.clone(), index);
        if let Some(tid) = &transaction.transaction_id {
            self.by_transaction_id
                .insert((transaction.merchant_id.clone(), tid.clone()), index);
        }
        self.transactions.push(transaction.clone());
        transaction
    }

    fn index(&self, merchant_id: &str, id: &str, kinds: &[Kind]) -> Option<usize> {
        self.by_id.get(id).copied().filter(|&i| {
            self.transactions[i].merchant_id == merchant_id
                && kinds.contains(&self.transactions[i].kind)
        })
    }

    fn check_currency(original: &Transaction, request: &FollowOn) -> Result<(), Refusal> {
        match &request.currency {
            Some(currency) if currency != &original.currency => Err(Refusal::new("INVALID_DATA")
                .field("orderInformation.amountDetails.currency", "INVALID_DATA")),
            _ => Ok(()),
        }
    }

    /// Checks a capture of `auth_id` and returns the authorization to capture from.
    pub fn check_capture(&self, auth_id: &str, request: &FollowOn) -> Result<usize, Refusal> {
        let index = self
            .index(&request.merchant_id, auth_id, &[Kind::Authorization])
            .ok_or_else(|| Refusal::new("MISSING_AUTH"))?;
        let auth = &self.transactions[index];
        if auth.fully_reversed() {
            return Err(Refusal::new("AUTH_ALREADY_REVERSED"));
        }
        if auth.voided {
            return Err(Refusal::new("TRANSACTION_ALREADY_REVERSED_OR_SETTLED"));
        }
        if !auth.is_approved_authorization() {
            return Err(Refusal::new("MISSING_AUTH"));
        }
        Self::check_currency(auth, request)?;
        let amount = request.amount.unwrap_or(auth.capturable());
        if amount <= Decimal::ZERO {
            return Err(Refusal::new("INVALID_AMOUNT")
                .field("orderInformation.amountDetails.totalAmount", "INVALID_DATA"));
        }
        if amount > auth.capturable() {
            return Err(Refusal::new("EXCEEDS_AUTH_AMOUNT"));
        }
        Ok(index)
    }

    /// Checks an incremental authorization: of an approved authorization, not captured,
    /// reversed, voided or settled, in its currency.
    pub fn check_increment(&self, auth_id: &str, request: &FollowOn) -> Result<usize, Refusal> {
        let index = self
            .index(&request.merchant_id, auth_id, &[Kind::Authorization])
            .ok_or_else(|| Refusal::new("MISSING_AUTH"))?;
        let auth = &self.transactions[index];
        if !auth.is_approved_authorization() || auth.parent_id.is_some() {
            return Err(Refusal::new("MISSING_AUTH"));
        }
        if auth.voided
            || auth.reversed > Decimal::ZERO
            || auth.captured > Decimal::ZERO
            || auth.is_settled()
        {
            return Err(Refusal::new("TRANSACTION_ALREADY_REVERSED_OR_SETTLED"));
        }
        Self::check_currency(auth, request)?;
        Ok(index)
    }

    /// Adds an increment's amount to its authorization and keeps the increment in the chain.
    pub fn record_increment(&mut self, auth_index: usize, increment: Transaction) -> Transaction {
        let auth = &mut self.transactions[auth_index];
        auth.amount += increment.amount;
        auth.authorized += increment.amount;
        self.insert(increment)
    }

    pub fn record_capture(&mut self, auth_index: usize, capture: Transaction) -> Transaction {
        self.transactions[auth_index].captured += capture.amount;
        self.insert(capture)
    }

    /// Checks a refund of a sale/captured payment or of a capture; returns the refunded
    /// transaction and its root authorization.
    pub fn check_refund(
        &self,
        id: &str,
        of_capture: bool,
        request: &FollowOn,
    ) -> Result<(usize, usize), Refusal> {
        let kinds: &[Kind] = if of_capture {
            &[Kind::Capture]
        } else {
            &[Kind::Authorization]
        };
        let index = self
            .index(&request.merchant_id, id, kinds)
            .ok_or_else(|| Refusal::new("INVALID_DATA").field("id", "INVALID_DATA"))?;
        let target = &self.transactions[index];
        if target.voided {
            return Err(Refusal::new("CAPTURE_ALREADY_VOIDED"));
        }
        let refundable = if of_capture {
            target.amount - target.refunded
        } else {
            target.captured - target.refunded
        };
        let root = self.by_id[&target.root_id];
        Self::check_currency(target, request)?;
        let amount = request.amount.ok_or_else(|| {
            Refusal::new("MISSING_FIELD").field(
                "orderInformation.amountDetails.totalAmount",
                "MISSING_FIELD",
            )
        })?;
        if amount <= Decimal::ZERO || amount > refundable {
            return Err(Refusal::new("INVALID_AMOUNT")
                .field("orderInformation.amountDetails.totalAmount", "INVALID_DATA"));
        }
        Ok((index, root))
    }

    pub fn record_refund(
        &mut self,
        target: usize,
        root: usize,
        refund: Transaction,
    ) -> Transaction {
        self.transactions[target].refunded += refund.amount;
        if root != target {
            self.transactions[root].refunded += refund.amount;
        }
        self.insert(refund)
    }

    /// Checks a void of a sale, capture, refund or credit; only before settlement.
    pub fn check_void(&self, id: &str, kind: Kind, merchant_id: &str) -> Result<usize, Refusal> {
        let index = self
            .index(merchant_id, id, &[kind])
            .ok_or_else(|| Refusal::new("INVALID_DATA").field("id", "INVALID_DATA"))?;
        let target = &self.transactions[index];
        if target.voided {
            return Err(Refusal::new("NOT_VOIDABLE"));
        }
        if target.is_settled() {
            return Err(Refusal::new("NOT_VOIDABLE"));
        }
        match kind {
            // Only a sale (captured with the authorization) can be voided as a payment; an
            // authorization alone is reversed instead, and one captured apart has its capture
            // voided (`/pts/v2/captures/{id}/voids`) — voiding the authorization would leave
            // the capture to settle.
            Kind::Authorization
                if !target.sale
                    || target.captured <= Decimal::ZERO
                    || target.refunded > Decimal::ZERO =>
            {
                Err(Refusal::new("NOT_VOIDABLE"))
            }
            Kind::Capture if target.refunded > Decimal::ZERO => Err(Refusal::new("NOT_VOIDABLE")),
            _ => Ok(index),
        }
    }

    /// Voids the transaction at `index`, undoing what it did to its chain.
    pub fn record_void(&mut self, index: usize, void: Transaction) -> Transaction {
        let target = self.transactions[index].clone();
        self.transactions[index].voided = true;
        self.transactions[index].status = "VOIDED".into();
        match target.kind {
            Kind::Authorization => self.transactions[index].captured = Decimal::ZERO,
            Kind::Capture => {
                if let Some(&auth) = target.parent_id.as_ref().and_then(|p| self.by_id.get(p)) {
                    self.transactions[auth].captured -= target.amount;
                }
            }
            Kind::Refund => {
                if let Some(&parent) = target.parent_id.as_ref().and_then(|p| self.by_id.get(p)) {
                    self.transactions[parent].refunded -= target.amount;
                }
                let root = self.by_id[&target.root_id];
                if target.parent_id.as_deref() != Some(target.root_id.as_str()) {
                    self.transactions[root].refunded -= target.amount;
                }
            }
            Kind::Credit | Kind::Reversal | Kind::Void => {}
        }
        self.insert(void)
    }

    /// Checks a reversal of an uncaptured authorization.
    pub fn check_reversal(&self, auth_id: &str, request: &FollowOn) -> Result<usize, Refusal> {
        let index = self
            .index(&request.merchant_id, auth_id, &[Kind::Authorization])
            .ok_or_else(|| Refusal::new("MISSING_AUTH"))?;
        let auth = &self.transactions[index];
        if auth.fully_reversed() {
            return Err(Refusal::new("AUTH_ALREADY_REVERSED"));
        }
        if !auth.is_approved_authorization() {
            return Err(Refusal::new("MISSING_AUTH"));
        }
        if auth.captured > Decimal::ZERO || auth.is_settled() {
            return Err(Refusal::new("TRANSACTION_ALREADY_REVERSED_OR_SETTLED"));
        }
        Self::check_currency(auth, request)?;
        let amount = request.amount.ok_or_else(|| {
            Refusal::new("MISSING_FIELD").field(
                "reversalInformation.amountDetails.totalAmount",
                "MISSING_FIELD",
            )
        })?;
        if amount <= Decimal::ZERO || amount > auth.authorized - auth.reversed {
            return Err(Refusal::new("INVALID_AMOUNT").field(
                "reversalInformation.amountDetails.totalAmount",
                "INVALID_DATA",
            ));
        }
        Ok(index)
    }

    pub fn record_reversal(&mut self, auth: usize, reversal: Transaction) -> Transaction {
        self.transactions[auth].reversed += reversal.amount;
        if self.transactions[auth].reversed >= self.transactions[auth].authorized {
            self.transactions[auth].status = "REVERSED".into();
        }
        self.insert(reversal)
    }

    /// Settles every unsettled, unvoided capture, sale, refund and credit into one batch.
    pub fn settle(&mut self, batch_id: String, day: time::Date) -> Option<Batch> {
        let date = day.to_string();
        let mut ids = Vec::new();
        for t in &mut self.transactions {
            let settles = match t.kind {
                Kind::Authorization => t.sale && t.captured > Decimal::ZERO,
                Kind::Capture | Kind::Refund | Kind::Credit => true,
                Kind::Reversal | Kind::Void => false,
            };
            if settles && !t.voided && t.batch_id.is_none() {
                t.batch_id = Some(batch_id.clone());
                t.batch_date = Some(date.clone());
                if t.kind != Kind::Authorization {
                    t.status = "TRANSMITTED".into();
                }
                ids.push(t.id.clone());
            }
        }
        if ids.is_empty() {
            return None;
        }
        let batch = Batch {
            batch_id,
            batch_date: date,
            transaction_ids: ids,
        };
        self.batches.push(batch.clone());
        Some(batch)
    }

    /// Every transaction of a chain, root first.
    pub fn chain(&self, root_id: &str) -> Vec<&Transaction> {
        self.transactions
            .iter()
            .filter(|t| t.root_id == root_id)
            .collect()
    }
}
