//! Budgets: slices, waits, concurrency slots and pauses.

use super::*;

fn per_minute(limit: u64) -> Vec<Quota> {
    vec![Quota {
        name: "m",
        limit,
        window: MINUTE,
    }]
}

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

#[test]
fn a_request_fits_until_the_window_is_full() {
    let quotas = per_minute(3);
    assert_eq!(decide(&[], &quotas, 1), None);
    let history = [(secs(50), 1), (secs(30), 1)];
    assert_eq!(decide(&history, &quotas, 1), None);
    let full = [(secs(50), 1), (secs(30), 1), (secs(10), 1)];
    // The oldest grant leaves the window 10 s from now.
    assert_eq!(decide(&full, &quotas, 1), Some(secs(10)));
    // Grants older than the window do not count.
    let old = [(secs(70), 1), (secs(65), 1), (secs(10), 1)];
    assert_eq!(decide(&old, &quotas, 1), None);
}

#[test]
fn costly_requests_wait_for_enough_room() {
    let quotas = per_minute(10);
    let history = [(secs(55), 4), (secs(40), 4), (secs(5), 2)];
    assert_eq!(decide(&history, &quotas, 1), Some(secs(5)));
    // Needs the first two to leave: the second leaves in 20 s.
    assert_eq!(decide(&history, &quotas, 5), Some(secs(20)));
}

#[test]
fn the_longest_wait_of_all_quotas_wins() {
    let quotas = vec![
        Quota {
            name: "minute",
            limit: 100,
            window: MINUTE,
        },
        Quota {
            name: "day",
            limit: 2,
            window: DAY,
        },
    ];
    let history = [(secs(3600), 1), (secs(10), 1)];
    assert_eq!(decide(&history, &quotas, 1), Some(DAY - secs(3600)));
}

#[test]
fn plans_follow_the_reference() {
    assert_eq!(FinancePlan::named("Free").unwrap().per_day, 1_000);
    assert_eq!(FinancePlan::named("premium").unwrap().per_day, 10_000);
    assert_eq!(FinancePlan::named("gold"), None);
    assert_eq!(
        CrmPlan::edition("standard", 500).unwrap(),
        CrmPlan::new(100_000, 10)
    );
    assert_eq!(
        CrmPlan::edition("professional", 10).unwrap(),
        CrmPlan::new(55_000, 15)
    );
    assert_eq!(CrmPlan::cost(1), 1);
    assert_eq!(CrmPlan::cost(10), 1);
    assert_eq!(CrmPlan::cost(11), 2);
    assert_eq!(CrmPlan::cost(100), 10);
    assert_eq!(CrmPlan::cost(0), 1);
    assert_eq!(
        DeskPlan::edition("standard", 4).unwrap(),
        DeskPlan {
            credits_per_day: 51_000,
            concurrency: 10
        }
    );
}

#[tokio::test(start_paused = true)]
async fn requests_wait_for_budget_and_give_up_past_the_longest_wait() {
    let budgets = Budgets::local(Plans {
        finance: FinancePlan {
            per_minute: 5,
            per_day: 7,
        },
        max_wait: secs(90),
        ..Plans::default()
    });
    let start = Instant::now();
    for _ in 0..5 {
        budgets.acquire(Product::Finance, "1", 1).await.unwrap();
    }
    assert_eq!(Instant::now(), start, "the first five go at once");
    budgets.acquire(Product::Finance, "1", 1).await.unwrap();
    assert_eq!(Instant::now() - start, MINUTE + WINDOW_GUARD);
    budgets.acquire(Product::Finance, "1", 1).await.unwrap();
    // The daily cap of 7 is spent: the next would wait a day, far beyond max_wait.
    let error = budgets.acquire(Product::Finance, "1", 1).await.unwrap_err();
    assert!(
        matches!(&error, Error::QuotaExhausted { retry_after, .. } if *retry_after > secs(23 * 3600)),
        "{error:?}"
    );
    assert_eq!(
        error.kind(),
        paybridge_model::FailureKind::Transient,
        "the engine retries it later"
    );
    // Another organization has its own budget.
    budgets.acquire(Product::Finance, "2", 1).await.unwrap();
    let usage = budgets.usage().await.unwrap();
    let day = usage
        .iter()
        .find(|u| u.organization == "1" && u.quota == "requests_per_day")
        .unwrap();
    assert_eq!((day.used, day.limit), (7, 7));
}

#[tokio::test(start_paused = true)]
async fn a_throttle_pauses_the_organization() {
    let budgets = Budgets::local(Plans {
        max_wait: secs(60),
        ..Plans::default()
    });
    budgets.throttled(Product::Finance, "1", secs(30)).await;
    let start = Instant::now();
    budgets.acquire(Product::Finance, "1", 1).await.unwrap();
    assert_eq!(Instant::now() - start, secs(30));
}

#[tokio::test(start_paused = true)]
async fn concurrency_slots_are_held_while_a_call_is_in_flight() {
    let budgets = Budgets::local(Plans {
        crm: CrmPlan::new(1_000, 2),
        ..Plans::default()
    });
    let a = budgets.acquire(Product::Crm, "1", 1).await.unwrap();
    let _b = budgets.acquire(Product::Crm, "1", 1).await.unwrap();
    let third = tokio::time::timeout(secs(1), budgets.acquire(Product::Crm, "1", 1)).await;
    assert!(
        third.is_err(),
        "no third slot while two calls are in flight"
    );
    drop(a);
    budgets.acquire(Product::Crm, "1", 1).await.unwrap();
}
