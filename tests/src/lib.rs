//! keel-tests: end-to-end tests of the real server binary over real sockets, and
//! differential tests against a real redis-server. Helpers live in `tests/common`.
