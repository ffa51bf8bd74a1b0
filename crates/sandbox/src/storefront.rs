//! A storefront that places orders through paybridge's order API, the way a shop's backend
//! would: JSON over HTTP with an API key and an `Idempotency-Key` per order.
//!
//! Orders are generated deterministically from a seed: a catalogue of products, customers who
//! come back, and a few orders that the Cybersource test environment declines (magic amounts and
//! the declining postal code of reference §3.9).

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::ChaCha8Rng;
use rand::{RngExt as _, SeedableRng};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use url::Url;

#[derive(Debug, Clone)]
pub struct StorefrontConfig {
    /// paybridge's base URL (the order API is `POST {api_base}api/v1/orders`).
    pub api_base: Url,
    /// The storefront's API key for paybridge.
    pub api_key: String,
    /// Prefix of order references, unique per run (e.g. `DEMO-7F3A`).
    pub reference_prefix: String,
    pub orders: usize,
    pub seed: u64,
    /// Orders in flight at once.
    pub concurrency: usize,
    /// Send some orders to fraud review (billing e-mail `dm-review…`, the test environment's
    /// trigger), for a reviewer to accept or reject.
    pub reviews: bool,
    /// Sell some orders in euros and yen (the Zoho organization must have their rates).
    pub foreign_currencies: bool,
    /// Ask Cybersource to keep the card of some approved orders (`payment.save_card`).
    pub save_cards: bool,
}

/// What the storefront expects the payment to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Expectation {
    Approve,
    Decline,
    /// Held for review by Decision Manager, then accepted by the reviewer.
    ReviewAccept,
    /// Held for review, then rejected.
    ReviewReject,
}

/// An order the storefront will place.
#[derive(Debug, Clone, Serialize)]
pub struct OrderPlan {
    pub reference: String,
    pub idempotency_key: String,
    pub customer_email: String,
    pub expectation: Expectation,
    /// The exact JSON body sent to paybridge (it carries a test card number).
    #[serde(skip)]
    pub body: Value,
}

/// An order and paybridge's answer to it.
#[derive(Debug, Clone)]
pub struct PlacedOrder {
    pub plan: OrderPlan,
    pub http_status: u16,
    pub response: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum StorefrontError {
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("order {reference}: paybridge could not be reached: {message}")]
    Transport { reference: String, message: String },
}

struct Product {
    sku: &'static str,
    name: &'static str,
    price: &'static str,
}

const CATALOGUE: &[Product] = &[
    Product {
        sku: "BEAN-ESP-1K",
        name: "Espresso beans, 1 kg",
        price: "24.50",
    },
    Product {
        sku: "BEAN-FIL-500",
        name: "Filter roast, 500 g",
        price: "13.90",
    },
    Product {
        sku: "TEA-SEN-100",
        name: "Sencha green tea, 100 g",
        price: "9.75",
    },
    Product {
        sku: "MUG-STONE",
        name: "Stoneware mug",
        price: "18.00",
    },
    Product {
        sku: "GRND-HAND",
        name: "Hand grinder",
        price: "64.99",
    },
    Product {
        sku: "KETL-GOOSE",
        name: "Gooseneck kettle",
        price: "49.00",
    },
    Product {
        sku: "FILT-100",
        name: "Paper filters, 100 pack",
        price: "5.49",
    },
    Product {
        sku: "SCALE-01",
        name: "Brewing scale",
        price: "32.25",
    },
    Product {
        sku: "DRIP-V60",
        name: "Pour-over dripper",
        price: "22.10",
    },
    Product {
        sku: "CHOC-70",
        name: "Dark chocolate bar",
        price: "3.35",
    },
    Product {
        sku: "SYRUP-VAN",
        name: "Vanilla syrup",
        price: "7.80",
    },
    Product {
        sku: "SUB-MONTH",
        name: "Monthly coffee subscription",
        price: "29.00",
    },
];

