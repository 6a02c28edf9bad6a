//! Secrets in memory: `Redacted<T>` prints `****` in every Debug and Display, and is never
//! serialized. Secrets never reach state, plans, logs or test snapshots.

use std::fmt;

/// A value that must never be shown. Read it with [`Redacted::expose`] at the one place that
/// sends it to the service.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Redacted<T> {
        Redacted(value)
    }

    /// The secret itself. Call it only where the value leaves for the service.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

#[cfg(test)]
mod tests {
    use super::Redacted;

    #[test]
    fn never_prints_the_value() {
        let secret = Redacted::new("hunter2-Secret".to_string());
        assert_eq!(format!("{secret}"), "****");
        assert_eq!(format!("{secret:?}"), "****");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(****)");
        assert_eq!(secret.expose(), "hunter2-Secret");
    }
}
