//! Nonces precomputed on Envoy's main thread for the workers.
//!
//! A worker VM that precomputes its own nonces only moves the base-point
//! multiplication off a request's latency: a saturated worker still pays
//! for it. The same module loaded once more as a singleton `WasmService`
//! (same `vm_id`) runs on the main thread, which is idle in a busy proxy,
//! and keeps a proxy-wasm shared queue filled with nonces that workers take
//! when their own pool is empty. Each queue entry is a batch, so a worker
//! pays one host call per [`BATCH`] signatures.
//!
//! The queue is unbounded in Envoy, so the producer bounds it: it counts
//! what it queued, the workers add what they take to a shared-data counter
//! ([`TAKEN_KEY`]), and the producer tops the difference up to its depth.
//!
//! A producer whose queue is full has nothing to do and ticks only once a
//! second. Workers that take a batch wake it through a second queue it
//! registered ([`WAKE_QUEUE_NAME`]): Envoy calls the producer's
//! `on_queue_ready` on the main thread, and it ticks every 10 ms again
//! until the queue is full.
//!
//! Every nonce leaves the queue once (Envoy pops it under a lock) and is
//! used for one signature. The queue is as secret as the signing key: a
//! nonce and a signature made with it give the key away. Shared queues and
//! data are scoped by `vm_id`, the same trust boundary as the shared token
//! slots (SECURITY.md).

use std::time::Duration;

use signed_headers_keys::PrecomputedNonce;
use zeroize::Zeroizing;

use crate::config::{ConfigError, Fields, count, document, in_range, whole_number};
use crate::data::json::Json;

/// The queue's name; the version changes if the entry format does.
pub const QUEUE_NAME: &str = "signed-headers.nonces.v1";
/// The queue workers write to after taking a batch, to wake the producer
/// (each entry one byte, meaning nothing).
pub const WAKE_QUEUE_NAME: &str = "signed-headers.nonces.v1.wake";
/// Shared-data key of how many nonces the workers took (u64, little endian).
pub const TAKEN_KEY: &str = "signed-headers.nonces.v1.taken";
/// Nonces per queue entry.
pub const BATCH: usize = 16;

/// Nonces the producer computes together, at most (queued as entries of
/// [`BATCH`]): their `k·G`s share one inversion per digit, which pays more
/// the more share it (`fixed_base::AFFINE_BATCH`; 32 cost about a tenth
/// less per nonce than 16, BENCHMARKS.md, "Inversions of our own, affine
/// sums in batches"), and a tick's budget still bounds the batch.
pub const COMPUTED_TOGETHER: usize = 2 * BATCH;

pub const DEFAULT_QUEUE_DEPTH: usize = 4096;
const QUEUE_DEPTH_RANGE: std::ops::RangeInclusive<usize> = BATCH..=1_048_576;
pub const DEFAULT_MAIN_THREAD_PERCENT: u64 = 80;
const MAIN_THREAD_PERCENT_RANGE: std::ops::RangeInclusive<u64> = 1..=90;

/// What the producer was configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerSettings {
    /// Nonces kept queued (64 bytes each in Envoy's memory).
    pub queue_depth: usize,
    /// At most this share of each timer tick is spent computing, so the main
    /// thread still serves the admin interface, xDS and health checks.
    pub main_thread_percent: u64,
}

impl ProducerSettings {
    /// `Ok(None)` unless `json` is an object with a `nonce_producer` key:
    /// then it is the producer's configuration and nothing else.
    pub fn parse(json: &[u8]) -> Result<Option<Self>, ConfigError> {
        let Ok(Json::Object(object)) = document(json) else {
            return Ok(None);
        };
        let Some(producer) = object.get("nonce_producer") else {
            return Ok(None);
        };
        Fields::of_object(&object, &["nonce_producer"])?;
        let (queue_depth, main_thread_percent) =
            written_producer(producer).map_err(|error| error.within("nonce_producer"))?;
        Ok(Some(Self {
            queue_depth: in_range(
                "nonce_producer.queue_depth",
                queue_depth,
                DEFAULT_QUEUE_DEPTH,
                QUEUE_DEPTH_RANGE,
            )?,
            main_thread_percent: in_range(
                "nonce_producer.main_thread_percent",
                main_thread_percent,
                DEFAULT_MAIN_THREAD_PERCENT,
                MAIN_THREAD_PERCENT_RANGE,
            )?,
        }))
    }
}

/// `nonce_producer`'s fields as written: the queue depth and the main
/// thread's share.
fn written_producer(producer: &Json) -> Result<(Option<usize>, Option<u64>), ConfigError> {
    let fields = Fields::of(producer, &["queue_depth", "main_thread_percent"])?;
    Ok((
        fields.read("queue_depth", count)?,
        fields.read("main_thread_percent", whole_number)?,
    ))
}

