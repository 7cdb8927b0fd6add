//! Latency samples, percentiles, and the report: a readable line on stdout and one JSON object
//! per measurement for `scripts/bench`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// The latencies of one measurement, with the status of each answer.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    pub latencies: Vec<Duration>,
    pub statuses: BTreeMap<u16, usize>,
    /// From the first request's start to the last answer.
    pub wall: Duration,
}

impl Samples {
    pub fn push(&mut self, latency: Duration, status: u16) {
        self.latencies.push(latency);
        *self.statuses.entry(status).or_default() += 1;
    }

    pub fn merge(&mut self, other: Samples) {
        self.latencies.extend(other.latencies);
        for (status, count) in other.statuses {
            *self.statuses.entry(status).or_default() += count;
        }
    }

    pub fn count(&self) -> usize {
        self.latencies.len()
    }

    pub fn status_count(&self, status: u16) -> usize {
        self.statuses.get(&status).copied().unwrap_or(0)
    }

    /// Nearest-rank percentile, in milliseconds.
    pub fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        if sorted.is_empty() {
            return f64::NAN;
        }
        let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
        ms(sorted[rank.clamp(1, sorted.len()) - 1])
    }

    pub fn mean(&self) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        ms(self.latencies.iter().sum::<Duration>()) / self.latencies.len() as f64
    }

    pub fn throughput(&self) -> f64 {
        let seconds = self.wall.as_secs_f64();
        if seconds > 0.0 {
            self.count() as f64 / seconds
        } else {
            f64::NAN
        }
    }
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1_000.0
}

/// Rounds for display and JSON (microsecond resolution).
pub fn round(value: f64) -> f64 {
    (value * 1_000.0).round() / 1_000.0
}

/// Where results go: stdout for people, and a JSON-lines file when asked.
pub struct Report {
    json: Option<std::fs::File>,
}

impl Report {
    pub fn new(json_path: Option<&std::path::Path>) -> std::io::Result<Self> {
        let json = match json_path {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            None => None,
        };
        Ok(Self { json })
    }

    /// Writes one JSON object (`kind` and `name` first) to the JSON-lines file.
    pub fn record(&mut self, kind: &str, name: &str, fields: Value) -> std::io::Result<()> {
        let mut object = Map::new();
        object.insert("kind".to_owned(), json!(kind));
        object.insert("name".to_owned(), json!(name));
        if let Value::Object(fields) = fields {
            object.extend(fields);
        }
        if let Some(file) = &mut self.json {
            writeln!(file, "{}", Value::Object(object))?;
        }
        Ok(())
    }

    /// A latency measurement: printed as a table row and recorded.
    pub fn latency(
        &mut self,
        name: &str,
        clients: usize,
        samples: &Samples,
        extra: Value,
    ) -> std::io::Result<()> {
        let statuses: Map<String, Value> = samples
            .statuses
            .iter()
            .map(|(status, count)| (status.to_string(), json!(count)))
            .collect();
        println!(
            "{name:<52} clients {clients:>3}  n {n:>5}  p50 {p50:>8.3} ms  p95 {p95:>8.3}  p99 {p99:>8.3}  max {max:>8.3}  {rps:>8.1} req/s  statuses {statuses}",
            n = samples.count(),
            p50 = samples.percentile(50.0),
            p95 = samples.percentile(95.0),
            p99 = samples.percentile(99.0),
            max = samples.percentile(100.0),
            rps = samples.throughput(),
            statuses = Value::Object(statuses.clone()),
        );
        let mut fields = json!({
            "clients": clients,
            "requests": samples.count(),
            "p50_ms": round(samples.percentile(50.0)),
            "p95_ms": round(samples.percentile(95.0)),
            "p99_ms": round(samples.percentile(99.0)),
            "max_ms": round(samples.percentile(100.0)),
            "mean_ms": round(samples.mean()),
            "wall_ms": round(ms(samples.wall)),
            "throughput_rps": round(samples.throughput()),
            "statuses": statuses,
        });
        if let (Value::Object(fields), Value::Object(extra)) = (&mut fields, extra) {
            fields.extend(extra);
        }
        self.record("latency", name, fields)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let mut samples = Samples::default();
        for millis in 1..=100 {
            samples.push(Duration::from_millis(millis), 200);
        }
        assert_eq!(samples.percentile(50.0), 50.0);
        assert_eq!(samples.percentile(99.0), 99.0);
        assert_eq!(samples.percentile(100.0), 100.0);
        assert_eq!(samples.status_count(200), 100);
    }
}
