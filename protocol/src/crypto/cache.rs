//! A bounded, concurrent cache of ECDH shared secrets.

use std::sync::atomic::{AtomicU64, Ordering};

use dashmap::DashMap;

use super::{CryptoError, DerivedKey, KeyAgreementKey, KeyId, OtherInfo, PeerKey, SharedSecret};

/// Default number of cached key pairs (about 100 bytes each).
pub const DEFAULT_CAPACITY: usize = 100_000;

/// Caches what is expensive in GBCS key derivation.
///
/// A derived key depends on the local private key, the peer public key and the OtherInfo
/// (originator, mode, counter, recipient). Every message carries a new counter, so a cache of
/// final keys would almost never hit across messages. What does repeat is the pair of keys:
/// the ACB and a device, or a supplier and a device. So the cache keeps the ECDH shared secret
/// Z per (local private key, peer public key), which is the expensive part (≈ 50 µs), and
/// [`DerivedKeyCache::derive`] always runs the cheap KDF (one SHA-256 and an AES key schedule,
/// well under a microsecond) on top of it.
///
/// The size is bounded: when the cache is full, inserting evicts an arbitrary entry, so memory
/// stays within `capacity` entries whatever the traffic. Secrets are not zeroised on
/// eviction.
#[derive(Debug)]
pub struct DerivedKeyCache {
    secrets: DashMap<(KeyId, KeyId), SharedSecret>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
}

/// Counters of a [`DerivedKeyCache`], for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CacheStats {
    /// Lookups that found the shared secret.
    pub hits: u64,
    /// Lookups that had to run ECDH.
    pub misses: u64,
    /// Entries dropped to stay within capacity.
    pub evictions: u64,
    /// Entries held now.
    pub entries: usize,
}

impl DerivedKeyCache {
    /// A cache holding at most `capacity` key pairs (at least 1).
    pub fn new(capacity: usize) -> Self {
        DerivedKeyCache {
            secrets: DashMap::new(),
            capacity: capacity.max(1),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
            evictions: AtomicU64::new(0),
        }
    }

    /// The shared secret Z between `local` and `peer`, from the cache or by running ECDH.
    pub fn shared_secret(
        &self,
        local: &KeyAgreementKey,
        peer: &PeerKey,
    ) -> Result<SharedSecret, CryptoError> {
        let k = (local.public_key_id(), peer.id());
        if let Some(z) = self.secrets.get(&k) {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(*z);
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let z = local.agree(peer)?;
        if self.secrets.len() >= self.capacity {
            self.evict_one();
        }
        self.secrets.insert(k, z);
        Ok(z)
    }

    /// The AES key for `other_info` between `local` and `peer`: cached Z, then the KDF.
    pub fn derive(
        &self,
        local: &KeyAgreementKey,
        peer: &PeerKey,
        other_info: &OtherInfo,
    ) -> Result<DerivedKey, CryptoError> {
        let z = self.shared_secret(local, peer)?;
        Ok(super::derive_key(&z, other_info))
    }

    /// Number of cached key pairs.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The maximum number of cached key pairs.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Drops every entry (for example after a key was revoked).
    pub fn clear(&self) {
        self.secrets.clear();
    }

    /// Current counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: self.secrets.len(),
        }
    }

    fn evict_one(&self) {
        // Copy the key out and drop the shard guard before removing, or `remove` would wait
        // on the lock this thread holds.
        let victim = self.secrets.iter().next().map(|e| *e.key());
        if let Some(k) = victim
            && self.secrets.remove(&k).is_some()
        {
            self.evictions.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Default for DerivedKeyCache {
    fn default() -> Self {
        Self::new(DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    fn pair() -> (KeyAgreementKey, PeerKey) {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let kp =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        (
            KeyAgreementKey::from_der(pkcs8.as_ref()).unwrap(),
            PeerKey::from_bytes(kp.public_key().as_ref()).unwrap(),
        )
    }

    #[test]
    fn hits_after_first_use_and_derives_like_uncached() {
        let (a, _) = pair();
        let (_, pb) = pair();
        let cache = DerivedKeyCache::new(8);
        let oi = OtherInfo::new(&[1; 8], 1, 42, &[2; 8]);
        let k1 = cache.derive(&a, &pb, &oi).unwrap();
        let k2 = cache.derive(&a, &pb, &oi).unwrap();
        let direct = crate::crypto::derive_key(&a.agree(&pb).unwrap(), &oi);
        assert_eq!(k1.as_bytes(), direct.as_bytes());
        assert_eq!(k2.as_bytes(), direct.as_bytes());
        // A different counter changes the key but reuses Z.
        let k3 = cache
            .derive(&a, &pb, &OtherInfo::new(&[1; 8], 1, 43, &[2; 8]))
            .unwrap();
        assert_ne!(k3.as_bytes(), k1.as_bytes());
        let s = cache.stats();
        assert_eq!((s.hits, s.misses, s.entries), (2, 1, 1));
    }

    #[test]
    fn stays_within_capacity() {
        let (a, _) = pair();
        let cache = DerivedKeyCache::new(3);
        for _ in 0..10 {
            let (_, p) = pair();
            cache.shared_secret(&a, &p).unwrap();
            assert!(cache.len() <= 3);
        }
        assert_eq!(cache.stats().evictions, 7);
        cache.clear();
        assert!(cache.is_empty());
    }
}
