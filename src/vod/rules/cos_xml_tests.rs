use super::*;

#[test]
fn list_parts_reads_what_the_service_and_cos_write() {
    let x = r#"<ListPartsResult><UploadId>ab&amp;c</UploadId><Part><PartNumber>1</PartNumber><ETag>"AB12"</ETag><Size>5</Size></Part><Part><PartNumber>2</PartNumber><ETag>&quot;cd&quot;</ETag><Size>3</Size></Part></ListPartsResult>"#;
    let l = ListPartsResult::parse(x).unwrap();
    assert_eq!(l.upload_id, "ab&c");
    assert_eq!(
        l.parts,
        vec![
            ListedPart {
                number: 1,
                etag: "ab12".into(),
                size: 5
            },
            ListedPart {
                number: 2,
                etag: "cd".into(),
                size: 3
            }
        ]
    );
    assert_eq!(ListPartsResult::parse("<x/>").unwrap().parts, vec![]);
    assert!(ListPartsResult::parse("<Part><PartNumber>x</PartNumber></Part>").is_none());
    assert!(ListPartsResult::parse("<Part><PartNumber>1</PartNumber>").is_none());
    assert_eq!(tag("<a>", "a"), None);
    assert_eq!(ListPartsResult::parse(&l.to_xml()).unwrap(), l);
}

#[test]
fn complete_body_round_trips_in_any_element_order() {
    let x = "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;AB&quot;</ETag></Part><Part><ETag>\"cd\"</ETag><PartNumber>2</PartNumber></Part></CompleteMultipartUpload>";
    let c = CompleteMultipartUpload::parse(x).unwrap();
    let numbers: Vec<_> = c
        .parts
        .iter()
        .map(|p| (p.number, p.etag.as_str()))
        .collect();
    assert_eq!(numbers, vec![(1, "ab"), (2, "cd")]);
    assert_eq!(CompleteMultipartUpload::parse(&c.to_xml()).unwrap(), c);
    assert!(CompleteMultipartUpload::parse("<Part><PartNumber>x</PartNumber></Part>").is_none());
    assert_eq!(
        CompleteMultipartUpload::parse("garbage").unwrap().parts,
        vec![]
    );
}

#[test]
fn initiate_and_error_round_trip() {
    let i = InitiateMultipartUploadResult {
        bucket: "b-1".into(),
        key: "a/<b>&'c'.mp4".into(),
        upload_id: "0f".into(),
    };
    assert_eq!(
        InitiateMultipartUploadResult::parse(&i.to_xml()).unwrap(),
        i
    );
    assert!(InitiateMultipartUploadResult::parse("<UploadId></UploadId>").is_none());
    let e = Error {
        code: "NoSuchUpload".into(),
        message: "the \"upload\" does not exist".into(),
        resource: "/a".into(),
        request_id: "1".into(),
    };
    assert_eq!(Error::parse(&e.to_xml()), e);
    assert_eq!(Error::parse("<html>"), Error::default());
}

proptest::proptest! {
    #[test]
    fn readers_never_panic(x in "\\PC{0,200}") {
        let _ = CompleteMultipartUpload::parse(&x);
        let _ = ListPartsResult::parse(&x);
        let _ = InitiateMultipartUploadResult::parse(&x);
        let _ = Error::parse(&x);
        let wrapped = format!("<Part><PartNumber>{x}</PartNumber><ETag>{x}</ETag><Size>{x}</Size></Part>");
        let _ = CompleteMultipartUpload::parse(&wrapped);
        let _ = ListPartsResult::parse(&wrapped);
    }

    #[test]
    fn text_survives_escaping(s in "\\PC{0,60}") {
        proptest::prop_assert_eq!(unescape(&escape(&s)), s);
    }
}

fn listed_part() -> impl proptest::strategy::Strategy<Value = ListedPart> {
    use proptest::prelude::*;
    (1u32..=10_000, "[0-9a-f]{32}", 0u64..(5 << 30)).prop_map(|(number, etag, size)| ListedPart {
        number,
        etag,
        size,
    })
}

proptest::proptest! {
    /// What one side writes, the other reads back unchanged.
    #[test]
    fn lists_and_completions_round_trip(
        parts in proptest::collection::vec(listed_part(), 0..20),
        key in "\\PC{0,40}",
    ) {
        let list = ListPartsResult {
            bucket: "b-1250000000".into(),
            key,
            upload_id: "0f".into(),
            parts: parts.clone(),
        };
        proptest::prop_assert_eq!(ListPartsResult::parse(&list.to_xml()), Some(list));
        let complete = CompleteMultipartUpload {
            parts: parts
                .into_iter()
                .map(|p| CompletePart { number: p.number, etag: p.etag })
                .collect(),
        };
        proptest::prop_assert_eq!(CompleteMultipartUpload::parse(&complete.to_xml()), Some(complete));
    }
}
