//! Reading parameters and configs from RON files, with errors that name the file, line and field.
//!
//! Two checks, in order: the RON text must deserialize into the target type (structs use
//! `#[serde(deny_unknown_fields)]`, so a typo is an error, not a silently ignored key), then the
//! value must pass [`Validate`] (ranges: no negative budget, no probability above 1).

use std::fmt::{self, Display};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// A parameter value outside its allowed range.
#[derive(Clone, Debug, PartialEq)]
pub struct ParamError {
    /// Dotted path of the field, e.g. `monitors.firewall.probability`.
    pub field: String,
    /// The offending value, as written.
    pub value: String,
    /// What was expected, e.g. `a probability in [0, 1]`.
    pub expected: String,
}

impl Display for ParamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "field `{}` is {}, expected {}", self.field, self.value, self.expected)
    }
}

impl std::error::Error for ParamError {}

impl ParamError {
    /// The error for `field` holding `value` where `expected` was wanted: `field \`{field}\` is
    /// {value}, expected {expected}`.
    pub fn new(field: impl Into<String>, value: impl Display, expected: impl Into<String>) -> Self {
        ParamError { field: field.into(), value: value.to_string(), expected: expected.into() }
    }

    /// Prefixes the field path with `parent.` (for nested parameter structs).
    pub fn within(mut self, parent: &str) -> Self {
        self.field = format!("{parent}.{}", self.field);
        self
    }
}

/// Range checks that serde's types cannot express.
pub trait Validate {
    /// `Ok` when every field is in range; otherwise the first offending field.
    fn validate(&self) -> Result<(), ParamError>;
}

/// A real-valued parameter (`f32` or `f64`), printed as written in errors.
pub trait Real: Copy + Display + Into<f64> {}
impl Real for f32 {}
impl Real for f64 {}

/// Checks that `value` is a probability in `[0, 1]`.
pub fn check_probability<T: Real>(field: &str, value: T) -> Result<(), ParamError> {
    check_range(field, value, 0.0, 1.0, "a probability in [0, 1]")
}

/// Checks that `value` is finite and `>= 0`.
pub fn check_non_negative<T: Real>(field: &str, value: T) -> Result<(), ParamError> {
    check_range(field, value, 0.0, f64::MAX, "a finite number >= 0")
}

/// Checks that `value` is finite and `> 0`.
pub fn check_positive<T: Real>(field: &str, value: T) -> Result<(), ParamError> {
    let v: f64 = value.into();
    if v.is_finite() && v > 0.0 { Ok(()) } else { Err(out_of_range(field, value, "a finite number > 0")) }
}

/// Checks that an integer count is at least `min`.
pub fn check_at_least(field: &str, value: u64, min: u64) -> Result<(), ParamError> {
    if value >= min { Ok(()) } else { Err(out_of_range(field, value, &format!("at least {min}"))) }
}

/// Checks that `value` is finite and within `[lo, hi]`.
pub fn check_range<T: Real>(field: &str, value: T, lo: f64, hi: f64, expected: &str) -> Result<(), ParamError> {
    let v: f64 = value.into();
    if v.is_finite() && v >= lo && v <= hi { Ok(()) } else { Err(out_of_range(field, value, expected)) }
}

fn out_of_range(field: &str, value: impl Display, expected: &str) -> ParamError {
    ParamError { field: field.into(), value: value.to_string(), expected: expected.into() }
}

/// Why a RON file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        source: std::io::Error,
    },
    /// The text is not valid RON for the expected type (syntax, unknown field, wrong type).
    #[error("{origin}:{line}:{column}: {}{message}", field_prefix(field))]
    Parse {
        /// The file (or other origin) of the text.
        origin: String,
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// Dotted path of the field being read, when known.
        field: Option<String>,
        /// The parser's message.
        message: String,
    },
    /// The value parsed but a parameter is out of range.
    #[error("{origin}: {source}")]
    Invalid {
        /// The file (or other origin) of the text.
        origin: String,
        /// Which field, which value, what was expected.
        source: ParamError,
    },
}

