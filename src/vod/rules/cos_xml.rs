//! The COS XML bodies of the multipart upload (protocol.md §5.3), as one
//! set of types with one writer (`to_xml`) and one reader (`parse`) each:
//! the apply client writes [`CompleteMultipartUpload`] and reads the
//! others, `vodfs serve` does the reverse.
//!
//! Design decisions:
//! - The reader is a tag scanner, not an XML parser: it finds the first
//!   `<Name>…</Name>` (in a `<Part>` block for lists), decodes the five
//!   predefined entities, and never panics; elements may come in any order.
//!   A missing or unreadable required element makes `parse` answer `None`.
//! - ETags are carried as lower-case hex without quotes; the writer puts
//!   them in quotes as COS does (`<ETag>"…"</ETag>`), the reader strips
//!   quotes (raw or `&quot;`) and lower-cases.
//! - Bodies carry no XML declaration; [`DECLARATION`] is for responses.

/// What the service puts before every XML response body.
pub const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// `s` with the five predefined XML entities escaped.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The inverse of [`escape`].
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The text of the first `<name>…</name>` in `xml`, entities decoded.
pub fn tag(xml: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&close)? + start;
    Some(unescape(&xml[start..end]))
}

/// Every `<name>…</name>` block of `xml`; `None` when one is not closed.
fn blocks<'a>(xml: &'a str, name: &str) -> Option<Vec<&'a str>> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let end = rest[i..].find(&close)? + i;
        out.push(&rest[i..end]);
        rest = &rest[end + close.len()..];
    }
    Some(out)
}

fn number<T: std::str::FromStr>(block: &str, name: &str) -> Option<T> {
    tag(block, name)?.trim().parse().ok()
}

fn etag(block: &str) -> Option<String> {
    Some(
        tag(block, "ETag")?
            .trim()
            .trim_matches('"')
            .to_ascii_lowercase(),
    )
}

/// The answer to `POST /<key>?uploads`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitiateMultipartUploadResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
}

impl InitiateMultipartUploadResult {
    pub fn to_xml(&self) -> String {
        format!(
            "<InitiateMultipartUploadResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId></InitiateMultipartUploadResult>",
            escape(&self.bucket),
            escape(&self.key),
            escape(&self.upload_id)
        )
    }

    /// `None` without a non-empty UploadId (Bucket and Key may be absent).
    pub fn parse(xml: &str) -> Option<Self> {
        Some(InitiateMultipartUploadResult {
            bucket: tag(xml, "Bucket").unwrap_or_default(),
            key: tag(xml, "Key").unwrap_or_default(),
            upload_id: tag(xml, "UploadId").filter(|s| !s.is_empty())?,
        })
    }
}

/// One part named in a [`CompleteMultipartUpload`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletePart {
    pub number: u32,
    /// Lower-case hex MD5, no quotes.
    pub etag: String,
}

/// The body of `POST /<key>?uploadId=…`: the parts to join, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CompleteMultipartUpload {
    pub parts: Vec<CompletePart>,
}

impl CompleteMultipartUpload {
    pub fn to_xml(&self) -> String {
        let mut xml = String::from("<CompleteMultipartUpload>");
        for p in &self.parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag></Part>",
                p.number,
                escape(&p.etag)
            ));
        }
        xml.push_str("</CompleteMultipartUpload>");
        xml
    }

    /// `None` when a `<Part>` is unclosed or lacks a number or ETag.
    pub fn parse(xml: &str) -> Option<Self> {
        let parts = blocks(xml, "Part")?
            .into_iter()
            .map(|b| {
                Some(CompletePart {
                    number: number(b, "PartNumber")?,
                    etag: etag(b)?,
                })
            })
            .collect::<Option<_>>()?;
        Some(CompleteMultipartUpload { parts })
    }
}

/// The answer to a completed multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompleteMultipartUploadResult {
    pub location: String,
    pub bucket: String,
    pub key: String,
    /// The object's ETag as stored, quotes included (`"<md5>-<n>"`).
    pub etag: String,
}

