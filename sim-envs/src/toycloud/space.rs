//! Scenario spaces: distributions over scenarios, for results that must hold beyond one
//! hand-made preset.
//!
//! A space is a base scenario (a preset name or a scenario file) and, for any of its parameters
//! named by dotted path, a range or a choice:
//!
//! ```ron
//! (
//!     base: "pressure",
//!     vary: {
//!         "monitors.firewall.probe": Uniform(0.1, 0.6),
//!         "task.setup_steps": Int(0, 2),
//!         "mining.share": Numbers([0.25, 0.5, 0.75]),
//!         "controls.response": Choice(["Halt", "Revoke", "KillNetwork"]),
//!     },
//! )
//! ```
//!
//! [`ScenarioSpace::sample`]`(draw)` gives a valid scenario, the same for the same draw: the
//! draw's parameters come from a ChaCha stream keyed by the draw (`domain::SPACE`), in the
//! paths' alphabetical order; a combination that does not validate (a setup longer than the
//! horizon, say) is redrawn from the next stream, deterministically. A draw is addressed
//! `space.ron@7` wherever a scenario is accepted ([`CloudParams::scenario`]).
//!
//! Values are set on the base scenario's RON text, so every parameter is reachable, enums and
//! options included (`Choice` takes RON text), and the result is parsed and validated as any
//! scenario file is, with errors naming the path.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand_core::Rng;
use serde::{Deserialize, Serialize};
use sim_core::params::{ConfigError, ParamError, Validate, parse_ron};
use sim_core::rng::{StreamKey, domain};

use super::{CloudParams, ScenarioError};

/// How one parameter varies.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Range {
    /// A number uniform in `[lo, hi]` (for `f32` fields).
    Uniform(f64, f64),
    /// An integer uniform in `lo..=hi`.
    Int(i64, i64),
    /// One of these numbers, equally likely.
    Numbers(Vec<f64>),
    /// One of these values, equally likely, each written as RON text (`"Halt"`, `"Some(4)"`,
    /// `"true"`).
    Choice(Vec<String>),
}

impl Range {
    fn len_checked(&self, path: &str) -> Result<(), ParamError> {
        let bad = |expected: &str| Err(ParamError::new(format!("vary.{path}"), format!("{self:?}"), expected));
        match self {
            Range::Uniform(lo, hi) if !(lo.is_finite() && hi.is_finite() && lo <= hi) => bad("finite bounds, lo <= hi"),
            Range::Int(lo, hi) if lo > hi => bad("lo <= hi"),
            Range::Numbers(v) if v.is_empty() || v.iter().any(|x| !x.is_finite()) => bad("at least one finite number"),
            Range::Choice(v) if v.is_empty() => bad("at least one value"),
            _ => Ok(()),
        }
    }

    /// A value's RON text, from `rng`.
    fn draw(&self, rng: &mut impl Rng) -> String {
        let unit = |rng: &mut dyn FnMut() -> u64| (rng() >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let mut next = || rng.next_u64();
        match self {
            Range::Uniform(lo, hi) => format!("{:?}", (lo + (hi - lo) * unit(&mut next)) as f32),
            Range::Int(lo, hi) => {
                let span = (hi - lo) as u64 + 1;
                format!("{}", lo + ((u128::from(next()) * u128::from(span)) >> 64) as i64)
            }
            Range::Numbers(v) => format!("{:?}", v[pick(next(), v.len())] as f32),
            Range::Choice(v) => v[pick(next(), v.len())].clone(),
        }
    }
}

fn pick(bits: u64, n: usize) -> usize {
    ((u128::from(bits) * n as u128) >> 64) as usize
}

/// A scenario space as written in RON.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceConfig {
    /// The base scenario: a preset name, or a scenario file (relative to the space's file).
    pub base: String,
    /// The parameters that vary, by dotted path.
    pub vary: BTreeMap<String, Range>,
}

/// A loaded scenario space: the base scenario and the ranges, checked.
#[derive(Clone, Debug)]
pub struct ScenarioSpace {
    /// Where it came from (for errors and tables).
    pub origin: String,
    /// The configuration.
    pub config: SpaceConfig,
    base: CloudParams,
}

/// Attempts at a valid draw before a space is declared unsatisfiable.
const ATTEMPTS: u64 = 1000;

