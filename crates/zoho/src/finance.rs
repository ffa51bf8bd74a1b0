//! What Zoho Books and Zoho Inventory share (zoho.md §2.1, §3): one finance organization named
//! by `organization_id` on every call, the `{code, message, <entity>}` envelope in which any
//! non-zero `code` is an error whatever the HTTP status, `page`/`per_page` pagination with
//! `page_context`, upserts by a unique custom field, and one budget per organization.

use futures::stream::{self, BoxStream, StreamExt as _, TryStreamExt as _};
use http::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer as _};

use crate::client::{Answer, Call, Client, Host, Meter};
use crate::error::Error;
use crate::quota::Product;

/// Books' and Inventory's largest page (§2.1).
pub const PER_PAGE: usize = 200;

/// One organization through one of the two front-ends.
#[derive(Debug, Clone)]
pub(crate) struct Finance {
    pub client: Client,
    pub organization_id: String,
    /// `/books/v3` or `/inventory/v1`.
    pub base: &'static str,
}

/// A record named by a custom field configured "do not allow duplicate values" (§2.4): the
/// best idempotency key Books offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UniqueKey {
    /// The field's API name, e.g. `cf_paybridge_id`.
    pub api_name: String,
    pub value: String,
}

/// The result of an upsert: the record, and whether it was created (HTTP 201) or updated.
#[derive(Debug, Clone)]
pub struct Upserted<T> {
    pub record: T,
    pub created: bool,
}

#[derive(Debug, Deserialize)]
struct PageContext {
    #[serde(default)]
    has_more_page: bool,
}

/// Judges the Books/Inventory envelope: any non-zero `code` is an error whatever the HTTP
/// status, and a non-2xx status without a `code` is one too.
pub(crate) fn check_envelope(answer: &Answer) -> Result<(), Error> {
    #[derive(Deserialize)]
    struct Head {
        code: Option<i64>,
        message: Option<String>,
    }
    let head: Head =
        serde_json::from_slice(&answer.body).map_err(|e| Error::UnexpectedResponse {
            status: answer.status,
            problem: format!("not a Books answer: {e}"),
            excerpt: String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)])
                .into_owned(),
            write: answer.write,
        })?;
    let ok_status = (200..300).contains(&answer.status);
    match head.code {
        Some(0) if ok_status => Ok(()),
        code => Err(Error::Books {
            status: answer.status,
            code: code.unwrap_or(-1),
            message: head.message.unwrap_or_else(|| "no message".into()),
            write: answer.write,
        }),
    }
}

impl Finance {
    /// Sends one call and returns the checked answer.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        extra_query: &[(&str, &str)],
        headers: &[(&'static str, String)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, Error> {
        let mut query: Vec<(&str, &str)> = vec![("organization_id", self.organization_id.as_str())];
        query.extend_from_slice(extra_query);
        let path = format!("{}{path}", self.base);
        self.client
            .send(
                check_envelope,
                &Call {
                    host: Host::Api,
                    meter: Meter {
                        product: Product::Finance,
                        organization: &self.organization_id,
                        cost: 1,
                    },
                    method,
                    path: &path,
                    query: &query,
                    headers,
                    body,
                },
            )
            .await
    }

    /// Sends one call and takes `key` out of the envelope (the whole body when `key` is empty).
    pub async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&serde_json::Value>,
        key: &str,
    ) -> Result<T, Error> {
        let answer = self.send(method, path, query, &[], body).await?;
        extract(&answer, &[key])
    }

