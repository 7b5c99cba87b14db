//! The strict XML reader, canonicalisation, the XML-DSig profile checks and the DUIS model
//! reader on arbitrary bytes: never panic. Inclusive C14N of a whole document must also be
//! idempotent (the canonical form, read back, canonicalises to itself), and the compact
//! writer's output must read back as the same tree.
#![no_main]

use std::borrow::Cow;
use std::sync::OnceLock;

use hubgate_protocol::crypto::VerifyingKey;
use hubgate_protocol::duis::{c14n, dsig, reader, xml};
use libfuzzer_sys::fuzz_target;

const LIMITS: xml::Limits = xml::Limits {
    max_bytes: 1 << 16,
    max_depth: 32,
    max_nodes: 4096,
};

/// The P-256 base point as an uncompressed SEC1 point: a valid public key that no fuzz input
/// holds a signature for, so verification runs through the profile checks and the digest.
const BASE_POINT: [u8; 65] = [
    0x04, 0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4, 0x40,
    0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45, 0xd8, 0x98, 0xc2,
    0x96, 0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f, 0x9e,
    0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68, 0x37, 0xbf, 0x51,
    0xf5,
];

fn key() -> &'static dsig::ResolvedCert<'static> {
    static KEY: OnceLock<dsig::ResolvedCert<'static>> = OnceLock::new();
    KEY.get_or_init(|| dsig::ResolvedCert {
        key: Cow::Owned(VerifyingKey::from_sec1_point(&BASE_POINT).expect("P-256 base point")),
        label: Cow::Borrowed("fuzz"),
        issuer: Some(Cow::Borrowed("CN=Z1,OU=07")),
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = xml::parse(data, &LIMITS) else {
        return;
    };

    let mut inclusive = Vec::new();
    c14n::inclusive(&doc.root, &mut inclusive);
    let mut exclusive = Vec::new();
    c14n::exclusive(&doc.root, &mut exclusive);

    match xml::parse(&inclusive, &xml::Limits::default()) {
        Ok(again) => {
            let mut twice = Vec::new();
            c14n::inclusive(&again.root, &mut twice);
            assert_eq!(
                String::from_utf8_lossy(&twice),
                String::from_utf8_lossy(&inclusive),
                "inclusive C14N is not idempotent"
            );
        }
        Err(e) => panic!(
            "inclusive C14N output is refused by the reader: {e}\n{}",
            String::from_utf8_lossy(&inclusive)
        ),
    }

    // The compact writer promises that its output reads back as the same tree.
    let written = doc.to_xml_string();
    match xml::parse(written.as_bytes(), &xml::Limits::default()) {
        Ok(again) => assert_eq!(
            again, doc,
            "written document reads back differently:\n{written}"
        ),
        Err(e) => panic!("written document is refused by the reader: {e}\n{written}"),
    }

    let _ = dsig::verify_document(&doc, dsig::KeySource::Explicit(key()), true);
    let _ = reader::read_request(&doc);
    let _ = reader::read_response(&doc);
});
