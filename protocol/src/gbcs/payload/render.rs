//! JSON rendering state: matches encrypted blocks met while walking a payload with the block
//! list the encoder recorded (same order), and shows caller-supplied plaintexts in place.

use std::ops::Range;

use serde_json::{Value, json};

use super::block::{EncryptedBlock, SECURITY_HEADER, TAG_LEN, looks_encrypted};
use super::data::Data;
use crate::hex;

/// Plaintexts of decrypted blocks: the block's ciphertext range (or its whole range, security
/// header to tag) in content offsets, and the plaintext.
pub(crate) type Decrypted = [(Range<usize>, Vec<u8>)];

/// State for one JSON rendering pass.
#[derive(Debug)]
pub(crate) struct Render<'d> {
    blocks: Vec<EncryptedBlock>,
    next: usize,
    decrypted: &'d Decrypted,
}

impl Render<'static> {
    /// No block positions and no plaintexts (rendering a fragment on its own).
    pub(crate) fn plain() -> Self {
        Render {
            blocks: Vec::new(),
            next: 0,
            decrypted: &[],
        }
    }
}

impl<'d> Render<'d> {
    /// Rendering with the blocks of the whole payload, in encoding order.
    pub(crate) fn new(blocks: Vec<EncryptedBlock>, decrypted: &'d Decrypted) -> Self {
        Render {
            blocks,
            next: 0,
            decrypted,
        }
    }

    fn take_block(&mut self) -> Option<EncryptedBlock> {
        let b = self.blocks.get(self.next).cloned();
        self.next += 1;
        b
    }

    fn plaintext(&self, b: &EncryptedBlock) -> Option<&'d [u8]> {
        self.decrypted
            .iter()
            .find(|(r, _)| *r == b.ciphertext || *r == b.range())
            .map(|(_, p)| p.as_slice())
    }

    fn describe(&mut self, header: &[u8], ciphertext: &[u8], tag: &[u8], dlms: bool) -> Value {
        let mut o = json!({
            "security_header": hex::encode(header),
            "ciphertext": hex::encode(ciphertext),
            "tag": hex::encode(tag),
        });
        if let Some(b) = self.take_block() {
            let r = |r: &Range<usize>| json!([r.start, r.end]);
            o["ranges"] = json!({
                "length_field": r(&b.length_field),
                "security_header": r(&b.security_header),
                "ciphertext": r(&b.ciphertext),
                "tag": r(&b.tag),
            });
            if let Some(p) = self.plaintext(&b) {
                o["plaintext"] = json!(hex::encode(p));
                if dlms && let Ok(d) = Data::decode(p) {
                    o["plaintext_data"] = d.to_json();
                }
            }
        }
        o
    }

    /// The `encrypted` member for a DLMS octet-string, if its value is a block.
    pub(crate) fn dlms_block(&mut self, v: &[u8]) -> Option<Value> {
        if !looks_encrypted(v) {
            return None;
        }
        let (header, rest) = v.split_at(SECURITY_HEADER.len());
        let (ct, tag) = rest.split_at(rest.len() - TAG_LEN);
        Some(self.describe(header, ct, tag, true))
    }

    /// The description of an encrypted GBZ component body.
    pub(crate) fn gbz_block(&mut self, ciphertext: &[u8], tag: &[u8]) -> Value {
        self.describe(&SECURITY_HEADER, ciphertext, tag, false)
    }
}
