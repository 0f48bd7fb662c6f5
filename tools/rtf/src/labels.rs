//! Labels: the host's set (command line plus system facts) and the check applied to tests and groups.

use std::collections::BTreeSet;

/// Labels attached to a test or group: positive ones and `!negated` ones.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Labels {
    /// At least one must be set on the host (when any are given).
    pub positive: Vec<String>,
    /// None may be set on the host.
    pub negative: Vec<String>,
}

impl Labels {
    /// Parses `a, b, !c`.
    pub fn parse(s: &str) -> Labels {
        let mut l = Labels::default();
        for item in s.split(',').map(str::trim).filter(|x| !x.is_empty()) {
            match item.strip_prefix('!') {
                Some(neg) => l.negative.push(neg.to_owned()),
                None => l.positive.push(item.to_owned()),
            }
        }
        l
    }

    /// `self` ∪ `other` (a test's labels plus its direct parent group's).
    pub fn union(&self, other: &Labels) -> Labels {
        let mut l = self.clone();
        for p in &other.positive {
            if !l.positive.contains(p) {
                l.positive.push(p.clone());
            }
        }
        for n in &other.negative {
            if !l.negative.contains(n) {
                l.negative.push(n.clone());
            }
        }
        l
    }

    /// `!neg, ..., pos, ...` as `rtf list` prints them.
    pub fn display(&self) -> String {
        self.negative
            .iter()
            .map(|n| format!("!{n}"))
            .chain(self.positive.iter().cloned())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The host's labels: `-l` values and system labels, and the `-l !x` exclusions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostLabels {
    /// Set labels.
    pub set: BTreeSet<String>,
    /// Labels excluded with `!x` on the command line.
    pub not: BTreeSet<String>,
}

impl HostLabels {
    /// From the `-l` argument plus the system labels.
    pub fn new(arg: &str, system: &[String]) -> HostLabels {
        let parsed = Labels::parse(arg);
        let mut set: BTreeSet<String> = parsed.positive.into_iter().collect();
        set.extend(system.iter().cloned());
        HostLabels {
            set,
            not: parsed.negative.into_iter().collect(),
        }
    }

    /// rtf's rule: one positive label set (if any given), no negative label set, and no
    /// host-excluded label among the positive ones.
    pub fn admits(&self, l: &Labels) -> bool {
        (l.positive.is_empty() || l.positive.iter().any(|p| self.set.contains(p)))
            && !l.negative.iter().any(|n| self.set.contains(n))
            && !l.positive.iter().any(|p| self.not.contains(p))
    }

    /// `RT_LABELS`: `:`-separated, exclusions as `!x`.
    pub fn env_value(&self) -> String {
        self.set
            .iter()
            .cloned()
            .chain(self.not.iter().map(|n| format!("!{n}")))
            .collect::<Vec<_>>()
            .join(":")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(arg: &str) -> HostLabels {
        HostLabels::new(arg, &["linux".to_owned(), "amd64".to_owned()])
    }

    #[test]
    fn positive_labels_are_ored() {
        assert!(host("").admits(&Labels::parse("amd64, arm64")));
        assert!(!host("").admits(&Labels::parse("arm64")));
        assert!(host("").admits(&Labels::parse("")));
    }

    #[test]
    fn negation_in_test_and_on_host() {
        assert!(!host("").admits(&Labels::parse("!linux")));
        assert!(host("").admits(&Labels::parse("!darwin")));
        assert!(!host("!slow").admits(&Labels::parse("slow, linux")));
        assert!(host("slow").admits(&Labels::parse("slow")));
    }

    #[test]
    fn display_and_env() {
        assert_eq!(Labels::parse("a, !b").display(), "!b, a");
        assert_eq!(host("x,!y").env_value(), "amd64:linux:x:!y");
    }
}