const FIRST_NAMES: &[&str] = &[
    "Ada",
    "Grace",
    "Alan",
    "Edsger",
    "Barbara",
    "Donald",
    "Frances",
    "Ken",
    "Margaret",
    "Niklaus",
    "Radia",
    "Tim",
    "Hedy",
    "John",
    "Katherine",
    "Linus",
    "Sophie",
    "Dennis",
    "Annie",
    "Vint",
];
const LAST_NAMES: &[&str] = &[
    "Lovelace",
    "Hopper",
    "Turing",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Allen",
    "Thompson",
    "Hamilton",
    "Wirth",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "McCarthy",
    "Johnson",
    "Torvalds",
    "Wilson",
    "Ritchie",
    "Easley",
    "Cerf",
];
const CITIES: &[(&str, &str, &str)] = &[
    ("San Francisco", "CA", "94105"),
    ("Austin", "TX", "78701"),
    ("Seattle", "WA", "98101"),
    ("Boston", "MA", "02108"),
    ("Chicago", "IL", "60601"),
    ("Denver", "CO", "80202"),
];
/// Test cards the Cybersource test environment accepts (reference §3.9).
pub const TEST_CARDS: &[&str] = &[
    "4111111111111111",
    "4622943127013705",
    "5555555555554444",
    "2222420000001113",
    "378282246310005",
    "6011111111111117",
];
/// Whole amounts that the test environment declines, with the reason each gives; 3000.00 is
/// approved for half (a partial authorization), which paybridge releases and declines.
const DECLINING_AMOUNTS: &[&str] = &[
    "2051.00", "2005.00", "2054.00", "2004.00", "2014.00", "3000.00",
];

/// Whether the test environment treats `total` as a trigger (reference §3.9 and the
/// simulator's table): whole amounts 2000–2099 answer with a processor code, 3000–3099 are
/// partially approved — in any currency.
pub fn is_test_trigger(total: Decimal) -> bool {
    total.fract().is_zero()
        && ((Decimal::from(2000)..=Decimal::from(2099)).contains(&total)
            || (Decimal::from(3000)..=Decimal::from(3099)).contains(&total))
}

/// What the order's lines add up to.
fn plan_total(body: &Value) -> Decimal {
    body["lines"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|line| {
            let number = |field: &str| {
                line[field]
                    .as_str()
                    .and_then(|v| v.parse::<Decimal>().ok())
                    .unwrap_or_default()
            };
            number("quantity") * number("unit_price")
        })
        .sum()
}

/// An order the storefront expects approved must not land on a trigger amount: one more of
/// its first line until it does not (a yen order of ¥2,085 was declined while expected paid).
fn clear_of_triggers(body: &mut Value) {
    while is_test_trigger(plan_total(body)) {
        let Some(line) = body["lines"].get_mut(0) else {
            return;
        };
        let quantity: u32 = line["quantity"]
            .as_str()
            .and_then(|q| q.parse().ok())
            .unwrap_or(1);
        line["quantity"] = json!((quantity + 1).to_string());
    }
}
const DECLINING_POSTAL_CODE: &str = "46282";

#[derive(Clone)]
struct CustomerPlan {
    first_name: String,
    last_name: String,
    email: String,
    street: String,
    city: (&'static str, &'static str, &'static str),
    card: &'static str,
}

/// The orders a run with this seed places, in order.
pub fn plan_orders(count: usize, seed: u64, reference_prefix: &str) -> Vec<OrderPlan> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut customers: Vec<CustomerPlan> = Vec::new();
    let mut plans = Vec::with_capacity(count);
    for i in 0..count {
        // About a third of orders come from returning customers (order 5 always does), and about
        // one in twelve is declined (order 3 always is), so even small runs show both.
        let returning = !customers.is_empty() && (i == 5 || rng.random_ratio(1, 3));
        let customer = if returning {
            customers[rng.random_range(0..customers.len())].clone()
        } else {
            let n = customers.len();
            let first = FIRST_NAMES[rng.random_range(0..FIRST_NAMES.len())];
            let last = LAST_NAMES[rng.random_range(0..LAST_NAMES.len())];
            let customer = CustomerPlan {
                first_name: first.into(),
                last_name: last.into(),
                email: format!(
                    "{}.{}.{n}@example.com",
                    first.to_lowercase(),
                    last.to_lowercase()
                ),
                street: format!("{} Market St", rng.random_range(1..2000)),
                city: CITIES[rng.random_range(0..CITIES.len())],
                card: TEST_CARDS[rng.random_range(0..TEST_CARDS.len())],
            };
            customers.push(customer.clone());
            customer
        };
        let decline = i == 3 || rng.random_ratio(1, 12);
        let mut postal_code = customer.city.2.to_string();
        let lines: Vec<Value> = if decline && rng.random_ratio(1, 4) {
            postal_code = DECLINING_POSTAL_CODE.into();
            vec![
                json!({"sku": "GIFT-50", "name": "Gift card", "quantity": "1", "unit_price": "50.00"}),
            ]
        } else if decline {
            let amount = DECLINING_AMOUNTS[rng.random_range(0..DECLINING_AMOUNTS.len())];
            vec![
                json!({"sku": "GIFT-BIG", "name": "Gift card", "quantity": "1", "unit_price": amount}),
            ]
        } else {
            (0..rng.random_range(1..=3))
                .map(|_| {
                    let product = &CATALOGUE[rng.random_range(0..CATALOGUE.len())];
                    json!({"sku": product.sku, "name": product.name,
                           "quantity": rng.random_range(1..=3).to_string(), "unit_price": product.price})
                })
                .collect()
        };
        let reference = format!("{reference_prefix}-{:05}", i + 1);
        let body = json!({
            "reference": reference,
            "currency": "USD",
            "customer": {
                "email": customer.email,
                "first_name": customer.first_name,
                "last_name": customer.last_name,
                "billing_address": {
                    "line1": customer.street, "city": customer.city.0, "region": customer.city.1,
                    "postal_code": postal_code, "country": "US"
                }
            },
            "lines": lines,
            "payment": {"card": {"number": customer.card, "expiration_month": "12", "expiration_year": "2031",
                                 "security_code": if customer.card.len() == 15 { "1234" } else { "123" }}}
        });
        plans.push(OrderPlan {
            idempotency_key: format!("{reference}-attempt"),
            reference,
            customer_email: customer.email.clone(),
            expectation: if decline {
                Expectation::Decline
            } else {
                Expectation::Approve
            },
            body,
        });
    }
    plans
}

