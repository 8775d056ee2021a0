//! The parameters of a v2/v3 request (`Params`): the query string, or the
//! form body of a vod.api-style POST, percent-decoded in received order, and
//! the typed reads the families need (required, integer, tags). Also the
//! decoded fields inside a UGC signature. Imports only `error.rs`.

use super::error::{ServerError, bad};
use crate::vod::rules::settings::MAX_TAGS;

type Result<T> = std::result::Result<T, ServerError>;

/// Decoded request parameters, in received order.
#[derive(Debug, Clone, Default)]
pub struct Params {
    pub pairs: Vec<(String, String)>,
}

impl Params {
    /// Percent-decodes a query or form string (`+` is a space).
    pub fn parse(raw: &[u8]) -> Params {
        Params {
            pairs: url::form_urlencoded::parse(raw)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn req(&self, name: &str) -> Result<&str> {
        self.get(name)
            .ok_or_else(|| ServerError::MissingParam(name.to_string()))
    }

    pub fn u64(&self, name: &str) -> Result<u64> {
        self.req(name)?
            .trim()
            .parse()
            .map_err(|_| bad(name, "must be an unsigned integer"))
    }

    pub fn opt_i64(&self, name: &str) -> Result<Option<i64>> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| bad(name, "must be an integer"))
            })
            .transpose()
    }

    /// `tags.N`, `tag.N` or `tags_N` values in order of N.
    pub fn tags(&self) -> Vec<String> {
        let mut tags: Vec<(u32, String)> = self
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let n = k
                    .strip_prefix("tags.")
                    .or_else(|| k.strip_prefix("tag."))
                    .or_else(|| k.strip_prefix("tags_"))?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        tags.sort();
        tags.into_iter().map(|(_, v)| v).take(MAX_TAGS).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tags_in_order() {
        let p = Params::parse(b"tags.2=b&tag.1=a&x=1&tags_3=c&tags.x=no");
        assert_eq!(p.tags(), vec!["a", "b", "c"]);
        assert!(matches!(p.u64("x"), Ok(1)));
        assert!(matches!(p.u64("y"), Err(ServerError::MissingParam(_))));
        assert!(matches!(p.u64("tags.2"), Err(ServerError::BadParam { .. })));
    }

    proptest! {
        #[test]
        fn query_parser_never_panics(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
            let p = Params::parse(&raw);
            for name in ["fileSize", "offset", "classId"] {
                match p.u64(name) {
                    Ok(_) | Err(ServerError::MissingParam(_)) | Err(ServerError::BadParam { .. }) => {}
                    Err(e) => prop_assert!(false, "undocumented error {e}"),
                }
                let _ = p.opt_i64(name);
            }
            let _ = p.tags();
        }
    }
}
