//! Data migration between two servers (freeze writes, dump, restore, verify), provider-agnostic: it needs two endpoints and credentials.
