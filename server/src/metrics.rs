//! Prometheus metrics, kept in atomics and a small map, rendered as the text exposition format
//! (version 0.0.4) on `GET /metrics`.
//!
//! - `countersign_requests_total{route, status}`: every response.
//! - `countersign_verification_failures_total{code}`: authentication failures by wire code.
//! - `countersign_verification_seconds`: histogram of authentication time (signature, key
//!   lookup and body check).
//! - `countersign_key_cache_hits_total`, `countersign_key_cache_misses_total`.
//! - `countersign_upstream_seconds{route}`: histogram of gateway upstream latency (until the
//!   response headers).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::striped::{Padded, SLOTS, thread_slot};

/// Buckets per histogram.
const BUCKETS: usize = 10;

/// Histogram bucket upper bounds, in seconds.
const VERIFY_BUCKETS: [f64; BUCKETS] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025,
];
const UPSTREAM_BUCKETS: [f64; BUCKETS] =
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

/// A cumulative histogram over fixed buckets, kept in one shard per thread slot
/// ([`crate::striped`]) so that observing from several threads moves no cache line between
/// them; rendering sums the shards.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64; BUCKETS],
    shards: [Padded<Shard>; SLOTS],
}

/// One thread slot's counts (96 bytes: one padded line).
#[derive(Debug, Default)]
struct Shard {
    counts: [AtomicU64; BUCKETS],
    sum_nanos: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64; BUCKETS]) -> Self {
        Self {
            bounds,
            shards: Default::default(),
        }
    }

    fn observe(&self, elapsed: Duration) {
        let Some(Padded(shard)) = self.shards.get(thread_slot()) else {
            return;
        };
        let secs = elapsed.as_secs_f64();
        if let Some(i) = self.bounds.iter().position(|b| secs <= *b)
            && let Some(slot) = shard.counts.get(i)
        {
            slot.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        shard.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
        shard.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The sum of one counter over the shards.
    fn total(&self, counter: impl Fn(&Shard) -> &AtomicU64) -> u64 {
        self.shards
            .iter()
            .map(|Padded(shard)| counter(shard).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, bound) in self.bounds.iter().enumerate() {
            cumulative += self.total(|shard| &shard.counts[i]);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let total = self.total(|shard| &shard.count);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {total}");
        let sum = self.total(|shard| &shard.sum_nanos) as f64 / 1e9;
        let braces = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {total}");
    }
}

/// The fixed `route` label of a request (never the raw path: unbounded cardinality).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteLabel {
    /// `/livez`
    Livez,
    /// `/readyz`
    Readyz,
    /// `/metrics`
    Metrics,
    /// `/v1/whoami`
    Whoami,
    /// `/v1/auth/…`
    Auth,
    /// Any other `/v1/…` path (the admin API, or an unknown path).
    Admin,
    /// A gateway route.
    Gateway,
    /// Anything else.
    Other,
}

impl RouteLabel {
    const ALL: [Self; 8] = [
        Self::Livez,
        Self::Readyz,
        Self::Metrics,
        Self::Whoami,
        Self::Auth,
        Self::Admin,
        Self::Gateway,
        Self::Other,
    ];

    /// The label value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Livez => "livez",
            Self::Readyz => "readyz",
            Self::Metrics => "metrics",
            Self::Whoami => "whoami",
            Self::Auth => "auth",
            Self::Admin => "admin",
            Self::Gateway => "gateway",
            Self::Other => "other",
        }
    }
}

/// Status codes counted in the lock-free table: 100..=599 (HTTP allows up to 999; the rare
/// others go to a map).
const STATUS_MIN: u16 = 100;
const STATUS_SLOTS: usize = 500;

/// The server's metrics.
#[derive(Debug)]
pub struct Metrics {
    /// Responses by route and status, `STATUS_SLOTS` per route, counted without a lock.
    requests: Box<[AtomicU64]>,
    /// Responses whose status falls outside the table.
    unusual_requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    failures: Mutex<BTreeMap<&'static str, u64>>,
    verification: Histogram,
    /// One histogram per gateway route prefix, made at start (no lock per request).
    upstream: BTreeMap<String, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(std::iter::empty())
    }
}

impl Metrics {
    /// Metrics for a server whose gateway routes have these prefixes.
    pub fn new(upstream_prefixes: impl IntoIterator<Item = String>) -> Self {
        Self {
            requests: (0..RouteLabel::ALL.len() * STATUS_SLOTS)
                .map(|_| AtomicU64::new(0))
                .collect(),
            unusual_requests: Mutex::default(),
            failures: Mutex::default(),
            verification: Histogram::new(&VERIFY_BUCKETS),
            upstream: upstream_prefixes
                .into_iter()
                .map(|prefix| (prefix, Histogram::new(&UPSTREAM_BUCKETS)))
                .collect(),
        }
    }