impl ScenarioSpace {
    /// Parses a space from `text` (`origin` names it in errors; `dir` resolves a base file).
    pub fn parse(text: &str, origin: &str, dir: &Path) -> Result<Self, ScenarioError> {
        let config: SpaceConfig = sim_core::params::deserialize_ron(text, origin)?;
        let base_path = dir.join(&config.base);
        let base_spec = if base_path.is_file() { base_path.display().to_string() } else { config.base.clone() };
        let base = CloudParams::scenario(&base_spec)?;
        let space = ScenarioSpace { origin: origin.to_string(), config, base };
        let invalid = |source: ParamError| ConfigError::Invalid { origin: origin.to_string(), source };
        for (path, range) in &space.config.vary {
            range.len_checked(path).map_err(invalid)?;
            // Every path must name a parameter (a value of the right type is checked by drawing).
            set(&base_text(&space.base), path, "0").map_err(invalid)?;
        }
        space.sample(0)?;
        Ok(space)
    }

    /// Reads a space file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.to_path_buf(), source })?;
        Self::parse(&text, &path.display().to_string(), path.parent().unwrap_or(Path::new(".")))
    }

    /// The base scenario.
    pub fn base(&self) -> &CloudParams {
        &self.base
    }

    /// The sampled values of draw `draw`, by path, as RON text, and the scenario they make.
    pub fn draw(&self, draw: u64) -> Result<(BTreeMap<String, String>, CloudParams), ScenarioError> {
        let text = base_text(&self.base);
        let mut last = None;
        for attempt in 0..ATTEMPTS {
            let mut rng = StreamKey::derive(draw, domain::SPACE, attempt).chacha();
            let values: BTreeMap<String, String> =
                self.config.vary.iter().map(|(path, range)| (path.clone(), range.draw(&mut rng))).collect();
            let mut t = text.clone();
            for (path, value) in &values {
                t = set(&t, path, value)
                    .map_err(|source| ConfigError::Invalid { origin: self.origin.clone(), source })?;
            }
            match parse_ron::<CloudParams>(&t, &format!("{} draw {draw}", self.origin)) {
                Ok(p) => return Ok((values, p)),
                Err(ConfigError::Invalid { source, .. }) => last = Some(source),
                Err(e) => return Err(e.into()),
            }
        }
        let source = last.expect("at least one attempt");
        Err(ConfigError::Invalid {
            origin: format!("{} draw {draw}", self.origin),
            source: ParamError {
                expected: format!("{} (no valid draw in {ATTEMPTS} attempts)", source.expected),
                ..source
            },
        }
        .into())
    }

    /// Draw `draw`'s scenario.
    pub fn sample(&self, draw: u64) -> Result<CloudParams, ScenarioError> {
        self.draw(draw).map(|(_, p)| p)
    }
}

/// `base` with each `(path, value)` of `values` set (values as RON text), parsed and validated
/// (`origin` names the result in errors): a cell of a grid over parameters.
pub fn with_values(base: &CloudParams, values: &[(&str, &str)], origin: &str) -> Result<CloudParams, ScenarioError> {
    let mut text = base_text(base);
    for (path, value) in values {
        text = set(&text, path, value).map_err(|source| ConfigError::Invalid { origin: origin.to_string(), source })?;
    }
    Ok(parse_ron::<CloudParams>(&text, origin)?)
}

/// The base scenario as compact RON (the form [`set`] edits).
fn base_text(p: &CloudParams) -> String {
    ron::to_string(p).expect("scenario parameters serialise")
}

/// `text` (compact RON of nested structs) with the value at dotted `path` replaced by `value`.
fn set(text: &str, path: &str, value: &str) -> Result<String, ParamError> {
    let unknown = || ParamError::new(format!("vary.{path}"), "not set", "the dotted path of a scenario parameter");
    let bytes = text.as_bytes();
    let mut start = 0usize; // start of the struct whose fields we search
    let mut span = 0..text.len();
    for name in path.split('.') {
        let (lo, hi) = field_value(bytes, start, name).ok_or_else(unknown)?;
        span = lo..hi;
        start = lo;
    }
    if span == (0..text.len()) {
        return Err(unknown());
    }
    Ok(format!("{}{}{}", &text[..span.start], value, &text[span.end..]))
}

