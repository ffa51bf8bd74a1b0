//! Logging: human-readable or JSON lines on stderr, filtered by `RUST_LOG` when it is set.
//!
//! Every line goes through [`Redacting`] on its way out: whatever a message, a field or a
//! request line holds — a card number, a webhook's `?token=`, a bearer credential — is masked
//! before it is written (`paybridge_model::secrets::redact_line`). Code keeps secrets out of
//! what it logs; this is the guard for what it does not foresee (at `RUST_LOG=debug` the HTTP
//! layer logs every request's URL).

use std::io::Write;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Installs the global subscriber; `default_filter` applies when `RUST_LOG` is unset.
pub fn init(format: LogFormat, default_filter: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(Redacting(std::io::stderr));
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(e) = result {
        eprintln!("logging is already set up: {e}");
    }
}

/// A writer maker whose writers hold each event's text and write it redacted, whole.
#[derive(Debug, Clone, Copy)]
pub struct Redacting<M>(pub M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = RedactedLine<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedLine {
            inner: self.0.make_writer(),
            line: Vec::new(),
        }
    }
}

/// One event's text, written redacted when the formatter is done with it.
pub struct RedactedLine<W: Write> {
    inner: W,
    line: Vec<u8>,
}

impl<W: Write> RedactedLine<W> {
    fn write_out(&mut self) -> std::io::Result<()> {
        if self.line.is_empty() {
            return Ok(());
        }
        let text = String::from_utf8_lossy(&self.line);
        let clean = paybridge_model::secrets::redact_line(&text);
        self.line.clear();
        self.inner.write_all(clean.as_bytes())
    }
}

impl<W: Write> Write for RedactedLine<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.write_out()?;
        self.inner.flush()
    }
}

impl<W: Write> Drop for RedactedLine<W> {
    fn drop(&mut self) {
        let _ = self.write_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Whatever code logs — a request line with a webhook's token, a card number in a
    /// message, a bearer credential in a field — reaches the output redacted.
    #[test]
    fn every_line_is_written_redacted() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(Redacting(move || sink.clone()))
            .with_max_level(tracing::Level::DEBUG)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(
                uri = "/webhooks/zoho/books?token=tok-9f8e7d&organization_id=1",
                "started processing request"
            );
            tracing::warn!(
                header = "Bearer pb_live_secret",
                "refused card 4111 1111 1111 1111"
            );
            tracing::info!(uri = "/webhooks/zoho/desk?secret=desk-secret-0123", "done");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        for secret in [
            "tok-9f8e7d",
            "pb_live_secret",
            "4111 1111 1111 1111",
            "desk-secret-0123",
        ] {
            assert!(!text.contains(secret), "{secret} written: {text}");
        }
        assert!(text.contains("organization_id=1"), "{text}");
        assert_eq!(text.lines().count(), 3, "{text}");
    }
}
