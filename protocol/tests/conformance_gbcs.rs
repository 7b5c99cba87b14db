//! GBCS authentication over the whole shared RTDS corpus, against the independent oracle's
//! `gbcs/expected.csv`: signature and MAC verdicts, signer and key-pair labels, decrypted
//! blocks, negative controls, and rebuilding every Command from its Pre-Command.
//!
//! Run with `--nocapture` to see the totals.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::Path;

use hubgate_protocol::crypto::DerivedKeyCache;
use hubgate_protocol::gbcs::auth::{
    self, MacVerdict, SignatureVerdict, TEST_ACB, build_command, build_command_with_signature,
    decrypt_blocks, verify_mac, verify_signature,
};
use hubgate_protocol::gbcs::{self, SignatureField};
use hubgate_protocol::smki::Store;
use hubgate_protocol::{conformance, hex};

fn read_hex(path: &Path) -> Vec<u8> {
    hex::decode(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn flip(bytes: &[u8], at: usize) -> Vec<u8> {
    let mut b = bytes.to_vec();
    b[at] ^= 0x01;
    b
}

#[derive(Debug, Default)]
struct Totals {
    files: usize,
    verdicts: HashMap<String, usize>,
    signatures_verified: usize,
    macs_valid: usize,
    mac_no_key: usize,
    blocks: usize,
    messages_with_blocks: usize,
    signature_flips_rejected: usize,
    mac_tag_flips_rejected: usize,
    mac_apdu_flips_rejected: usize,
    ciphertext_flips_rejected: usize,
    block_key_pairs: HashMap<String, usize>,
    commands_rebuilt: usize,
    own_signatures_verified: usize,
}

#[test]
fn rtds_corpus_matches_the_oracle() {
    let root = conformance::require();
    let store = Store::load_conformance(&root).unwrap();
    assert!(store.warnings().is_empty(), "{:?}", store.warnings());
    let cache = DerivedKeyCache::default();
    let exp = conformance::expected(&root).unwrap();
    let files = conformance::rtds_files(&root).unwrap();
    assert_eq!(
        files.len(),
        exp.len(),
        "corpus and expected.csv differ in size"
    );
    let rtds = root.join("gbcs/rtds");
    let mut t = Totals::default();

    for f in &files {
        let rel = f
            .strip_prefix(&rtds)
            .unwrap()
            .to_string_lossy()
            .replace('\\', "/");
        let row = &exp[&rel];
        let bytes = read_hex(f);
        let m = gbcs::parse(&bytes).unwrap_or_else(|e| panic!("{rel}: {e}"));
        t.files += 1;

        // Signature.
        let sig = verify_signature(&m, &store);
        assert_eq!(sig.name(), row.signature_result, "{rel}: signature");
        assert_eq!(
            sig.signer_label().unwrap_or(""),
            row.signer_cert,
            "{rel}: signer"
        );
        *t.verdicts.entry(format!("sig {}", sig.name())).or_default() += 1;
        if let SignatureVerdict::Verified { signer } = sig {
            t.signatures_verified += 1;
            let at = m.regions.signed.end - 1;
            let bad = flip(&bytes, at);
            let bm = gbcs::parse(&bad).unwrap();
            assert!(
                matches!(verify_signature(&bm, &store), SignatureVerdict::Failed),
                "{rel}: tampered signed bytes accepted"
            );
            assert!(
                signer
                    .verifying_key()
                    .verify(
                        bm.signed_bytes(),
                        match m.signature {
                            SignatureField::Present(s) => s,
                            _ => unreachable!(),
                        }
                    )
                    .is_err()
            );
            t.signature_flips_rejected += 1;
        }

        // MAC.
        let mac = verify_mac(&m, &store, &TEST_ACB, &cache).unwrap();
        assert_eq!(mac.name(), row.mac_result, "{rel}: MAC");
        assert_eq!(
            mac.key_pair_label().unwrap_or_default(),
            row.mac_key_pair,
            "{rel}: MAC key pair"
        );
        *t.verdicts.entry(format!("mac {}", mac.name())).or_default() += 1;
        match mac {
            MacVerdict::Valid { .. } => {
                t.macs_valid += 1;
                let tag = flip(&bytes, bytes.len() - 1);
                let tm = gbcs::parse(&tag).unwrap();
                assert!(
                    matches!(
                        verify_mac(&tm, &store, &TEST_ACB, &cache),
                        Ok(MacVerdict::Invalid)
                    ),
                    "{rel}: tampered MAC accepted"
                );
                t.mac_tag_flips_rejected += 1;
                let at = if m.regions.content.is_empty() {
                    m.regions.originator_counter.end - 1
                } else {
                    m.regions.content.end - 1
                };
                let apdu = flip(&bytes, at);
                let rejected = match gbcs::parse(&apdu) {
                    Ok(am) => matches!(
                        verify_mac(&am, &store, &TEST_ACB, &cache),
                        Ok(MacVerdict::Invalid)
                    ),
                    Err(_) => true,
                };
                assert!(rejected, "{rel}: tampered APDU accepted");
                t.mac_apdu_flips_rejected += 1;
            }
            MacVerdict::NoKey => t.mac_no_key += 1,
            _ => {}
        }

        // Encrypted blocks.
        let blocks = decrypt_blocks(&m, &store, &cache).unwrap();
        let decrypted: Vec<_> = blocks.iter().filter(|b| b.plaintext().is_some()).collect();
        assert_eq!(
            decrypted.len().to_string(),
            row.decrypted_blocks.to_string(),
            "{rel}: decrypted blocks"
        );
        assert_eq!(
            decrypted.len(),
            blocks.len(),
            "{rel}: a block did not decrypt"
        );
        if !decrypted.is_empty() {
            t.blocks += decrypted.len();
            t.messages_with_blocks += 1;
            for b in &decrypted {
                *t.block_key_pairs
                    .entry(b.key_pair_label().unwrap())
                    .or_default() += 1;
            }
            for b in &decrypted {
                let ct = b.block.ciphertext.clone();
                let at = if ct.is_empty() {
                    b.block.tag.start
                } else {
                    ct.end - 1
                };
                let bad = flip(&bytes, at);
                let bm = gbcs::parse(&bad).unwrap();
                let again = decrypt_blocks(&bm, &store, &cache).unwrap();
                let same = again
                    .iter()
                    .find(|x| x.block.ciphertext == b.block.ciphertext)
                    .map(|x| x.plaintext().is_some());
                assert_ne!(same, Some(true), "{rel}: tampered ciphertext decrypted");
            }
            t.ciphertext_flips_rejected += 1;
        }

        // Rebuild a Command from its Pre-Command.
        if rel.ends_with("_COMMAND_GBCS.HEX") && !rel.ends_with("_PRECOMMAND_GBCS.HEX") {
            let pre_path = f.with_file_name(
                f.file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace("_COMMAND_GBCS.HEX", "_PRECOMMAND_GBCS.HEX"),
            );
            if pre_path.exists() {
                let pre = read_hex(&pre_path);
                rebuild(&rel, &bytes, &pre, &m, &store, &cache, &mut t);
            }
        }
    }

    println!(
        "files {}, signatures verified {}, MACs valid {}, MAC no-key {}, blocks {} in {} messages",
        t.files,
        t.signatures_verified,
        t.macs_valid,
        t.mac_no_key,
        t.blocks,
        t.messages_with_blocks
    );
    println!(
        "negative controls rejected: signature {}, MAC tag {}, MAC APDU {}, ciphertext {} messages",
        t.signature_flips_rejected,
        t.mac_tag_flips_rejected,
        t.mac_apdu_flips_rejected,
        t.ciphertext_flips_rejected
    );
    println!(
        "commands rebuilt byte for byte from their Pre-Command: {}, with a fresh signature that \
         verifies: {}",
        t.commands_rebuilt, t.own_signatures_verified
    );
    let mut v: Vec<_> = t.verdicts.iter().collect();
    v.sort();
    println!("verdicts: {v:?}");
    let mut pairs: Vec<_> = t.block_key_pairs.iter().collect();
    pairs.sort();
    println!("decrypted blocks by key pair: {pairs:?}");
    println!("key cache: {:?}", cache.stats());

    // "Expected totals" of the oracle's README for the shared corpus.
    assert_eq!(t.files, 1021);
    assert_eq!(t.signatures_verified, 393);
    assert_eq!(t.macs_valid, 634);
    assert_eq!(t.mac_no_key, 4);
    assert_eq!((t.blocks, t.messages_with_blocks), (47, 32));
    let block_pairs = |private: &str, device: &str| {
        t.block_key_pairs
            .get(&format!("{private}-ka.key x 00db1234567890{device}-ka.pem"))
            .copied()
    };
    assert_eq!(block_pairs("90b3d51f30010000", "a1"), Some(26));
    assert_eq!(block_pairs("90b3d51f30010000", "a0"), Some(15));
    assert_eq!(block_pairs("90b3d51f30010000", "a3"), Some(3));
    assert_eq!(block_pairs("90b3d51f30030000", "a3"), Some(2));
    assert_eq!(block_pairs("90b3d51f30020000", "a0"), Some(1));
    assert_eq!(t.commands_rebuilt, 149);
    assert_eq!(t.own_signatures_verified, 149);
}

/// The RTDS Command equals the Pre-Command signed with the RTDS signature and MAC-wrapped with
/// the ACB key; signing afresh with the originator's DS key gives a Command whose signature
/// and MAC verify.
fn rebuild(
    rel: &str,
    command: &[u8],
    pre: &[u8],
    m: &gbcs::Message<'_>,
    store: &Store,
    cache: &DerivedKeyCache,
    t: &mut Totals,
) {
    let SignatureField::Present(rtds_sig) = m.signature else {
        panic!("{rel}: command with a Pre-Command but no signature");
    };
    let MacVerdict::Valid { private, public } = verify_mac(m, store, &TEST_ACB, cache).unwrap()
    else {
        panic!("{rel}: command MAC not valid");
    };
    let acb_ka = private.agreement_key().unwrap();
    let device_ka = public.peer_key();
    let same = build_command_with_signature(pre, rtds_sig, acb_ka, device_ka, cache).unwrap();
    assert_eq!(
        hex::encode(&same),
        hex::encode(command),
        "{rel}: rebuilt command differs"
    );
    t.commands_rebuilt += 1;

    let SignatureVerdict::Verified { signer } = verify_signature(m, store) else {
        panic!("{rel}: command signature not verified");
    };
    let user_ds = signer
        .signing_key()
        .unwrap_or_else(|| panic!("{rel}: no private key for {:?}", signer.public_label()));
    let fresh = build_command(pre, user_ds, acb_ka, device_ka, cache).unwrap();
    let fm = gbcs::parse(&fresh).unwrap();
    assert_eq!(fm.content, m.content, "{rel}");
    assert!(
        matches!(verify_signature(&fm, store), SignatureVerdict::Verified { signer: s } if s.id() == signer.id()),
        "{rel}: fresh signature does not verify"
    );
    assert!(
        matches!(
            verify_mac(&fm, store, &TEST_ACB, cache),
            Ok(MacVerdict::Valid { .. })
        ),
        "{rel}: fresh command MAC does not verify"
    );
    // The MAC over our own APDU is what the ACB key gives for it.
    let rewrapped = auth::mac_wrap(fm.apdu(), acb_ka, device_ka, cache).unwrap();
    assert_eq!(rewrapped, fresh);
    t.own_signatures_verified += 1;
}
