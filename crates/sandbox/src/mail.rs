//! A mail sink: an SMTP server on loopback that accepts every message (RFC 5321's happy path,
//! with `AUTH PLAIN` and `STARTTLS` refused) and keeps it, for tests and the demo to read what
//! paybridge sent — alerts, and e-mails to customers.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A message as the sink received it.
#[derive(Debug, Clone, Default)]
pub struct Mail {
    /// The `AUTH PLAIN` argument, when the client authenticated.
    pub auth: Option<String>,
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent: headers, a blank line, the body (transfer-encoded as the client
    /// chose).
    pub data: String,
}

impl Mail {
    /// A header's value (the first, unfolded), by name in any case.
    pub fn header(&self, name: &str) -> Option<String> {
        let mut lines = self.data.lines().take_while(|l| !l.is_empty()).peekable();
        while let Some(line) = lines.next() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            if key.eq_ignore_ascii_case(name) {
                let mut value = value.trim().to_string();
                while let Some(next) = lines.peek().filter(|l| l.starts_with([' ', '\t'])) {
                    value.push(' ');
                    value.push_str(next.trim());
                    lines.next();
                }
                return Some(value);
            }
        }
        None
    }

    /// The body after the headers, with quoted-printable soft breaks and `=XX` escapes undone
    /// when the message says it is quoted-printable.
    pub fn body(&self) -> String {
        let body = self
            .data
            .split_once("\n\n")
            .map(|(_, body)| body)
            .unwrap_or_default();
        let quoted = self
            .header("Content-Transfer-Encoding")
            .is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
        if !quoted {
            return body.to_string();
        }
        let joined = body.replace("=\n", "");
        let bytes = joined.as_bytes();
        let mut out = Vec::with_capacity(bytes.len());
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'='
                && let Some(hex) = joined.get(i + 1..i + 3)
                && let Ok(byte) = u8::from_str_radix(hex, 16)
            {
                out.push(byte);
                i += 3;
                continue;
            }
            out.push(bytes[i]);
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    }
}

/// A running sink.
pub struct MailSink {
    addr: SocketAddr,
    inbox: Arc<Mutex<Vec<Mail>>>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for MailSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailSink")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Drop for MailSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MailSink {
    /// Listens on `127.0.0.1`, on a port of the system's choosing.
    pub async fn start() -> std::io::Result<MailSink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let inbox: Arc<Mutex<Vec<Mail>>> = Arc::default();
        let kept = inbox.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(session(socket, kept.clone()));
            }
        });
        Ok(MailSink { addr, inbox, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every message received so far, in order.
    pub fn messages(&self) -> Vec<Mail> {
        self.inbox
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

async fn session(socket: tokio::net::TcpStream, inbox: Arc<Mutex<Vec<Mail>>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    if write
        .write_all(b"220 localhost ESMTP paybridge mail sink\r\n")
        .await
        .is_err()
    {
        return;
    }
    let mut mail = Mail::default();
    while let Ok(Some(line)) = lines.next_line().await {
        let upper = line.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            b"250-localhost\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n"
        } else if upper.starts_with("AUTH PLAIN") {
            mail.auth = line.split_whitespace().nth(2).map(str::to_string);
            b"235 2.7.0 Authentication successful\r\n"
        } else if upper.starts_with("MAIL FROM:") {
            mail.from = line[10..].trim().to_string();
            b"250 OK\r\n"
        } else if upper.starts_with("RCPT TO:") {
            mail.to.push(line[8..].trim().to_string());
            b"250 OK\r\n"
        } else if upper == "DATA" {
            if write.write_all(b"354 go ahead\r\n").await.is_err() {
                return;
            }
            let mut data = String::new();
            while let Ok(Some(line)) = lines.next_line().await {
                if line == "." {
                    break;
                }
                // Dot-stuffing (RFC 5321 §4.5.2).
                data.push_str(line.strip_prefix('.').unwrap_or(&line));
                data.push('\n');
            }
            mail.data = data;
            inbox
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(std::mem::take(&mut mail));
            b"250 queued\r\n"
        } else if upper == "QUIT" {
            let _ = write.write_all(b"221 bye\r\n").await;
            return;
        } else if upper == "RSET" {
            mail = Mail::default();
            b"250 OK\r\n"
        } else {
            b"250 OK\r\n"
        };
        if write.write_all(reply).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_unfold_and_quoted_printable_bodies_decode() {
        let mail = Mail {
            data: "Subject: Your order\n  WEB-1\nContent-Transfer-Encoding: quoted-printable\n\nCaf=C3=A9 =\nau lait\n"
                .into(),
            ..Mail::default()
        };
        assert_eq!(mail.header("subject").as_deref(), Some("Your order WEB-1"));
        assert_eq!(mail.body(), "Café au lait\n");
    }
}
