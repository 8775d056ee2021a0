//! Faults on demand: a seeded plan that makes a fraction of requests fail the
//! way the real service fails.
//!
//! Spec syntax (`--faults`, `PUT /admin/faults`), comma-separated `key=value`:
//! `rate=0.2,seed=7,kinds=negative+5xx+drop+slow+4400,slow_ms=1500,actions=UploadPart+FinishUpload,max=3`
//! (`max`: at most that many faults, then none — e.g. `rate=1,max=1` fails
//! exactly the first eligible request).
//! `off` (or an empty spec) disables faults. Draws come from one `StdRng`
//! seeded by `seed`, so the same request sequence sees the same faults.
//! Admin requests and playback are never faulted.

use std::sync::Mutex;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One way of failing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultKind {
    /// A negative code with canRetry=1 (or 6000 on vod.api, 503 on REST).
    Negative,
    /// HTTP 503 with an empty body.
    Http5xx,
    /// The connection is dropped in the middle of the response body.
    Drop,
    /// The reply is delayed by `slow_ms`, then served normally.
    Slow,
    /// 4400 RequestLimitExceeded with canRetry=1.
    Limit,
}

impl FaultKind {
    fn parse(s: &str) -> Option<FaultKind> {
        Some(match s {
            "negative" => FaultKind::Negative,
            "5xx" => FaultKind::Http5xx,
            "drop" => FaultKind::Drop,
            "slow" => FaultKind::Slow,
            "4400" | "limit" => FaultKind::Limit,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            FaultKind::Negative => "negative",
            FaultKind::Http5xx => "5xx",
            FaultKind::Drop => "drop",
            FaultKind::Slow => "slow",
            FaultKind::Limit => "4400",
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FaultSpecError {
    #[error("fault spec item {0:?} is not key=value")]
    NotKeyValue(String),
    #[error("unknown fault spec key {0:?}")]
    UnknownKey(String),
    #[error("bad value {value:?} for fault spec key {key}")]
    BadValue { key: String, value: String },
}

/// A fault plan.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultSpec {
    /// Fraction of eligible requests that fail, 0.0–1.0.
    pub rate: f64,
    pub seed: u64,
    pub kinds: Vec<FaultKind>,
    pub slow_ms: u64,
    /// Only these Actions are eligible (None: all). COS requests are named
    /// `CosPut`, `CosPost`, …; frontwize ones `FwApply`, `FwPut`, `FwCommit`.
    pub actions: Option<Vec<String>>,
    /// At most this many faults are injected (None: no limit).
    pub max: Option<u64>,
}

impl Default for FaultSpec {
    fn default() -> Self {
        FaultSpec {
            rate: 0.0,
            seed: 0,
            kinds: vec![FaultKind::Negative],
            slow_ms: 1000,
            actions: None,
            max: None,
        }
    }
}

impl std::str::FromStr for FaultSpec {
    type Err = FaultSpecError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut spec = FaultSpec::default();
        let s = s.trim();
        if s.is_empty() || s == "off" {
            return Ok(spec);
        }
        for item in s.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (k, v) = item
                .split_once('=')
                .ok_or_else(|| FaultSpecError::NotKeyValue(item.to_string()))?;
            let bad = || FaultSpecError::BadValue {
                key: k.to_string(),
                value: v.to_string(),
            };
            match k {
                "rate" => {
                    spec.rate = v.parse().map_err(|_| bad())?;
                    if !(0.0..=1.0).contains(&spec.rate) {
                        return Err(bad());
                    }
                }
                "seed" => spec.seed = v.parse().map_err(|_| bad())?,
                "slow_ms" => spec.slow_ms = v.parse().map_err(|_| bad())?,
                "kinds" => {
                    spec.kinds = v
                        .split('+')
                        .map(|k| FaultKind::parse(k.trim()).ok_or_else(bad))
                        .collect::<Result<_, _>>()?;
                    if spec.kinds.is_empty() {
                        return Err(bad());
                    }
                }
                "max" => spec.max = Some(v.parse().map_err(|_| bad())?),
                "actions" => {
                    spec.actions = Some(v.split('+').map(|a| a.trim().to_string()).collect())
                }
                _ => return Err(FaultSpecError::UnknownKey(k.to_string())),
            }
        }
        Ok(spec)
    }
}

impl std::fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.rate == 0.0 {
            return f.write_str("off");
        }
        let kinds: Vec<&str> = self.kinds.iter().map(|k| k.name()).collect();
        write!(
            f,
            "rate={},seed={},kinds={},slow_ms={}",
            self.rate,
            self.seed,
            kinds.join("+"),
            self.slow_ms
        )?;
        if let Some(a) = &self.actions {
            write!(f, ",actions={}", a.join("+"))?;
        }
        if let Some(m) = self.max {
            write!(f, ",max={m}")?;
        }
        Ok(())
    }
}