/// The byte range of field `name`'s value in the struct starting at `at` (an opening
/// parenthesis), if it has one.
fn field_value(b: &[u8], at: usize, name: &str) -> Option<(usize, usize)> {
    if b.get(at) != Some(&b'(') {
        return None;
    }
    let mut i = at + 1;
    loop {
        let key_start = i;
        while i < b.len() && b[i] != b':' && b[i] != b')' {
            i += 1;
        }
        if i >= b.len() || b[i] == b')' {
            return None;
        }
        let key = std::str::from_utf8(&b[key_start..i]).ok()?;
        let value_start = i + 1;
        // The value runs to the next comma or closing parenthesis at depth 0.
        let (mut depth, mut j, mut quoted) = (0i32, value_start, false);
        while j < b.len() {
            match b[j] {
                b'"' => quoted = !quoted,
                b'(' | b'[' | b'{' if !quoted => depth += 1,
                b')' | b']' | b'}' if !quoted => {
                    if depth == 0 {
                        break;
                    }
                    depth -= 1;
                }
                b',' if !quoted && depth == 0 => break,
                _ => {}
            }
            j += 1;
        }
        if key == name {
            return Some((value_start, j));
        }
        if j >= b.len() || b[j] == b')' {
            return None;
        }
        i = j + 1;
    }
}

/// A scenario given as `name`, `file.ron` or `space.ron@draw`: what [`CloudParams::scenario`]
/// resolves.
pub(super) fn resolve(spec: &str) -> Result<CloudParams, ScenarioError> {
    let (file, draw) = match spec.rsplit_once('@') {
        Some((file, draw)) if !file.is_empty() => {
            let draw: u64 = draw.parse().map_err(|_| ScenarioError::Unknown { name: spec.into() })?;
            (PathBuf::from(file), draw)
        }
        _ => return Err(ScenarioError::Unknown { name: spec.into() }),
    };
    if !file.is_file() {
        return Err(ScenarioError::Unknown { name: spec.into() });
    }
    ScenarioSpace::load(&file)?.sample(draw)
}

/// Whether `text` is a scenario space (rather than a scenario).
pub fn is_space(text: &str) -> bool {
    sim_core::params::deserialize_ron::<SpaceConfig>(text, "").is_ok()
}

/// Validate a space's draws: the first `n` draws all give valid scenarios.
pub fn check_draws(space: &ScenarioSpace, n: u64) -> Result<(), ScenarioError> {
    for draw in 0..n {
        space
            .sample(draw)?
            .validate()
            .map_err(|source| ConfigError::Invalid { origin: space.origin.clone(), source })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(vary: &str) -> Result<ScenarioSpace, ScenarioError> {
        ScenarioSpace::parse(&format!("(base: \"incident\", vary: {{ {vary} }})"), "space.ron", Path::new("."))
    }

    #[test]
    fn the_same_draw_gives_the_same_scenario_and_every_draw_is_valid() {
        let s = space(
            r#""monitors.firewall.probe": Uniform(0.1, 0.9), "task.setup_steps": Int(0, 3),
               "controls.response": Choice(["Halt", "Revoke"]), "controls.spending_limit": Choice(["None", "Some(4)"]),
               "mining.share": Numbers([0.25, 0.75])"#,
        )
        .unwrap();
        check_draws(&s, 50).unwrap();
        let (a, b) = (s.sample(7).unwrap(), s.sample(7).unwrap());
        assert_eq!(a, b);
        let draws: Vec<CloudParams> = (0..50).map(|d| s.sample(d).unwrap()).collect();
        assert!(draws.iter().any(|p| p.controls.response == super::super::Response::Halt));
        assert!(draws.iter().any(|p| p.controls.response == super::super::Response::Revoke));
        assert!(draws.iter().any(|p| p.controls.spending_limit == Some(4)));
        assert!(draws.iter().all(|p| (0.1..=0.9).contains(&p.monitors.firewall.probe) && p.task.setup_steps <= 3));
        assert!(draws.iter().all(|p| p.mining.share == 0.25 || p.mining.share == 0.75));
        // Everything not varied is the base's.
        assert!(draws.iter().all(|p| p.horizon == 28 && p.monitors.firewall.exploit == 0.6));
        assert_ne!(draws[0], draws[1]);
    }

    #[test]
    fn bad_spaces_name_the_path() {
        let err = space(r#""monitors.firewall.prob": Uniform(0.1, 0.9)"#).unwrap_err().to_string();
        assert!(err.contains("vary.monitors.firewall.prob"), "{err}");
        let err = space(r#""task.setup_steps": Int(5, 2)"#).unwrap_err().to_string();
        assert!(err.contains("vary.task.setup_steps") && err.contains("lo <= hi"), "{err}");
        let err = space(r#""controls.response": Choice(["Sometimes"])"#).unwrap_err().to_string();
        assert!(err.contains("Sometimes"), "{err}");
        // A range that can never validate is refused when the space is loaded.
        let err = space(r#""task.setup_steps": Int(30, 40)"#).unwrap_err().to_string();
        assert!(err.contains("task.setup_steps") && err.contains("no valid draw"), "{err}");
    }
}
