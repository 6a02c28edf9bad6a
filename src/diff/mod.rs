//! Desired vs stored vs live: what differs on each server and how the service can change it
//! (in place, by migration, or not at all), and what changed outside pgfleet (drift).
//!
//! Pure functions of their inputs: no I/O, no clock. Every decision about a property is read
//! from [`crate::rules`]; this module only compares values and applies those rules. It does not
//! order anything: the change graph is [`crate::plan`]'s job.

mod drift;
mod server;

pub(crate) use drift::display_value;
pub use drift::{Drift, detect_drift};
pub use server::{
    AttributeChange, AttributePath, FieldRefusal, Relationship, ServerDiff, diff_server, size_of,
    spec_attributes, spec_fields,
};

#[cfg(test)]
mod tests;
