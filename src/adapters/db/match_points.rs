//! Where one search's matches fall in `ts` order, known exactly at a few points.
//!
//! A search beside `since`, or a page deep into a search, needs to know how many matches lie
//! before some `ts`. Counting them is a pass over the matches; keeping every match's `ts` would
//! cost megabytes per word. Between the two: the number of matches before each of about a
//! thousand `ts` values. A count at any other `ts` is then the count at the point before it plus
//! the matches in one gap, which a short walk of the `ts` index finds — and that walk teaches the
//! profile new points, so a gap that is asked about is split. New rows move the points by their
//! own matches alone, so the profile is kept up to date rather than rebuilt.

/// Points a new profile gets at most; together with [`MIN_SPACING`] this sets its spacing.
pub(super) const BUILT_POINTS: u64 = 1_024;
/// Matches between two points of a new profile, at least.
pub(super) const MIN_SPACING: u64 = 64;
/// Points a profile keeps at most: walks stop teaching it new ones beyond this.
pub(super) const MAX_POINTS: usize = 2 * BUILT_POINTS as usize;

/// How many matches a search has, and how many come before each of a few `ts` values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(super) struct MatchPoints {
    total: u64,
    /// The largest `ts` of a match: no walk for matches need go past it.
    last: Option<i64>,
    /// Strictly increasing `ts`, each with the number of matches whose `ts` is smaller.
    points: Vec<(i64, u64)>,
}

/// What the points say of the matches before some `ts`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Located {
    /// Exactly this many.
    Exact(u64),
    /// `below` before `from` (`i64::MIN`: none), plus those in `[from, ts)`: at most `gap`.
    Between { from: i64, below: u64, gap: u64 },
}

/// Matches between two points of a new profile of `total` matches.
pub(super) fn spacing(total: u64) -> u64 {
    Ord::max(MIN_SPACING, total / BUILT_POINTS)
}

/// How many of the sorted `ts` are smaller than `at`.
fn smaller(ts: &[i64], at: i64) -> u64 {
    ts.partition_point(|&t| t < at) as u64
}

impl MatchPoints {
    /// The profile of matches whose `ts` are `sorted` (ascending).
    pub(super) fn from_sorted(sorted: &[i64]) -> Self {
        let total = sorted.len() as u64;
        let step = usize::try_from(spacing(total)).unwrap_or(usize::MAX);
        let samples: Vec<(i64, u64)> = sorted.iter().step_by(step).map(|&ts| (ts, smaller(sorted, ts))).collect();
        Self::from_samples(total, &samples, sorted.last().copied())
    }

    /// The profile of `total` matches from samples in `ts` order, each with the matches whose
    /// `ts` is smaller (about every [`spacing`]th match's), and the largest `ts` of a match.
    pub(super) fn from_samples(total: u64, samples: &[(i64, u64)], last: Option<i64>) -> Self {
        let mut profile = Self { total, last, points: Vec::with_capacity(samples.len()) };
        for &(ts, below) in samples {
            profile.push_point(ts, below);
        }
        profile
    }

    fn push_point(&mut self, ts: i64, below: u64) {
        if self.points.last().is_none_or(|&(last, _)| last < ts) {
            self.points.push((ts, below));
        }
    }

    /// Matches in all.
    pub(super) fn total(&self) -> u64 {
        self.total
    }

    /// The largest `ts` of a match, `None` when there is none.
    pub(super) fn last(&self) -> Option<i64> {
        self.last
    }

    /// The points: each `ts` with the matches before it.
    #[cfg(test)]
    pub(super) fn points(&self) -> &[(i64, u64)] {
        &self.points
    }

