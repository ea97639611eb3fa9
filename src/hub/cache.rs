//! Per-format framing cached on a buffer entry or a fragment: built once, by the first consumer
//! that needs it, and shared by every other consumer of that format.
//!
//! The cache has a few slots and no field per format: an output keys its framing by its own type
//! (`FlvFraming`, `RtmpChunks`, a TS segment, ...), so a new output caches its framing without
//! touching the buffer. Lookups are lock-free: each slot is a [`OnceLock`] that the first format
//! to arrive claims; a format scans the slots for its own type. Two consumers that race to build
//! the same framing may both build it; one result is kept and both return it. When every slot is
//! taken by other formats the value is built and handed to the caller without being cached.

use std::any::Any;
use std::sync::OnceLock;

/// How many formats one entry caches at most (FLV, RTMP and TS use three today).
const SLOTS: usize = 4;

type Cached = Box<dyn Any + Send + Sync>;

/// The cache of one buffer entry or fragment.
#[derive(Default)]
pub struct FormatCache {
    slots: [OnceLock<Cached>; SLOTS],
}

impl std::fmt::Debug for FormatCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let used = self.slots.iter().filter(|s| s.get().is_some()).count();
        write!(f, "FormatCache({used}/{SLOTS} slots)")
    }
}

impl FormatCache {
    /// The cached `T`, if some consumer built it already.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<&T> {
        self.slots
            .iter()
            .filter_map(OnceLock::get)
            .find_map(|c| c.downcast_ref::<T>())
    }

    /// Calls `f` with the cached `T`, building it with `build` the first time.
    pub fn with<T: Any + Send + Sync, R>(
        &self,
        build: impl FnOnce() -> T,
        f: impl FnOnce(&T) -> R,
    ) -> R {
        if let Some(v) = self.get::<T>() {
            return f(v);
        }
        let mut value: Option<Cached> = Some(Box::new(build()));
        for slot in &self.slots {
            if let Some(mine) = value.take() {
                value = slot.set(mine).err();
            }
            // Whoever filled the slot, it holds a `T` if our value or a racing twin went in.
            if let Some(v) = slot.get().and_then(|c| c.downcast_ref::<T>()) {
                return f(v);
            }
        }
        // Every slot holds another format: serve this one uncached.
        match value.as_ref().and_then(|c| c.downcast_ref::<T>()) {
            Some(v) => f(v),
            None => unreachable!("our value is still ours when no slot took it"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[derive(Debug, PartialEq)]
    struct A(u32);
    #[derive(Debug, PartialEq)]
    struct B(&'static str);

    #[test]
    fn builds_once_per_format() {
        let cache = FormatCache::default();
        let builds = AtomicUsize::new(0);
        let build = || {
            builds.fetch_add(1, Ordering::Relaxed);
            A(7)
        };
        assert_eq!(cache.with(build, |a| a.0), 7);
        assert_eq!(cache.with(|| A(8), |a| a.0), 7, "the first build is kept");
        assert_eq!(builds.load(Ordering::Relaxed), 1);
        assert_eq!(cache.with(|| B("b"), |b| b.0), "b");
        assert_eq!(cache.get::<A>(), Some(&A(7)));
        assert_eq!(cache.get::<B>(), Some(&B("b")));
        assert_eq!(cache.get::<u8>(), None);
    }

    #[test]
    fn a_full_cache_still_serves() {
        let cache = FormatCache::default();
        cache.with(|| 1u8, |_| ());
        cache.with(|| 2u16, |_| ());
        cache.with(|| 3u32, |_| ());
        cache.with(|| 4u64, |_| ());
        assert_eq!(cache.with(|| A(5), |a| a.0), 5);
        assert_eq!(cache.get::<A>(), None, "no slot was left");
        assert_eq!(cache.with(|| 9u32, |v| *v), 3);
    }

    #[test]
    fn racing_builders_agree() {
        let cache = Arc::new(FormatCache::default());
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let c = cache.clone();
                std::thread::spawn(move || (c.with(|| A(i), |a| a.0), c.with(|| B("x"), |b| b.0)))
            })
            .collect();
        let seen: Vec<(u32, &str)> = threads
            .into_iter()
            .map(|t| t.join().expect("thread"))
            .collect();
        assert!(seen.iter().all(|s| *s == seen[0]), "{seen:?}");
        let used = cache.slots.iter().filter(|s| s.get().is_some()).count();
        assert_eq!(used, 2, "one slot per format");
    }
}
