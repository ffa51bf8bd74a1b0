//! The console in a real browser: headless Chromium driven over WebDriver (Debian's `chromium`
//! and `chromium-driver`, which `.ci/run` installs). Signing in, watching a run appear and
//! succeed, a dead letter from an injected permanent error fixed by a mapping edit and replayed,
//! the mapping preview following an edit, and an anonymous visitor sent to sign in.
//!
//! Without `chromedriver` the test says so and passes, unless `PAYBRIDGE_REQUIRE_BROWSER` is set
//! (CI sets it), when it fails.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use paybridge::demo::{DemoEnvironment, DemoOptions};
use paybridge_engine::tokens::{Role, Tokens};
use paybridge_sandbox::faults::{FaultMode, FaultRule};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Driver {
    process: Child,
    base: String,
    session: String,
    http: reqwest::Client,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

impl Driver {
    async fn start() -> Option<Driver> {
        let binary = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("PAYBRIDGE_REQUIRE_BROWSER").is_none(),
                "chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!("skipped: chromedriver is not installed");
            return None;
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let process = Command::new(binary)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = crate::helpers::http();
        let base = format!("http://127.0.0.1:{port}");
        let mut ready = false;
        for _ in 0..100 {
            if let Ok(answer) = http.get(format!("{base}/status")).send().await
                && answer
                    .json::<Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true)
            {
                ready = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "chromedriver did not start");
        let mut driver = Driver {
            process,
            base,
            session: String::new(),
            http,
        };
        let created = driver
            .call(
                reqwest::Method::POST,
                "/session",
                Some(json!({"capabilities": {"alwaysMatch": {
                    "browserName": "chrome",
                    "goog:chromeOptions": {
                        "binary": "/usr/bin/chromium",
                        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"]
                    }
                }}})),
            )
            .await;
        driver.session = created["sessionId"]
            .as_str()
            .expect("a WebDriver session")
            .to_string();
        Some(driver)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let path = if self.session.is_empty() || path == "/session" {
            path.to_string()
        } else {
            format!("/session/{}{path}", self.session)
        };
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request.send().await.unwrap().json().await.unwrap();
        if let Some(error) = answer["value"]["error"].as_str() {
            panic!("WebDriver {path}: {error}: {}", answer["value"]["message"]);
        }
        answer["value"].clone()
    }

    async fn go(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url})))
            .await;
    }

    async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap()
            .to_string()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        found[ELEMENT].as_str().unwrap().to_string()
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// Clicks something that loads a new page, and waits until it has.
    async fn click_to_page(&self, css: &str) {
        self.script("window.__pbOldPage = true;", json!([])).await;
        self.click(css).await;
        self.until(
            "the next page",
            "return window.__pbOldPage === undefined && document.readyState === 'complete';",
            json!([]),
            false,
        )
        .await;
    }

    async fn type_into(&self, css: &str, text: &str, clear: bool) {
        let id = self.find(css).await;
        if clear {
            self.call(
                reqwest::Method::POST,
                &format!("/element/{id}/clear"),
                Some(json!({})),
            )
            .await;
        }
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": text})),
        )
        .await;
    }

    async fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    async fn text(&self, css: &str) -> String {
        self.script(
            "const e = document.querySelector(arguments[0]); return e ? e.textContent : null;",
            json!([css]),
        )
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
    }

    /// Waits until `script` returns true (the page's own live updates, or `reload` each round).
    async fn until(&self, what: &str, script: &str, args: Value, reload: bool) {
        for _ in 0..150 {
            if self.script(script, args.clone()).await == true {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
            if reload {
                self.call(reqwest::Method::POST, "/refresh", Some(json!({})))
                    .await;
            }
        }
        let html = self
            .script("return document.documentElement.outerHTML;", json!([]))
            .await;
        panic!(
            "{what} did not happen at {}; the page: {}",
            self.url().await,
            html.as_str()
                .unwrap_or_default()
                .chars()
                .take(3000)
                .collect::<String>()
        );
    }

    /// Sets the window's width (the height stays 900).
    async fn resize(&self, width: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": 900})),
        )
        .await;
    }

    /// Each page, at a phone's width, fits it: nothing makes the page scroll sideways (wide
    /// tables scroll inside their own box).
    async fn fits_a_phone(&self, pages: &[String]) {
        self.resize(390).await;
        for page in pages {
            self.go(page).await;
            let widths = self
                .script(
                    "return [document.documentElement.scrollWidth, window.innerWidth];",
                    json!([]),
                )
                .await;
            let (scroll, inner) = (widths[0].as_u64().unwrap(), widths[1].as_u64().unwrap());
            assert!(
                scroll <= inner,
                "{page} is {scroll} px wide in a {inner} px window"
            );
        }
        self.resize(1280).await;
    }

    async fn screenshot(&self, name: &str, width: u32) {
        if std::env::var_os("PAYBRIDGE_SCREENSHOTS").is_none() {
            return;
        }
        use base64::Engine as _;
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": width, "height": 900})),
        )
        .await;
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap())
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), bytes).unwrap();
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({"width": 1280, "height": 900})),
        )
        .await;
    }
}

