//! The plan: turning desired, stored and live state into a dependency-ordered change graph,
//! saving it, and rendering it for people and machines. Planning is a pure function.

mod model;
pub mod render;

pub use model::{
    Action, AttributeChange, Blocked, Change, ChangeId, DowntimeRange, Drift, Impact, Note, Operation,
    Ordering, PLAN_FORMAT_VERSION, Plan, PlanInputs, Refusal, Summary,
};