/// Talks to paybridge's order API.
#[derive(Debug, Clone)]
pub struct Storefront {
    http: reqwest::Client,
    config: StorefrontConfig,
}

impl Storefront {
    pub fn new(config: StorefrontConfig) -> Result<Storefront, StorefrontError> {
        // reqwest is built without a bundled crypto provider (STACK.md): install ring once.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(90))
            .build()
            .map_err(|e| StorefrontError::Client(e.to_string()))?;
        Ok(Storefront { http, config })
    }

    pub fn seed(&self) -> u64 {
        self.config.seed
    }

    pub fn plans(&self) -> Vec<OrderPlan> {
        let mut plans = plan_orders(
            self.config.orders,
            self.config.seed,
            &self.config.reference_prefix,
        );
        if self.config.foreign_currencies {
            // Every tenth order from the eighth is in euros, from the tenth in yen (at ¥150 to
            // the dollar, whole yen). Declines stay in dollars (the test environment's magic
            // amounts are dollar amounts).
            for (i, plan) in plans.iter_mut().enumerate() {
                let currency = match i % 10 {
                    7 => "EUR",
                    9 => "JPY",
                    _ => continue,
                };
                if plan.expectation != Expectation::Approve {
                    continue;
                }
                plan.body["currency"] = json!(currency);
                if currency == "JPY"
                    && let Some(lines) = plan.body["lines"].as_array_mut()
                {
                    for line in lines {
                        let price: Decimal = line["unit_price"]
                            .as_str()
                            .unwrap_or("0")
                            .parse()
                            .unwrap_or_default();
                        line["unit_price"] =
                            json!((price * Decimal::from(150)).round().to_string());
                    }
                }
            }
        }
        // Orders expected approved stay clear of the test environment's trigger amounts, in
        // whichever currency they ended up.
        for plan in &mut plans {
            if plan.expectation == Expectation::Approve {
                clear_of_triggers(&mut plan.body);
            }
        }
        if self.config.reviews {
            for (i, plan) in plans.iter_mut().enumerate() {
                let review = match i % 11 {
                    4 => Expectation::ReviewAccept,
                    8 => Expectation::ReviewReject,
                    _ => continue,
                };
                if plan.expectation != Expectation::Approve || plan.body["currency"] != "USD" {
                    continue;
                }
                let email = format!("dm-review-{}", plan.customer_email);
                plan.body["customer"]["email"] = json!(email);
                plan.customer_email = email;
                plan.expectation = review;
            }
        }
        if self.config.save_cards {
            // Every sixth order from the second keeps its card (approved ones).
            for (i, plan) in plans.iter_mut().enumerate() {
                if i % 6 == 1 && plan.expectation == Expectation::Approve {
                    plan.body["payment"]["save_card"] = json!(true);
                }
            }
        }
        plans
    }