/// How many nonces the producer has queued that nobody took yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backlog {
    queued: u64,
    /// The workers' counter when the producer started: taken before that
    /// came from no queue of this producer's.
    taken_at_start: u64,
}

impl Backlog {
    pub fn new(taken_at_start: u64) -> Self {
        Self {
            queued: 0,
            taken_at_start,
        }
    }

    pub fn queued(&mut self, nonces: usize) {
        self.queued = self.queued.saturating_add(nonces as u64);
    }

    /// Nonces to compute for the queue to hold `depth`, given the workers'
    /// counter now.
    pub fn missing(&self, depth: usize, taken: u64) -> usize {
        let taken = taken.saturating_sub(self.taken_at_start);
        let waiting = self.queued.saturating_sub(taken);
        (depth as u64).saturating_sub(waiting) as usize
    }
}

/// Sizes the producer's batches so that a tick stays within its budget: a
/// batch of 32 takes about 4 ms in V8, more than a small budget allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pacer {
    /// What one nonce took lately (a moving average).
    per_nonce: Duration,
}

impl Default for Pacer {
    fn default() -> Self {
        // About what V8 on a 2-core VM took; corrected after the first batch.
        Self {
            per_nonce: Duration::from_micros(150),
        }
    }
}

impl Pacer {
    /// How many nonces to compute next, `missing` being wanted and
    /// `remaining` left of this tick's budget: 0 ends the tick. The first
    /// batch of a tick has at least one, so an estimate gone wrong (a clock
    /// jump) is corrected by the next observation instead of stopping the
    /// producer for good.
    pub fn next_batch(&self, missing: usize, remaining: Duration, first_of_tick: bool) -> usize {
        let fit = remaining.as_nanos() / self.per_nonce.as_nanos().max(1);
        let fit = usize::try_from(fit).unwrap_or(usize::MAX);
        let fit = if first_of_tick { fit.max(1) } else { fit };
        missing.min(COMPUTED_TOGETHER).min(fit)
    }

    /// `nonces` took `took`.
    pub fn observe(&mut self, nonces: usize, took: Duration) {
        if let Some(each) = u32::try_from(nonces)
            .ok()
            .filter(|n| *n > 0)
            .map(|n| took / n)
        {
            self.per_nonce = self.per_nonce.saturating_mul(3).saturating_add(each) / 4;
        }
    }
}

/// One queue entry: the nonces' bytes back to back (wiped when dropped).
pub fn encode_batch(nonces: &[PrecomputedNonce]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(nonces.len() * PrecomputedNonce::BYTES));
    for nonce in nonces {
        out.extend_from_slice(&nonce.to_bytes()[..]);
    }
    out
}

/// The nonces of one queue entry; an entry of another length, or one that
/// holds a value that is no nonce, yields none at all.
pub fn decode_batch(entry: &[u8]) -> Vec<PrecomputedNonce> {
    if entry.is_empty() || !entry.len().is_multiple_of(PrecomputedNonce::BYTES) {
        return Vec::new();
    }
    entry
        .chunks_exact(PrecomputedNonce::BYTES)
        .map(PrecomputedNonce::from_bytes)
        .collect::<Option<Vec<_>>>()
        .unwrap_or_default()
}

/// The workers' counter as stored; absent or malformed reads as 0.
pub fn decode_taken(value: Option<&[u8]>) -> u64 {
    value
        .and_then(|bytes| <[u8; 8]>::try_from(bytes).ok())
        .map_or(0, u64::from_le_bytes)
}

