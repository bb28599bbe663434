//! simphone end-to-end boots: loopback mode (always) and `--iface` mode inside a network
//! namespace (root only), against the test-only mini responders in `mini`.

mod fixtures;
mod loopback;
mod mini;
mod netns;
