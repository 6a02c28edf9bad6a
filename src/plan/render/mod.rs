//! Renderers of the plan model: human (terminal), Markdown (pull requests), JSON (machines). Pure functions.
