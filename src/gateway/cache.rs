//! The read-response cache: rendered answers of expensive reads (`health`,
//! `/metrics`, `sessions.list` pages) kept for a short TTL in an LRU bounded
//! by entries and bytes, with an ETag for `If-None-Match`.
//!
//! The loop is single-threaded, so identical requests arriving together are
//! computed once: the first renders and stores, the rest of the turn (and of
//! the TTL) is answered from the entry. Writes invalidate by key prefix.

use std::rc::Rc;
use std::time::{Duration, Instant};

pub struct Entry {
    at: Instant,
    ttl: Duration,
    pub body: Rc<str>,
    pub etag: Rc<str>,
}

#[derive(Debug, Default, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub invalidations: u64,
    pub evictions: u64,
    pub entries: usize,
    pub bytes: usize,
    pub not_modified: u64,
}

pub struct ResponseCache {
    lru: hashlink::LruCache<String, Entry>,
    bytes: usize,
    max_bytes: usize,
    pub stats: CacheStats,
}

/// A strong ETag from the body (FNV-1a 64: cheap, and collisions only cost
/// a client a stale 304 inside one TTL).
pub fn etag_of(body: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in body {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{h:016x}-{:x}\"", body.len())
}

fn entry_bytes(key: &str, e: &Entry) -> usize {
    key.len() + e.body.len() + e.etag.len() + crate::config::CACHE_ENTRY_OVERHEAD
}

impl ResponseCache {
    pub fn new(entries: usize, max_bytes: usize) -> ResponseCache {
        ResponseCache {
            lru: hashlink::LruCache::new(entries.max(1)),
            bytes: 0,
            max_bytes,
            stats: CacheStats::default(),
        }
    }

    pub fn reconfigure(&mut self, entries: usize, max_bytes: usize) {
        self.max_bytes = max_bytes;
        self.lru.set_capacity(entries.max(1));
        self.recount();
        self.evict_to_fit(0);
    }

    fn recount(&mut self) {
        self.bytes = self.lru.iter().map(|(k, e)| entry_bytes(k, e)).sum();
    }

    /// A fresh entry (counted as a hit), or `None` (a miss; an expired
    /// entry is dropped).
    pub fn get(&mut self, key: &str, now: Instant) -> Option<(Rc<str>, Rc<str>)> {
        let fresh = match self.lru.get(key) {
            Some(e) if now.saturating_duration_since(e.at) < e.ttl => {
                Some((e.body.clone(), e.etag.clone()))
            }
            Some(_) => {
                if let Some(old) = self.lru.remove(key) {
                    self.bytes -= entry_bytes(key, &old);
                }
                None
            }
            None => None,
        };
        match fresh {
            Some(v) => {
                self.stats.hits += 1;
                Some(v)
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Stores a rendered answer; returns its ETag. A zero TTL stores nothing.
    pub fn put(&mut self, key: &str, body: String, ttl: Duration, now: Instant) -> Rc<str> {
        let etag: Rc<str> = etag_of(body.as_bytes()).into();
        if ttl.is_zero() {
            return etag;
        }
        let e = Entry {
            at: now,
            ttl,
            body: body.into(),
            etag: etag.clone(),
        };
        let size = entry_bytes(key, &e);
        if size > self.max_bytes {
            return etag;
        }
        if let Some(old) = self.lru.remove(key) {
            self.bytes -= entry_bytes(key, &old);
        }
        self.evict_to_fit(size);
        // At the entry cap, insert evicts the least recent itself.
        if self.lru.len() >= self.lru.capacity() {
            if let Some((k, old)) = self.lru.remove_lru() {
                self.bytes -= entry_bytes(&k, &old);
                self.stats.evictions += 1;
            }
        }
        self.bytes += size;
        self.lru.insert(key.to_string(), e);
        etag
    }

    fn evict_to_fit(&mut self, incoming: usize) {
        while self.bytes + incoming > self.max_bytes {
            match self.lru.remove_lru() {
                Some((k, old)) => {
                    self.bytes -= entry_bytes(&k, &old);
                    self.stats.evictions += 1;
                }
                None => break,
            }
        }
    }

    /// Drops every entry whose key starts with `prefix` (a write happened).
    pub fn invalidate(&mut self, prefix: &str) {
        let keys: Vec<String> = self
            .lru
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            if let Some(old) = self.lru.remove(&k) {
                self.bytes -= entry_bytes(&k, &old);
                self.stats.invalidations += 1;
            }
        }
    }

    /// Memory relief: everything goes.
    pub fn clear(&mut self) {
        self.stats.evictions += self.lru.len() as u64;
        self.lru.clear();
        self.bytes = 0;
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn view(&self) -> CacheStats {
        CacheStats {
            entries: self.lru.len(),
            bytes: self.bytes,
            ..self.stats.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_ttl_expiry_by_stepping_time() {
        let t0 = Instant::now();
        let mut c = ResponseCache::new(8, 1 << 20);
        let tag = c.put("health", "{}".into(), Duration::from_secs(1), t0);
        let (body, etag) = c.get("health", t0 + Duration::from_millis(999)).unwrap();
        assert_eq!((&*body, &*etag), ("{}", &*tag));
        assert!(c.get("health", t0 + Duration::from_secs(1)).is_none());
        assert_eq!((c.stats.hits, c.stats.misses), (1, 1));
        assert_eq!(c.bytes(), 0, "expired entry freed");
    }

    #[test]
    fn test_bounded_by_entries_and_bytes() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut c = ResponseCache::new(2, 1 << 20);
        for k in ["a", "b", "c"] {
            c.put(k, "x".into(), ttl, t0);
        }
        assert!(c.get("a", t0).is_none(), "least recent evicted");
        assert!(c.get("c", t0).is_some());
        let mut small = ResponseCache::new(100, 2000);
        small.put("big", "y".repeat(1500), ttl, t0);
        small.put("big2", "z".repeat(1500), ttl, t0);
        assert!(small.bytes() <= 2000);
        assert!(small.get("big", t0).is_none());
        small.put("huge", "w".repeat(5000), ttl, t0);
        assert!(small.get("huge", t0).is_none(), "larger than the cache");
    }

    #[test]
    fn test_invalidate_by_prefix() {
        let t0 = Instant::now();
        let ttl = Duration::from_secs(60);
        let mut c = ResponseCache::new(8, 1 << 20);
        c.put("sessions.list:{}", "1".into(), ttl, t0);
        c.put("sessions.list:{\"limit\":5}", "2".into(), ttl, t0);
        c.put("health", "3".into(), ttl, t0);
        c.invalidate("sessions.list:");
        assert!(c.get("sessions.list:{}", t0).is_none());
        assert!(c.get("health", t0).is_some());
        assert_eq!(c.stats.invalidations, 2);
    }

    #[test]
    fn test_etag_changes_with_body() {
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
        assert_eq!(etag_of(b"a"), etag_of(b"a"));
    }
}
