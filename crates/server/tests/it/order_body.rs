//! The order API's body under arbitrary input (the CI side of the `order_body` fuzz target in
//! `fuzz/`): any bytes, and a good order with any field replaced by any JSON value, are read
//! and admitted without a panic, and no answer quotes a card number back.

use paybridge_commerce::OrderLimits;
use paybridge_server::orders::{OrderBodyError, error_body, read_order};
use proptest::prelude::*;
use serde_json::{Value, json};

/// The answer the order API would give before anything is charged (or `None`: it goes on).
fn answer(body: &[u8]) -> Option<Value> {
    match read_order("prop-key", body) {
        Err(OrderBodyError::Json(message)) => Some(error_body("invalid_json", &message, &[])),
        Err(OrderBodyError::Invalid(fields)) => {
            Some(error_body("invalid_order", "the order is invalid", &fields))
        }
        Ok(place) => match place.admission(true) {
            Err(paybridge_commerce::PlaceError::Invalid(fields)) => {
                Some(error_body("invalid_order", "the order is invalid", &fields))
            }
            Err(e) => Some(error_body("refused", &e.to_string(), &[])),
            Ok((_, total)) => OrderLimits::default()
                .check(total)
                .err()
                .map(|field| error_body("invalid_order", "the order is invalid", &[field])),
        },
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        "[0-9]{12,19}".prop_map(Value::String),
        "[0-9.eE+-]{1,40}".prop_map(Value::String),
        "\\PC{0,40}".prop_map(Value::String),
        Just(json!("4111111111111111")),
        Just(json!("79228162514264337593543950335")),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FIELDS: &[&str] = &[
    "/reference",
    "/currency",
    "/customer/email",
    "/customer/billing_address/country",
    "/customer/billing_address/postal_code",
    "/lines",
    "/lines/0/quantity",
    "/lines/0/unit_price",
    "/lines/0/name",
    "/payment",
    "/payment/card/number",
    "/payment/card/expiration_month",
    "/payment/customer_id",
];

fn order() -> Value {
    json!({
        "reference": "R-1",
        "currency": "USD",
        "customer": {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace",
                     "billing_address": {"line1": "1 Market St", "city": "San Francisco", "region": "CA",
                                         "postal_code": "94105", "country": "US"}},
        "lines": [{"name": "Tea", "quantity": "1", "unit_price": "9.75"}],
        "payment": {"card": {"number": "4111111111111111", "expiration_month": "12", "expiration_year": "2031"}}
    })
}

fn assert_no_card(answer: &Option<Value>) -> Result<(), TestCaseError> {
    if let Some(answer) = answer {
        let text = answer.to_string();
        prop_assert!(
            !paybridge_model::pan::contains_pan(&text),
            "a card number quoted back: {text}"
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_get_an_answer(body in prop::collection::vec(any::<u8>(), 0..512)) {
        assert_no_card(&answer(&body))?;
    }

    #[test]
    fn a_good_order_with_any_field_replaced_gets_an_answer(
        field in prop::sample::select(FIELDS),
        value in any_json(),
    ) {
        let mut body = order();
        let (parent, name) = field.rsplit_once('/').unwrap();
        match body.pointer_mut(parent).unwrap() {
            Value::Object(fields) => {
                fields.insert(name.to_string(), value);
            }
            Value::Array(items) => items[name.parse::<usize>().unwrap()] = value,
            _ => unreachable!("{field}"),
        }
        assert_no_card(&answer(body.to_string().as_bytes()))?;
    }

    #[test]
    fn any_quantity_and_price_are_charged_exactly_or_refused(
        quantity in "-?[0-9]{1,30}(\\.[0-9]{1,30})?",
        price in "-?[0-9]{1,30}(\\.[0-9]{1,30})?",
        currency in prop::sample::select(&["USD", "JPY", "EUR", "KWD"][..]),
    ) {
        let mut body = order();
        body["currency"] = json!(currency);
        body["lines"][0]["quantity"] = json!(quantity);
        body["lines"][0]["unit_price"] = json!(price);
        let _ = answer(body.to_string().as_bytes());
    }
}