pub fn encode_taken(taken: u64) -> [u8; 8] {
    taken.to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn producer_configuration_is_recognised_and_validated() {
        assert_eq!(ProducerSettings::parse(b"{}").unwrap(), None);
        assert_eq!(ProducerSettings::parse(b"").unwrap(), None);
        assert_eq!(ProducerSettings::parse(br#"{"issuer":"x"}"#).unwrap(), None);
        assert_eq!(
            ProducerSettings::parse(br#"{"nonce_producer":{}}"#).unwrap(),
            Some(ProducerSettings {
                queue_depth: DEFAULT_QUEUE_DEPTH,
                main_thread_percent: DEFAULT_MAIN_THREAD_PERCENT,
            })
        );
        let written =
            serde_json::json!({"nonce_producer":{"queue_depth":64,"main_thread_percent":20}});
        // As JSON text, and written as a google.protobuf.Struct.
        for configuration in [
            written.to_string().into_bytes(),
            crate::data::value::encode::structure(written.as_object().unwrap()),
        ] {
            assert_eq!(
                ProducerSettings::parse(&configuration).unwrap(),
                Some(ProducerSettings {
                    queue_depth: 64,
                    main_thread_percent: 20,
                })
            );
        }
        for bad in [
            r#"{"nonce_producer":{"queue_depth":1}}"#,
            r#"{"nonce_producer":{"main_thread_percent":0}}"#,
            r#"{"nonce_producer":{"main_thread_percent":100}}"#,
            r#"{"nonce_producer":{"depth":64}}"#,
            r#"{"nonce_producer":{},"issuer":"x"}"#,
            r#"{"nonce_producer":7}"#,
            r#"{"nonce_producer":null}"#,
            r#"{"nonce_producer":{"queue_depth":"x"}}"#,
        ] {
            let error = ProducerSettings::parse(bad.as_bytes()).unwrap_err();
            assert!(
                error.to_string().contains("nonce_producer"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn backlog_tops_up_to_the_depth() {
        let mut backlog = Backlog::new(100);
        assert_eq!(backlog.missing(64, 100), 64);
        backlog.queued(48);
        assert_eq!(backlog.missing(64, 100), 16);
        // Workers took 32 of them.
        assert_eq!(backlog.missing(64, 132), 48);
        backlog.queued(48);
        assert_eq!(backlog.missing(64, 132), 0);
        // A counter that lost a race to another worker can lag, never
        // make the producer queue past the depth.
        assert_eq!(backlog.missing(64, 0), 0);
        // More taken than queued (a counter from before): nothing waits.
        assert_eq!(backlog.missing(64, 1_000), 64);
    }

    #[test]
    fn the_pacer_keeps_a_tick_within_its_budget() {
        let mut pacer = Pacer::default();
        let ms = Duration::from_millis;
        // 150 µs a nonce assumed: 8 ms fits a full batch, 1 ms six nonces.
        assert_eq!(pacer.next_batch(4096, ms(8), false), COMPUTED_TOGETHER);
        assert_eq!(pacer.next_batch(4096, ms(1), false), 6);
        assert_eq!(pacer.next_batch(3, ms(8), false), 3);
        assert_eq!(pacer.next_batch(4096, Duration::from_micros(100), false), 0);
        assert_eq!(pacer.next_batch(0, ms(8), false), 0);
        // Slower than assumed: smaller batches.
        for _ in 0..20 {
            pacer.observe(10, ms(5));
        }
        assert_eq!(pacer.next_batch(4096, ms(1), false), 2);
        pacer.observe(0, ms(5));
        assert_eq!(pacer.next_batch(4096, ms(1), false), 2);
        // A clock jump makes one batch look endless: the next tick still
        // computes one nonce, and a normal observation recovers.
        pacer.observe(1, Duration::MAX);
        assert_eq!(pacer.next_batch(4096, ms(8), false), 0);
        assert_eq!(pacer.next_batch(4096, ms(8), true), 1);
        assert_eq!(pacer.next_batch(0, ms(8), true), 0);
        for _ in 0..200 {
            pacer.observe(1, Duration::from_micros(150));
        }
        assert_eq!(pacer.next_batch(4096, ms(8), false), COMPUTED_TOGETHER);
    }

    #[test]
    fn batches_round_trip_and_malformed_entries_yield_nothing() {
        let nonces: Vec<_> = (0..3)
            .map(|_| PrecomputedNonce::generate().unwrap())
            .collect();
        let entry = encode_batch(&nonces);
        assert_eq!(entry.len(), 3 * PrecomputedNonce::BYTES);
        let decoded = decode_batch(&entry);
        assert_eq!(decoded.len(), 3);
        for (original, copy) in nonces.iter().zip(&decoded) {
            assert_eq!(original.to_bytes()[..], copy.to_bytes()[..]);
        }
        assert!(decode_batch(&entry[1..]).is_empty());
        assert!(decode_batch(&[]).is_empty());
        let mut one_bad = entry.to_vec();
        one_bad[PrecomputedNonce::BYTES..2 * PrecomputedNonce::BYTES].fill(0);
        assert!(decode_batch(&one_bad).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_entry_decodes_to_whole_nonces_or_none(
            entry in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)
        ) {
            let nonces = decode_batch(&entry);
            proptest::prop_assert!(
                nonces.is_empty() || nonces.len() * PrecomputedNonce::BYTES == entry.len()
            );
        }
    }

    #[test]
    fn taken_counter_encoding() {
        assert_eq!(decode_taken(None), 0);
        assert_eq!(decode_taken(Some(b"short")), 0);
        assert_eq!(decode_taken(Some(&encode_taken(123_456))), 123_456);
    }
}
