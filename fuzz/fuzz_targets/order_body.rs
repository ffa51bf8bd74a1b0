//! The order API's body, whatever the bytes: read, then checked as the order service admits it
//! (totals, limits, the payment). Never a panic — an overflow dropped the connection once — and
//! never a card number echoed in an answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use paybridge_commerce::OrderLimits;
use paybridge_server::orders::{OrderBodyError, read_order};

fuzz_target!(|body: &[u8]| {
    match read_order("fuzz-key", body) {
        Ok(place) => {
            if let Ok((_, total)) = place.admission(true) {
                let _ = OrderLimits::default().check(total);
            }
        }
        Err(OrderBodyError::Json(message)) => {
            assert!(!paybridge_model::pan::contains_pan(&paybridge_model::pan::redact(&message)));
        }
        Err(OrderBodyError::Invalid(fields)) => {
            for field in fields {
                assert!(!paybridge_model::pan::contains_pan(&field.message));
            }
        }
    }
});