fn field_prefix(field: &Option<String>) -> String {
    match field {
        Some(f) if !f.is_empty() && f != "." && f != "?" => format!("field `{f}`: "),
        _ => String::new(),
    }
}

/// Parses RON `text` into `T`, then validates it. `origin` names the text in errors.
pub fn parse_ron<T: DeserializeOwned + Validate>(text: &str, origin: &str) -> Result<T, ConfigError> {
    let value = deserialize_ron::<T>(text, origin)?;
    value.validate().map_err(|source| ConfigError::Invalid { origin: origin.into(), source })?;
    Ok(value)
}

/// Parses RON `text` into `T` without range checks.
pub fn deserialize_ron<T: DeserializeOwned>(text: &str, origin: &str) -> Result<T, ConfigError> {
    let parse_error = |e: ron::error::SpannedError, field: Option<String>| ConfigError::Parse {
        origin: origin.into(),
        line: e.span.start.line,
        column: e.span.start.col,
        field,
        message: e.code.to_string(),
    };
    let mut de = ron::Deserializer::from_str(text).map_err(|e| parse_error(e, None))?;
    let value = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => v,
        Err(e) => {
            let field = e.path().to_string();
            let spanned = de.span_error(e.into_inner());
            return Err(parse_error(spanned, Some(field)));
        }
    };
    de.end().map_err(|e| parse_error(de.span_error(e), None))?;
    Ok(value)
}

/// Reads and parses a RON file into `T`, then validates it.
pub fn load_ron<T: DeserializeOwned + Validate>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io { path: path.into(), source })?;
    parse_ron(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        probability: f32,
    }
    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        budget: f32,
        inner: Inner,
    }
    impl Validate for Outer {
        fn validate(&self) -> Result<(), ParamError> {
            check_non_negative("budget", self.budget)?;
            check_probability("probability", self.inner.probability).map_err(|e| e.within("inner"))
        }
    }

    #[test]
    fn unknown_field_names_file_line_and_field() {
        let text = "(\n  budget: 1.0,\n  inner: (probability: 0.5, probabilty: 0.1),\n)";
        let err = parse_ron::<Outer>(text, "x.ron").unwrap_err().to_string();
        assert!(err.starts_with("x.ron:3:"), "{err}");
        assert!(err.contains("probabilty"), "{err}");
        assert!(err.contains("inner"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let text = "(budget: 1.0, inner: (probability: \"high\"))";
        let err = parse_ron::<Outer>(text, "y.ron").unwrap_err().to_string();
        assert!(err.starts_with("y.ron:1:"), "{err}");
        assert!(err.contains("field `inner.probability`"), "{err}");
    }

    #[test]
    fn out_of_range_values_name_field_and_value() {
        let err = parse_ron::<Outer>("(budget: -2.0, inner: (probability: 0.5))", "z.ron").unwrap_err().to_string();
        assert_eq!(err, "z.ron: field `budget` is -2, expected a finite number >= 0");
        let err = parse_ron::<Outer>("(budget: 2.0, inner: (probability: 1.5))", "z.ron").unwrap_err().to_string();
        assert_eq!(err, "z.ron: field `inner.probability` is 1.5, expected a probability in [0, 1]");
    }

    #[test]
    fn trailing_garbage_is_an_error() {
        let err = parse_ron::<Outer>("(budget: 2.0, inner: (probability: 0.5)) extra", "t.ron").unwrap_err();
        assert!(matches!(err, ConfigError::Parse { line: 1, .. }), "{err}");
    }

    #[test]
    fn missing_file_names_the_path() {
        let err = load_ron::<Outer>(Path::new("/no/such/dir/params.ron")).unwrap_err().to_string();
        assert!(err.starts_with("/no/such/dir/params.ron: cannot read"), "{err}");
    }
}