/// Places the `n`th order the storefront plans to be approved.
async fn place(env: &DemoEnvironment, n: usize) -> String {
    let plan = env
        .storefront
        .plans()
        .into_iter()
        .filter(|p| p.expectation == paybridge_sandbox::storefront::Expectation::Approve)
        .nth(n)
        .expect("enough approved orders are planned");
    let placed = env.storefront.place(&plan).await.unwrap();
    assert_eq!(placed.http_status, 201, "{}", placed.response);
    plan.reference
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_watches_runs_fixes_a_mapping_and_replays_a_dead_letter_in_the_browser() {
    crate::helpers::install_tls();
    let Some(browser) = Driver::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let env = DemoEnvironment::start(&DemoOptions {
        orders: 40,
        seed: 7,
        data_dir: Some(dir.path().to_path_buf()),
        concurrency: 1,
        workers: 2,
        flows_env: Some("dev".into()),
        ..DemoOptions::default()
    })
    .await
    .unwrap();
    let console = env.app.url().join("console").unwrap().to_string();
    let (_, token) = Tokens::new(env.app.engine.store().clone(), env.app.engine.clock)
        .create("ops", Role::Admin)
        .await
        .unwrap();

    // An anonymous visitor is sent to sign in, and back where they were going after.
    browser.go(&format!("{console}/runs")).await;
    assert!(
        browser
            .url()
            .await
            .contains("/console/login?next=%2Fconsole%2Fruns"),
        "{}",
        browser.url().await
    );
    browser.type_into("#token", "pb_wrong", false).await;
    browser.click_to_page("#sign-in").await;
    assert!(browser.text("#login-error").await.contains("not valid"));
    browser.screenshot("login", 1280).await;
    browser
        .type_into("#token", token.expose_secret(), true)
        .await;
    browser.click_to_page("#sign-in").await;
    assert!(
        browser.url().await.ends_with("/console/runs"),
        "{}",
        browser.url().await
    );

    // A demo order's run appears on the open runs page and succeeds (server-sent events).
    let reference = place(&env, 0).await;
    assert!(!reference.is_empty());
    browser
        .until(
            "the order's run appearing and succeeding",
            "return Array.from(document.querySelectorAll('tr.run')).some(r => r.textContent.includes('order-to-cash') && r.dataset.status === 'succeeded');",
            json!([]),
            false,
        )
        .await;
    browser.screenshot("runs", 1280).await;
    browser.go(&console).await;
    browser
        .until(
            "the overview counting it",
            "return document.querySelector('#stat-orders').textContent.trim() !== '0';",
            json!([]),
            true,
        )
        .await;
    browser.screenshot("overview", 1280).await;
    browser.screenshot("overview-phone", 390).await;
    browser
        .fits_a_phone(
            &[
                "",
                "/runs",
                "/dead-letters",
                "/flows",
                "/flows/order-to-cash",
                "/connections",
            ]
            .map(|page| format!("{console}{page}")),
        )
        .await;
    browser.go(&console).await;

    // Zoho CRM refuses the next write (a permanent 400): the order's run is a dead letter.
    env.zoho.faults().add(FaultRule::next(
        "POST",
        "/crm/v8/",
        FaultMode::ErrorBefore { status: 400 },
        1,
    ));
    let _failing = place(&env, 1).await;
    browser.go(&format!("{console}/dead-letters")).await;
    browser
        .until(
            "the dead letter",
            "return document.querySelector('td.cause-cell') !== null;",
            json!([]),
            true,
        )
        .await;
    assert!(
        browser.text("td.cause-cell").await.contains("HTTP 400"),
        "{}",
        browser.text("td.cause-cell").await
    );
    browser.screenshot("dead-letters", 1280).await;
    browser.click_to_page("tbody tr td a").await;
    let dead_run = browser.url().await;
    assert!(
        browser
            .text("#cause")
            .await
            .contains("fix the data or the flow's mapping")
    );
    browser.screenshot("run", 1280).await;

    // The mapping is changed in the editor; the preview follows; a broken expression is shown
    // at its field, and the fix deployed to the environment this node runs.
    browser.go(&format!("{console}/flows/order-to-cash")).await;
    let first_name = "textarea.expr[data-step='crm_contact'][data-field='First_Name']";
    browser
        .until(
            "the first preview",
            "return document.querySelector('#preview .preview-step') !== null;",
            json!([]),
            false,
        )
        .await;
    assert!(
        browser
            .text("#preview")
            .await
            .contains("\"First_Name\": \"Ada\""),
        "{}",
        browser.text("#preview").await
    );
    browser
        .type_into(first_name, "event.order.customer.first_name.(", true)
        .await;
    browser
        .until(
            "the error at the field",
            "const e = document.querySelector(\".field-error[data-for='crm_contact/First_Name']\"); return e !== null && e.textContent.length > 0;",
            json!([]),
            false,
        )
        .await;
    assert_eq!(
        browser
            .script(
                "return document.querySelector('#deploy').disabled;",
                json!([])
            )
            .await,
        true
    );
    browser
        .type_into(
            first_name,
            "event.order.customer.first_name.trim().to_upper()",
            true,
        )
        .await;
    browser
        .until("the preview changing", "return document.querySelector('#preview').textContent.includes('\"First_Name\": \"ADA\"');", json!([]), false)
        .await;
    browser.screenshot("flow-editor", 1280).await;
    browser.click_to_page("#deploy").await;
    let notice = browser.text("#notice").await;
    assert!(
        notice.contains("Deployed to dev") && notice.contains("This node runs it now"),
        "{notice}"
    );

    // Replayed from the console, the dead letter succeeds on the fixed mapping.
    browser.go(&dead_run).await;
    browser.click_to_page("#replay").await;
    browser.click_to_page("#confirm").await;
    assert!(browser.text("#notice").await.contains("Replayed"));
    browser
        .until(
            "the replayed run succeeding",
            "return document.querySelector('#run-status').textContent.trim() === 'succeeded';",
            json!([]),
            true,
        )
        .await;
    let steps = browser.text("ol.timeline").await;
    assert!(steps.contains("\"First_Name\": \""), "{steps}");
    // The replay ran the fixed mapping: the CRM contact's first name went in upper case.
    let crm_contact = browser
        .script(
            "return Array.from(document.querySelectorAll('ol.timeline li')).filter(li => li.textContent.includes('crm_contact')).map(li => li.textContent).join('');",
            json!([]),
        )
        .await;
    let crm_contact = crm_contact.as_str().unwrap();
    let first_name = crm_contact
        .split("\"First_Name\": \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default();
    assert!(
        !first_name.is_empty() && first_name == first_name.to_uppercase(),
        "{crm_contact}"
    );

    browser.go(&format!("{console}/connections")).await;
    browser.click_to_page("#test-zoho").await;
    assert!(
        browser.text("#notice").await.contains("zoho: OK"),
        "{}",
        browser.text("#notice").await
    );
    assert_eq!(browser.text("#status-zoho").await, "ok");
    browser.screenshot("connections", 1280).await;

    let _ = browser.call(reqwest::Method::DELETE, "", None).await;
    env.stop().await.unwrap();
}
