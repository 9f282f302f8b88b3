// Package securitytest holds end-to-end security tests that span several
// binaries and a Redis server of their own, so they belong to no single
// package:
//
//   - secrets_test.go builds every command and runs it, with known secret
//     values, through success and failure paths, then searches everything
//     it printed or wrote for those secrets;
//   - dashboard_test.go is its dashboard part: requests through auth,
//     throttling, roles (a DASHBOARD_USERS_FILE user), CSRF and the
//     webhook, whose responses are searched too, and the /metrics scrapes
//     (worker and dashboard), also searched for the campaign's phone
//     numbers and message texts;
//   - redis_test.go starts a redis-server with requirepass (and one with
//     TLS only) and runs enqueue → worker → campaign status through it.
//
// The package has no non-test code.
package securitytest
