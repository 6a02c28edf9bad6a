//! The `local` provider: every server of the fleet is a real PostgreSQL cluster on this machine.