impl CompleteMultipartUploadResult {
    pub fn to_xml(&self) -> String {
        format!(
            "<CompleteMultipartUploadResult><Location>{}</Location><Bucket>{}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
            escape(&self.location),
            escape(&self.bucket),
            escape(&self.key),
            escape(&self.etag)
        )
    }
}

/// One part a [`ListPartsResult`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    pub number: u32,
    /// Lower-case hex MD5, no quotes.
    pub etag: String,
    pub size: u64,
}

/// The answer to `GET /<key>?uploadId=…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListPartsResult {
    pub bucket: String,
    pub key: String,
    pub upload_id: String,
    pub parts: Vec<ListedPart>,
}

impl ListPartsResult {
    pub fn to_xml(&self) -> String {
        let mut xml = format!(
            "<ListPartsResult><Bucket>{}</Bucket><Key>{}</Key><UploadId>{}</UploadId>",
            escape(&self.bucket),
            escape(&self.key),
            escape(&self.upload_id)
        );
        for p in &self.parts {
            xml.push_str(&format!(
                "<Part><PartNumber>{}</PartNumber><ETag>\"{}\"</ETag><Size>{}</Size></Part>",
                p.number,
                escape(&p.etag),
                p.size
            ));
        }
        xml.push_str("</ListPartsResult>");
        xml
    }

    /// `None` when a `<Part>` is unclosed or lacks its number, ETag or size.
    pub fn parse(xml: &str) -> Option<Self> {
        let parts = blocks(xml, "Part")?
            .into_iter()
            .map(|b| {
                Some(ListedPart {
                    number: number(b, "PartNumber")?,
                    etag: etag(b)?,
                    size: number(b, "Size")?,
                })
            })
            .collect::<Option<_>>()?;
        let head = xml.split("<Part>").next().unwrap_or("");
        Some(ListPartsResult {
            bucket: tag(head, "Bucket").unwrap_or_default(),
            key: tag(head, "Key").unwrap_or_default(),
            upload_id: tag(head, "UploadId").unwrap_or_default(),
            parts,
        })
    }
}

/// One open upload a [`ListMultipartUploadsResult`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUpload {
    pub key: String,
    pub upload_id: String,
    /// Unix seconds.
    pub initiated: u64,
}

/// The answer to `GET /?uploads`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListMultipartUploadsResult {
    pub bucket: String,
    pub uploads: Vec<ListedUpload>,
}

impl ListMultipartUploadsResult {
    pub fn to_xml(&self) -> String {
        let mut xml = format!(
            "<ListMultipartUploadsResult><Bucket>{}</Bucket>",
            escape(&self.bucket)
        );
        for u in &self.uploads {
            xml.push_str(&format!(
                "<Upload><Key>{}</Key><UploadId>{}</UploadId><Initiated>{}</Initiated></Upload>",
                escape(&u.key),
                escape(&u.upload_id),
                u.initiated
            ));
        }
        xml.push_str("</ListMultipartUploadsResult>");
        xml
    }
}

/// A COS error answer's body.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Error {
    pub code: String,
    pub message: String,
    pub resource: String,
    pub request_id: String,
}

impl Error {
    pub fn to_xml(&self) -> String {
        format!(
            "<Error><Code>{}</Code><Message>{}</Message><Resource>{}</Resource><RequestId>{}</RequestId></Error>",
            escape(&self.code),
            escape(&self.message),
            escape(&self.resource),
            escape(&self.request_id)
        )
    }

    /// Whatever of Code and Message the body has (empty when absent: an
    /// error answer need not be XML at all).
    pub fn parse(xml: &str) -> Self {
        Error {
            code: tag(xml, "Code").unwrap_or_default(),
            message: tag(xml, "Message").unwrap_or_default(),
            resource: tag(xml, "Resource").unwrap_or_default(),
            request_id: tag(xml, "RequestId").unwrap_or_default(),
        }
    }
}

#[cfg(test)]
#[path = "cos_xml_tests.rs"]
mod tests;