    /// `PUT <collection>` naming the record by a unique custom field; with `create`, Books
    /// makes a new record when none has the value.
    pub async fn upsert<T: DeserializeOwned>(
        &self,
        path: &str,
        key: &UniqueKey,
        create: bool,
        body: &serde_json::Value,
        entity: &str,
    ) -> Result<Upserted<T>, Error> {
        let headers = [
            ("X-Unique-Identifier-Key", key.api_name.clone()),
            ("X-Unique-Identifier-Value", key.value.clone()),
            ("X-Upsert", create.to_string()),
        ];
        let answer = self
            .send(Method::PUT, path, &[], &headers, Some(body))
            .await?;
        // The API files document 200 either way; the message tells a creation apart.
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            message: String,
        }
        let message = serde_json::from_slice::<Head>(&answer.body)
            .map(|h| h.message.to_ascii_lowercase())
            .unwrap_or_default();
        Ok(Upserted {
            created: answer.status == 201
                || message.contains("created")
                || message.contains("added"),
            record: extract(&answer, &[entity])?,
        })
    }

    /// Every row of a list, page by page, as they come.
    pub fn stream<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        filters: &[(&str, &str)],
        key: &'static str,
    ) -> BoxStream<'static, Result<T, Error>> {
        let this = self.clone();
        let path = path.to_string();
        let filters: Vec<(String, String)> = filters
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        stream::try_unfold(Some(1usize), move |page| {
            let this = this.clone();
            let path = path.clone();
            let filters = filters.clone();
            async move {
                let Some(page) = page else {
                    return Ok(None);
                };
                let (rows, more) = this.page::<T>(&path, &filters, key, page).await?;
                Ok::<_, Error>(Some((rows, more.then_some(page + 1))))
            }
        })
        .map_ok(|rows| stream::iter(rows.into_iter().map(Ok)))
        .try_flatten()
        .boxed()
    }

    /// Every row of a list.
    pub async fn list_all<T: DeserializeOwned + Send + 'static>(
        &self,
        path: &str,
        filters: &[(&str, &str)],
        key: &'static str,
    ) -> Result<Vec<T>, Error> {
        self.stream(path, filters, key).try_collect().await
    }

    async fn page<T: DeserializeOwned>(
        &self,
        path: &str,
        filters: &[(String, String)],
        key: &str,
        page: usize,
    ) -> Result<(Vec<T>, bool), Error> {
        let page = page.to_string();
        let per_page = PER_PAGE.to_string();
        let mut query: Vec<(&str, &str)> = filters
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        query.push(("page", &page));
        query.push(("per_page", &per_page));
        let answer = self.send(Method::GET, path, &query, &[], None).await?;
        let mut body: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&answer.body).map_err(|e| shape(&answer, key, &e))?;
        let more = body
            .remove("page_context")
            .map(serde_json::from_value::<PageContext>)
            .transpose()
            .map_err(|e| shape(&answer, "page_context", &e))?
            .is_some_and(|pc| pc.has_more_page);
        let rows = match body.remove(key) {
            Some(rows) => serde_json::from_value(rows).map_err(|e| shape(&answer, key, &e))?,
            None => Vec::new(),
        };
        Ok((rows, more))
    }
}

fn shape(answer: &Answer, key: &str, e: &serde_json::Error) -> Error {
    Error::UnexpectedResponse {
        status: answer.status,
        problem: format!(
            "unexpected shape for {}: {e}",
            if key.is_empty() { "the answer" } else { key }
        ),
        excerpt: String::from_utf8_lossy(&answer.body[..answer.body.len().min(200)]).into_owned(),
        write: answer.write,
    }
}

/// Takes the first of `keys` present out of the envelope, or the whole body when the key is
/// empty. Several keys cover names that differ between the API and its description (a sales
/// order is `salesorder` or `sales_order`). The rest of the envelope is skipped, not built.
pub(crate) fn extract<T: DeserializeOwned>(answer: &Answer, keys: &[&str]) -> Result<T, Error> {
    if keys.first().is_none_or(|k| k.is_empty()) {
        return serde_json::from_slice(&answer.body).map_err(|e| shape(answer, "", &e));
    }
    let picked = serde_json::Deserializer::from_slice(&answer.body)
        .deserialize_map(Pick::<T> {
            keys,
            picked: std::marker::PhantomData,
        })
        .map_err(|e| shape(answer, keys[0], &e))?;
    match picked {
        Some(value) => Ok(value),
        // None of the keys: as if the value were null (an `Option` reads as `None`).
        None => T::deserialize(serde_json::Value::Null).map_err(|e| shape(answer, keys[0], &e)),
    }
}

