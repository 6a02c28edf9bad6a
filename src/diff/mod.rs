//! Desired vs stored vs live: field changes and drift. Pure functions of their inputs.