    /// Places one order (or re-sends it: same key, same body).
    pub async fn place(&self, plan: &OrderPlan) -> Result<PlacedOrder, StorefrontError> {
        let url = self
            .config
            .api_base
            .join("api/v1/orders")
            .map_err(|e| StorefrontError::Client(e.to_string()))?;
        let transport = |e: reqwest::Error| StorefrontError::Transport {
            reference: plan.reference.clone(),
            message: e.to_string(),
        };
        let response = self
            .http
            .post(url)
            .bearer_auth(&self.config.api_key)
            .header("Idempotency-Key", &plan.idempotency_key)
            .json(&plan.body)
            .send()
            .await
            .map_err(transport)?;
        let http_status = response.status().as_u16();
        let response = response.json::<Value>().await.unwrap_or(Value::Null);
        Ok(PlacedOrder {
            plan: plan.clone(),
            http_status,
            response,
        })
    }

    /// Places every planned order, `concurrency` at a time; `on_placed` sees each answer.
    pub async fn place_all(
        &self,
        on_placed: impl Fn(&PlacedOrder) + Send + Sync + 'static,
    ) -> Result<Vec<PlacedOrder>, StorefrontError> {
        self.send_all(self.plans(), on_placed).await
    }

    /// Sends orders again exactly as before (same keys and bodies).
    pub async fn send_all(
        &self,
        plans: Vec<OrderPlan>,
        on_placed: impl Fn(&PlacedOrder) + Send + Sync + 'static,
    ) -> Result<Vec<PlacedOrder>, StorefrontError> {
        let permits = Arc::new(Semaphore::new(self.config.concurrency.max(1)));
        let on_placed = Arc::new(on_placed);
        let mut tasks = tokio::task::JoinSet::new();
        for (index, plan) in plans.into_iter().enumerate() {
            let permits = permits.clone();
            let on_placed = on_placed.clone();
            let storefront = self.clone();
            tasks.spawn(async move {
                let _permit = permits
                    .acquire_owned()
                    .await
                    .expect("semaphore is never closed");
                let placed = storefront.place(&plan).await?;
                on_placed(&placed);
                Ok::<_, StorefrontError>((index, placed))
            });
        }
        let mut placed = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            let (index, order) = joined.map_err(|e| StorefrontError::Client(e.to_string()))??;
            placed.push((index, order));
        }
        placed.sort_by_key(|(index, _)| *index);
        Ok(placed.into_iter().map(|(_, order)| order).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever the seed, an order expected approved is never on a trigger amount, and the
    /// declines include a partial authorization now and then.
    #[test]
    fn approved_orders_avoid_the_trigger_amounts_for_every_seed() {
        let mut partial = 0;
        for seed in 0..40 {
            let storefront = Storefront::new(StorefrontConfig {
                orders: 400,
                seed,
                foreign_currencies: true,
                reviews: true,
                save_cards: true,
                api_base: Url::parse("http://127.0.0.1:1/").unwrap(),
                api_key: "k".into(),
                reference_prefix: "T".into(),
                concurrency: 1,
            })
            .unwrap();
            for plan in storefront.plans() {
                let total = plan_total(&plan.body);
                if plan.expectation == Expectation::Decline {
                    partial += usize::from(total == Decimal::from(3000));
                } else {
                    assert!(
                        !is_test_trigger(total),
                        "seed {seed}: {} totals {total} {}",
                        plan.reference,
                        plan.body["currency"]
                    );
                }
            }
        }
        assert!(partial > 0);
        assert!(is_test_trigger(Decimal::from(2085)));
        assert!(is_test_trigger(Decimal::from(3085)));
        assert!(!is_test_trigger("2085.50".parse().unwrap()));
        assert!(!is_test_trigger(Decimal::from(2100)));
    }

    #[test]
    fn plans_are_deterministic_and_mixed() {
        let a = plan_orders(60, 7, "T");
        let b = plan_orders(60, 7, "T");
        assert_eq!(
            a.iter().map(|p| p.body.to_string()).collect::<Vec<_>>(),
            b.iter().map(|p| p.body.to_string()).collect::<Vec<_>>()
        );
        assert_eq!(a[3].expectation, Expectation::Decline);
        let declines = a
            .iter()
            .filter(|p| p.expectation == Expectation::Decline)
            .count();
        assert!((2..20).contains(&declines), "{declines} declines");
        let mut emails: Vec<&str> = a.iter().map(|p| p.customer_email.as_str()).collect();
        emails.sort_unstable();
        emails.dedup();
        assert!(emails.len() < a.len(), "some customers return");
        assert_ne!(
            plan_orders(60, 8, "T")[0].body,
            a[0].body,
            "another seed, other orders"
        );
    }

    #[test]
    fn small_runs_still_have_a_decline_and_a_repeat_customer() {
        let plans = plan_orders(6, 1, "S");
        assert_eq!(plans[3].expectation, Expectation::Decline);
        let earlier: Vec<&str> = plans[..5]
            .iter()
            .map(|p| p.customer_email.as_str())
            .collect();
        assert!(earlier.contains(&plans[5].customer_email.as_str()));
    }
}

/// The storefront's side of paybridge's callbacks: `POST /callbacks`, verified the way README
/// "The order API" tells a storefront to (HMAC-SHA256 of `"{timestamp}.{body}"` with the shared
/// secret, a five-minute timestamp window, each delivery id taken once).
#[derive(Clone)]
pub struct CallbackReceiver {
    inner: Arc<CallbackState>,
}

struct CallbackState {
    secret: Vec<u8>,
    taken: std::sync::Mutex<Callbacks>,
}

/// What the receiver has seen.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Callbacks {
    /// Each delivery once, in the order they came.
    pub deliveries: Vec<Value>,
    /// Deliveries that came again (a retry whose first answer was lost), answered 200.
    pub repeats: usize,
    /// Refused: a bad signature, an old timestamp, a body that is not JSON.
    pub refused: usize,
}