    /// Points held.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.points.len()
    }

    /// Matches walked between points that are taught at once (see [`Self::learn`]).
    fn spacing(&self) -> usize {
        usize::try_from(spacing(self.total)).unwrap_or(usize::MAX)
    }

    /// The matches whose `ts` is smaller than `ts`, or where to count the rest of them.
    pub(super) fn locate(&self, ts: i64) -> Located {
        let after = self.points.partition_point(|&(p, _)| p <= ts);
        let (from, below) = match after.checked_sub(1).map(|i| self.points[i]) {
            Some((p, below)) if p == ts => return Located::Exact(below),
            Some(point) => point,
            None => (i64::MIN, 0),
        };
        let upper = self.points.get(after).map_or(self.total, |&(_, b)| b);
        match upper.saturating_sub(below) {
            0 => Located::Exact(below),
            gap => Located::Between { from, below, gap },
        }
    }

    /// Matches with these `ts` were stored. Those past every earlier match (new rows usually
    /// are) become points as a new profile's would, since nothing older lies among them.
    pub(super) fn add(&mut self, ts: &[i64]) {
        let mut sorted = ts.to_vec();
        sorted.sort_unstable();
        let before = self.total;
        self.total += sorted.len() as u64;
        for (p, below) in &mut self.points {
            *below += smaller(&sorted, *p);
        }
        let past = match self.last {
            Some(last) => sorted.partition_point(|&t| t <= last),
            None => 0,
        };
        let spacing = self.spacing();
        for (i, &t) in sorted.iter().enumerate().skip(past).step_by(spacing) {
            if self.points.len() >= MAX_POINTS {
                break;
            }
            let first = sorted.partition_point(|&u| u < t);
            if first == i {
                self.push_point(t, before + first as u64);
            }
        }
        self.last = sorted.last().copied().max(self.last);
    }

    /// A walk of the `ts` index from `from` (where `below` matches lie before, as
    /// [`Located::Between`] said) up to `to` found matches with these `ts` (ascending): the
    /// points it passes become known.
    pub(super) fn learn(&mut self, from: i64, below: u64, walked: &[i64], to: i64) {
        let mut taught: Vec<(i64, u64)> =
            walked.iter().skip(1).step_by(self.spacing()).map(|&ts| (ts, below + smaller(walked, ts))).collect();
        taught.push((to, below + walked.len() as u64));
        taught.retain(|&(ts, _)| ts > from);
        for (ts, n) in taught {
            if self.points.len() >= MAX_POINTS {
                break;
            }
            if let Err(at) = self.points.binary_search_by_key(&ts, |&(p, _)| p) {
                self.points.insert(at, (ts, n));
            }
        }
    }

    /// Where to begin reading the `skip`-th match (from 0) of those with `ts >= since`, when
    /// `since_below` matches come before `since`: the last point at or after `since` that is not
    /// past it, and how many matches to pass over from there.
    pub(super) fn start(&self, since: i64, since_below: u64, skip: u64) -> (i64, u64) {
        let wanted = since_below + skip;
        let first = self.points.partition_point(|&(p, _)| p < since);
        let known = self.points[first..].partition_point(|&(_, below)| below <= wanted);
        match known.checked_sub(1).map(|i| self.points[first + i]) {
            Some((ts, below)) if below >= since_below => (ts, wanted - below),
            _ => (since, skip),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the points must say, counted from every `ts`.
    fn below(all: &[i64], at: i64) -> u64 {
        all.iter().filter(|&&t| t < at).count() as u64
    }

    /// Resolves `at` the way the repository does: a walk over `all` when the points do not know.
    fn resolve(profile: &mut MatchPoints, all: &[i64], at: i64) -> u64 {
        match profile.locate(at) {
            Located::Exact(n) => n,
            Located::Between { from, below: n, gap } => {
                let mut walked: Vec<i64> = all.iter().copied().filter(|&t| t >= from && t < at).collect();
                walked.sort_unstable();
                assert!(walked.len() as u64 <= gap, "a gap holds at most what the points say");
                profile.learn(from, n, &walked, at);
                n + walked.len() as u64
            }
        }
    }

    /// A small deterministic generator, so the tests need no crate.
    fn lcg(state: &mut u64) -> u64 {
        *state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        *state >> 33
    }

    /// `n` matches with random `ts` under `range`, sorted, and their profile.
    fn random(state: &mut u64, n: usize, range: u64) -> (Vec<i64>, MatchPoints) {
        let mut all: Vec<i64> = (0..n).map(|_| (lcg(state) % range) as i64).collect();
        all.sort_unstable();
        let profile = MatchPoints::from_sorted(&all);
        (all, profile)
    }

    #[test]
    fn every_count_before_a_ts_is_exact_as_matches_are_added() {
        let mut state = 7;
        // Ties on purpose: few distinct ts among many matches.
        let (mut all, mut profile) = random(&mut state, 5_000, 3_000);
        assert_eq!(profile.total(), 5_000);
        for round in 0..300 {
            let at = (lcg(&mut state) % 3_200) as i64 - 100;
            assert_eq!(resolve(&mut profile, &all, at), below(&all, at), "round {round} at {at}");
            if round % 10 == 0 {
                let new: Vec<i64> = (0..20).map(|_| (lcg(&mut state) % 3_500) as i64).collect();
                all.extend(&new);
                profile.add(&new);
            }
            assert_eq!(profile.total(), all.len() as u64);
        }
        assert!(profile.len() <= MAX_POINTS);
    }

    #[test]
    fn a_start_point_passes_over_exactly_the_matches_before_the_one_asked_for() {
        let mut state = 11;
        let (all, mut profile) = random(&mut state, 20_000, 50_000);
        for _ in 0..200 {
            let since = (lcg(&mut state) % 52_000) as i64;
            let since_below = resolve(&mut profile, &all, since);
            let skip = lcg(&mut state) % 25_000;
            let (from, pass) = profile.start(since, since_below, skip);
            assert!(from >= since);
            // Reading from `from` and passing over `pass` matches lands on the same match.
            let read: Vec<i64> = all.iter().copied().filter(|&t| t >= from).collect();
            let wanted: Vec<i64> = all.iter().copied().filter(|&t| t >= since).collect();
            assert_eq!(read.get(pass as usize), wanted.get(skip as usize), "since {since} skip {skip}");
            assert!(pass <= skip);
        }
    }

    #[test]
    fn a_new_profile_needs_no_walk_before_its_first_match_and_a_short_one_past_its_last() {
        let all: Vec<i64> = (100..10_100).collect();
        let profile = MatchPoints::from_sorted(&all);
        assert_eq!(profile.locate(50), Located::Exact(0));
        assert_eq!(profile.locate(100), Located::Exact(0));
        let Located::Between { gap, .. } = profile.locate(20_000) else { panic!("past the last point") };
        assert!(gap <= 64, "{gap}");
        assert!(profile.len() > 100 && profile.len() <= MAX_POINTS);
        assert_eq!(MatchPoints::from_sorted(&[]).locate(5), Located::Exact(0));
    }

    #[test]
    fn matches_past_the_last_become_points_and_the_last_ts_follows() {
        let mut state = 3;
        let (mut all, mut profile) = random(&mut state, 3_000, 10_000);
        let points = profile.len();
        let new: Vec<i64> = (0..2_000).map(|_| 10_000 + (lcg(&mut state) % 5_000) as i64).collect();
        all.extend(&new);
        profile.add(&new);
        assert!(profile.len() > points + 10, "{} points after {points}", profile.len());
        assert_eq!(profile.last(), all.iter().copied().max());
        for at in [9_999, 10_000, 12_345, 14_999, 15_000] {
            let (from, pass) = profile.start(at, resolve(&mut profile.clone(), &all, at), 0);
            assert!(pass <= 64, "passes over {pass} from {from} for {at}");
        }
        for at in (0..16_000).step_by(97) {
            assert_eq!(resolve(&mut profile, &all, at), below(&all, at), "at {at}");
        }
    }

    #[test]
    fn a_deep_page_starts_near_its_first_row() {
        let all: Vec<i64> = (0..100_000).collect();
        let profile = MatchPoints::from_sorted(&all);
        let (from, pass) = profile.start(0, 0, 90_000);
        assert!(pass < 200, "passes over {pass} matches from {from}");
    }
}