    /// Counts a response for `route` (a fixed label such as `whoami`, `admin`, `gateway`).
    pub fn request(&self, route: RouteLabel, status: u16) {
        let slot = usize::from(status.wrapping_sub(STATUS_MIN));
        if let Some(counter) = (slot < STATUS_SLOTS)
            .then(|| self.requests.get(route as usize * STATUS_SLOTS + slot))
            .flatten()
        {
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut map = self
            .unusual_requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *map.entry((route.as_str(), status)).or_insert(0) += 1;
    }

    /// Counts an authentication failure by its wire code.
    pub fn verification_failure(&self, code: &'static str) {
        let mut map = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        *map.entry(code).or_insert(0) += 1;
    }

    /// Records how long an authentication took.
    pub fn verification_time(&self, elapsed: Duration) {
        self.verification.observe(elapsed);
    }

    /// Records an upstream's latency for a gateway route prefix.
    pub fn upstream_time(&self, prefix: &str, elapsed: Duration) {
        if let Some(histogram) = self.upstream.get(prefix) {
            histogram.observe(elapsed);
        }
    }

    /// The Prometheus text format; `cache` is the key cache's (hits, misses).
    pub fn render(&self, cache: (u64, u64)) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str("# HELP countersign_requests_total Responses by route and status.\n");
        out.push_str("# TYPE countersign_requests_total counter\n");
        let mut counted = BTreeMap::new();
        for (i, counter) in self.requests.iter().enumerate() {
            let n = counter.load(Ordering::Relaxed);
            if n > 0 {
                let route = RouteLabel::ALL[i / STATUS_SLOTS].as_str();
                let status = STATUS_MIN + u16::try_from(i % STATUS_SLOTS).unwrap_or(0);
                counted.insert((route, status), n);
            }
        }
        counted.extend(
            self.unusual_requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .map(|(k, v)| (*k, *v)),
        );
        for ((route, status), n) in counted {
            let _ = writeln!(
                out,
                "countersign_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}"
            );
        }
        out.push_str(
            "# HELP countersign_verification_failures_total Authentication failures by error code.\n",
        );
        out.push_str("# TYPE countersign_verification_failures_total counter\n");
        for (code, n) in self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
        {
            let _ = writeln!(
                out,
                "countersign_verification_failures_total{{code=\"{code}\"}} {n}"
            );
        }
        out.push_str("# HELP countersign_verification_seconds Time to authenticate a request.\n");
        out.push_str("# TYPE countersign_verification_seconds histogram\n");
        self.verification
            .render(&mut out, "countersign_verification_seconds", "");
        for (name, value, help) in [
            (
                "countersign_key_cache_hits_total",
                cache.0,
                "Key lookups answered from the cache.",
            ),
            (
                "countersign_key_cache_misses_total",
                cache.1,
                "Key lookups that went to the key store.",
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} counter");
            let _ = writeln!(out, "{name} {value}");
        }
        out.push_str(
            "# HELP countersign_upstream_seconds Gateway upstream latency until response headers.\n",
        );
        out.push_str("# TYPE countersign_upstream_seconds histogram\n");
        let used = self
            .upstream
            .iter()
            .filter(|(_, h)| h.total(|shard| &shard.count) > 0);
        for (prefix, histogram) in used {
            let label = format!("route=\"{}\"", escape(prefix));
            histogram.render(&mut out, "countersign_upstream_seconds", &label);
        }
        out
    }
}

/// Escapes a label value (`\`, `"` and newlines).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_histograms() {
        let m = Metrics::new(["/api".to_owned(), "/idle".to_owned()]);
        m.request(RouteLabel::Whoami, 200);
        m.request(RouteLabel::Whoami, 200);
        m.request(RouteLabel::Whoami, 401);
        m.request(RouteLabel::Gateway, 999);
        m.verification_failure("SignatureDoesNotMatch");
        m.verification_time(Duration::from_micros(3));
        m.verification_time(Duration::from_micros(40));
        m.upstream_time("/api", Duration::from_millis(2));
        let text = m.render((2, 1));
        let lines = [
            "countersign_requests_total{route=\"whoami\",status=\"200\"} 2",
            "countersign_requests_total{route=\"whoami\",status=\"401\"} 1",
            "countersign_requests_total{route=\"gateway\",status=\"999\"} 1",
            "countersign_verification_failures_total{code=\"SignatureDoesNotMatch\"} 1",
            "countersign_verification_seconds_bucket{le=\"0.000005\"} 1",
            "countersign_verification_seconds_bucket{le=\"0.00005\"} 2",
            "countersign_verification_seconds_bucket{le=\"+Inf\"} 2",
            "countersign_verification_seconds_count 2",
            "countersign_key_cache_hits_total 2",
            "countersign_key_cache_misses_total 1",
            "countersign_upstream_seconds_bucket{route=\"/api\",le=\"0.0025\"} 1",
            "countersign_upstream_seconds_count{route=\"/api\"} 1",
        ];
        assert_lines(&text, &lines);
        assert!(
            !text.contains("/idle"),
            "a route without traffic is not listed:\n{text}"
        );
    }

    #[test]
    fn histogram_sums_the_observations_of_every_thread() {
        let m = Metrics::new(["/api".to_owned()]);
        std::thread::scope(|s| {
            for _ in 0..10 {
                s.spawn(|| {
                    for _ in 0..100 {
                        m.verification_time(Duration::from_micros(20));
                        m.upstream_time("/api", Duration::from_millis(2));
                    }
                });
            }
        });
        let text = m.render((0, 0));
        let lines = [
            "countersign_verification_seconds_bucket{le=\"0.00001\"} 0",
            "countersign_verification_seconds_bucket{le=\"0.000025\"} 1000",
            "countersign_verification_seconds_count 1000",
            "countersign_verification_seconds_sum 0.02",
            "countersign_upstream_seconds_count{route=\"/api\"} 1000",
        ];
        assert_lines(&text, &lines);
    }

    /// Every one of `lines` is a whole line of `text`.
    fn assert_lines(text: &str, lines: &[&str]) {
        for line in lines {
            assert!(
                text.contains(&format!("{line}\n")),
                "missing `{line}` in\n{text}"
            );
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