impl std::fmt::Debug for CallbackReceiver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackReceiver").finish_non_exhaustive()
    }
}

impl CallbackReceiver {
    pub fn new(secret: &str) -> CallbackReceiver {
        CallbackReceiver {
            inner: Arc::new(CallbackState {
                secret: secret.as_bytes().to_vec(),
                taken: std::sync::Mutex::new(Callbacks::default()),
            }),
        }
    }

    pub fn router(&self) -> axum::Router {
        axum::Router::new()
            .route("/callbacks", axum::routing::post(receive))
            .with_state(self.clone())
    }

    pub fn callbacks(&self) -> Callbacks {
        self.inner
            .taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The callbacks about one order reference, in the order they came (only those are
    /// copied: a check of every order of a long run must not copy them all each time).
    pub fn for_reference(&self, reference: &str) -> Vec<Value> {
        self.inner
            .taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .deliveries
            .iter()
            .filter(|d| d["reference"] == reference)
            .cloned()
            .collect()
    }

    fn verify(&self, headers: &axum::http::HeaderMap, body: &[u8]) -> Result<(), &'static str> {
        use hmac::{KeyInit, Mac};
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let timestamp: i64 = header("paybridge-timestamp")
            .and_then(|t| t.parse().ok())
            .ok_or("no Paybridge-Timestamp")?;
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        if (now - timestamp).abs() > 300 {
            return Err("the timestamp is more than five minutes off");
        }
        let given = header("paybridge-signature")
            .and_then(|s| s.strip_prefix("v1="))
            .and_then(|s| hex::decode(s).ok())
            .ok_or("no v1 Paybridge-Signature")?;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.inner.secret)
            .map_err(|_| "bad secret")?;
        mac.update(format!("{timestamp}.").as_bytes());
        mac.update(body);
        mac.verify_slice(&given)
            .map_err(|_| "the signature does not match")
    }
}

async fn receive(
    axum::extract::State(receiver): axum::extract::State<CallbackReceiver>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> (axum::http::StatusCode, String) {
    use axum::http::StatusCode;
    let refuse = |why: &str| {
        receiver
            .inner
            .taken
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .refused += 1;
        (StatusCode::UNAUTHORIZED, why.to_string())
    };
    if let Err(why) = receiver.verify(&headers, &body) {
        return refuse(why);
    }
    let Ok(value) = serde_json::from_slice::<Value>(&body) else {
        return refuse("the body is not JSON");
    };
    let delivery = headers
        .get("paybridge-delivery")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let mut taken = receiver
        .inner
        .taken
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if taken
        .deliveries
        .iter()
        .any(|d| d["delivery"].as_str() == Some(delivery.as_str()))
    {
        taken.repeats += 1;
    } else {
        taken.deliveries.push(value);
    }
    (StatusCode::OK, "taken".into())
}