/// The live plan, its random stream and how many faults it injected.
pub struct Faults {
    inner: Mutex<(FaultSpec, StdRng, u64)>,
}

impl Faults {
    pub fn new(spec: FaultSpec) -> Self {
        let rng = StdRng::seed_from_u64(spec.seed);
        Faults {
            inner: Mutex::new((spec, rng, 0)),
        }
    }

    /// Replaces the plan and reseeds.
    pub fn set(&self, spec: FaultSpec) {
        let rng = StdRng::seed_from_u64(spec.seed);
        *self.inner.lock().unwrap_or_else(|e| e.into_inner()) = (spec, rng, 0);
    }

    pub fn get(&self) -> FaultSpec {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }

    /// Draws the fate of one request of `action`.
    pub fn draw(&self, action: &str) -> Option<(FaultKind, u64)> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (spec, rng, fired) = &mut *guard;
        if spec.rate <= 0.0 || spec.kinds.is_empty() || spec.max.is_some_and(|m| *fired >= m) {
            return None;
        }
        if let Some(actions) = &spec.actions
            && !actions.iter().any(|a| a == action)
        {
            return None;
        }
        if rng.random::<f64>() >= spec.rate {
            return None;
        }
        let kind = spec.kinds[rng.random_range(0..spec.kinds.len())];
        *fired += 1;
        Some((kind, spec.slow_ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let s: FaultSpec = "rate=0.5,seed=9,kinds=drop+4400,slow_ms=10,actions=UploadPart"
            .parse()
            .unwrap();
        assert_eq!(s.kinds, vec![FaultKind::Drop, FaultKind::Limit]);
        assert_eq!(s.to_string().parse::<FaultSpec>().unwrap(), s);
        assert_eq!("off".parse::<FaultSpec>().unwrap().rate, 0.0);
        assert!("rate=2".parse::<FaultSpec>().is_err());
        assert!("kinds=teapot".parse::<FaultSpec>().is_err());
        assert!("bogus".parse::<FaultSpec>().is_err());
    }

    #[test]
    fn same_seed_same_faults() {
        let spec: FaultSpec = "rate=0.3,seed=42,kinds=negative+5xx".parse().unwrap();
        let a = Faults::new(spec.clone());
        let b = Faults::new(spec);
        let da: Vec<_> = (0..200).map(|_| a.draw("X")).collect();
        let db: Vec<_> = (0..200).map(|_| b.draw("X")).collect();
        assert_eq!(da, db);
        let n = da.iter().filter(|d| d.is_some()).count();
        assert!((30..90).contains(&n), "{n} faults of 200 at rate 0.3");
    }

    #[test]
    fn max_limits_the_faults_injected() {
        let spec: FaultSpec = "rate=1,kinds=drop,max=2".parse().unwrap();
        assert_eq!(spec.to_string().parse::<FaultSpec>().unwrap(), spec);
        let f = Faults::new(spec.clone());
        let fired: Vec<bool> = (0..5).map(|_| f.draw("X").is_some()).collect();
        assert_eq!(fired, [true, true, false, false, false]);
        f.set(spec);
        assert!(f.draw("X").is_some(), "a new plan counts afresh");
    }

    #[test]
    fn actions_filter() {
        let f = Faults::new("rate=1,actions=UploadPart".parse().unwrap());
        assert!(f.draw("InitUpload").is_none());
        assert!(f.draw("UploadPart").is_some());
    }
}