/// Reads an envelope's members, keeping the value of the first of `keys` (in their order).
struct Pick<'k, T> {
    keys: &'k [&'k str],
    picked: std::marker::PhantomData<T>,
}

impl<'de, T: DeserializeOwned> serde::de::Visitor<'de> for Pick<'_, T> {
    type Value = Option<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Option<T>, A::Error> {
        let mut best: Option<(usize, T)> = None;
        while let Some(rank) = map.next_key_seed(KeyRank(self.keys))? {
            match rank {
                Some(rank) if best.as_ref().is_none_or(|(kept, _)| rank < *kept) => {
                    best = Some((rank, map.next_value()?));
                }
                _ => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(best.map(|(_, value)| value))
    }
}

/// A member's name, read as its place among the wanted keys (without copying it).
struct KeyRank<'k>(&'k [&'k str]);

impl<'de> serde::de::DeserializeSeed<'de> for KeyRank<'_> {
    type Value = Option<usize>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl serde::de::Visitor<'_> for KeyRank<'_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<Option<usize>, E> {
        Ok(self.0.iter().position(|k| *k == name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn answer(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: Bytes::from(body.to_string()),
            write: true,
        }
    }

    #[test]
    fn non_zero_code_is_an_error_even_with_http_200() {
        let e =
            check_envelope(&answer(200, r#"{"code":1001,"message":"Invalid value"}"#)).unwrap_err();
        assert_eq!(e.books_code(), Some(1001));
        assert!(check_envelope(&answer(201, r#"{"code":0,"message":"ok"}"#)).is_ok());
        let dup = check_envelope(&answer(
            400,
            r#"{"code":3062,"message":"The customer \"Ada\" already exists. Please specify a different name."}"#,
        ))
        .unwrap_err();
        assert_eq!(dup.books_code(), Some(3062));
        assert!(dup.to_string().contains("already exists"));
    }

    #[test]
    fn alternative_keys_are_found() {
        let a = answer(201, r#"{"code":0,"message":"ok","sales_order":{"id":"1"}}"#);
        let v: serde_json::Value = extract(&a, &["salesorder", "sales_order"]).unwrap();
        assert_eq!(v["id"], "1");
    }

    #[test]
    fn the_first_key_wins_whatever_the_order_of_the_members() {
        let a = answer(
            201,
            r#"{"sales_order":{"id":"late"},"code":0,"list":[1,{"a":"\"x"}],"salesorder":{"id":"first"}}"#,
        );
        let v: serde_json::Value = extract(&a, &["salesorder", "sales_order"]).unwrap();
        assert_eq!(v["id"], "first");
        let v: serde_json::Value = extract(&a, &["sales_order"]).unwrap();
        assert_eq!(v["id"], "late");
    }

    #[test]
    fn a_missing_key_reads_as_null() {
        #[derive(Debug, Deserialize)]
        struct Invoice {
            invoice_id: String,
        }
        let found = answer(200, r#"{"code":0,"invoice":{"invoice_id":"9"}}"#);
        assert_eq!(
            extract::<Invoice>(&found, &["invoice"]).unwrap().invoice_id,
            "9"
        );
        let a = answer(200, r#"{"code":0,"message":"ok"}"#);
        let none: Option<Invoice> = extract(&a, &["invoice"]).unwrap();
        assert!(none.is_none());
        let e = extract::<Invoice>(&a, &["invoice"]).unwrap_err();
        assert!(
            e.to_string().contains("unexpected shape for invoice"),
            "{e}"
        );
        let broken = answer(200, r#"{"code":0,"invoice":{"invoice_id":7}}"#);
        let e = extract::<Invoice>(&broken, &["invoice"]).unwrap_err();
        assert!(e.to_string().contains("invoice"), "{e}");
    }
}
